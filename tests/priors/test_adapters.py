"""ε / x₀ / v conversions and the learned-range variance, in float64."""

from __future__ import annotations

import pytest
import torch

from invdiff.priors.adapters import (
    eps_and_x0,
    eps_from_x0,
    eps_x0_from_v,
    learned_range_log_variance,
    v_from_eps_x0,
    x0_from_eps,
)


def triple(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x₀, ε, ᾱ, x_t) with one ᾱ per sample spread over (0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    x0 = 2 * torch.rand(5, 3, 4, 4, generator=gen, dtype=torch.float64) - 1
    eps = torch.randn(5, 3, 4, 4, generator=gen, dtype=torch.float64)
    abar = torch.tensor([0.9999, 0.9, 0.5, 0.05, 4e-5], dtype=torch.float64)[:, None, None, None]
    return x0, eps, abar, abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def test_eps_x0_round_trip() -> None:
    x0, eps, abar, x_t = triple()
    assert torch.allclose(x0_from_eps(x_t, eps, abar), x0, atol=1e-9)
    assert torch.allclose(eps_from_x0(x_t, x0, abar), eps, atol=1e-9)
    assert torch.allclose(eps_from_x0(x_t, x0_from_eps(x_t, eps, abar), abar), eps, atol=1e-9)


def test_v_round_trip_and_definition() -> None:
    x0, eps, abar, x_t = triple(1)
    v = v_from_eps_x0(eps, x0, abar)
    assert torch.allclose(v, abar.sqrt() * eps - (1 - abar).sqrt() * x0)
    eps_back, x0_back = eps_x0_from_v(x_t, v, abar)
    assert torch.allclose(eps_back, eps, atol=1e-12) and torch.allclose(x0_back, x0, atol=1e-12)


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_every_parameterization_gives_both(parameterization: str) -> None:
    x0, eps, abar, x_t = triple(2)
    output = {"eps": eps, "x0": x0, "v": v_from_eps_x0(eps, x0, abar)}[parameterization]
    eps_hat, x0_hat = eps_and_x0(output, x_t, abar, parameterization)
    assert torch.allclose(eps_hat, eps, atol=1e-9) and torch.allclose(x0_hat, x0, atol=1e-9)


def test_python_float_abar_and_unknown_parameterization() -> None:
    x0, eps, _, _ = triple(3)
    x_t = 0.6**0.5 * x0 + 0.4**0.5 * eps
    assert torch.allclose(x0_from_eps(x_t, eps, 0.6), x0)
    with pytest.raises(ValueError, match="parameterization"):
        eps_and_x0(eps, x_t, 0.6, "score")


def test_learned_range_interpolates_in_log_space() -> None:
    log_beta, log_post = torch.tensor(-4.0), torch.tensor(-6.0)
    v = torch.tensor([-1.0, 0.0, 1.0])
    assert learned_range_log_variance(v, log_beta, log_post).tolist() == [-6.0, -5.0, -4.0]
