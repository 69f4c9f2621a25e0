"""Noise-schedule identities and respacing (against guided-diffusion's rule, written from its definition)."""

from __future__ import annotations

import pytest
import torch

from invdiff.priors import NoiseSchedule
from invdiff.priors.schedule import evenly_spaced


def space_timesteps_reference(num_timesteps: int, section_counts: list[int]) -> set[int]:
    """guided-diffusion's ``space_timesteps``: split into equal sections, take ``count`` steps from each
    with a fractional stride ``(size − 1)/(count − 1)`` accumulated from 0 and rounded."""
    size_per, extra = divmod(num_timesteps, len(section_counts))
    start, steps = 0, set()
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.add(start + round(cur))
            cur += stride
        start += size
    return steps


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alpha_bar_strictly_decreasing_in_unit_interval(kind: str) -> None:
    abar = NoiseSchedule.create(kind, 1000).alphas_cumprod
    assert abar.dtype == torch.float64
    assert bool((abar > 0).all() and (abar < 1).all())
    assert bool((abar[1:] < abar[:-1]).all())


def test_linear_schedule_endpoints() -> None:
    s = NoiseSchedule.create("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(s.sigmas, ((1 - s.alphas_cumprod) / s.alphas_cumprod).sqrt())


def test_respace_all_steps_is_identity() -> None:
    s = NoiseSchedule.create("linear", 1000)
    assert s.respace(1000) == s
    assert s.respace(999) != s


@pytest.mark.parametrize("count", [20, 100, 250])
def test_evenly_spaced_matches_guided_diffusion(count: int) -> None:
    ours = evenly_spaced(1000, count)
    assert set(ours.tolist()) == space_timesteps_reference(1000, [count])
    assert len(ours) == count and ours[0] == 0 and ours[-1] == 999


@pytest.mark.parametrize("count", [1, 20, 100, 250])
def test_respaced_alpha_bar_equals_original_at_kept_steps(count: int) -> None:
    s = NoiseSchedule.create("linear", 1000)
    r = s.respace(count)
    assert len(r) == count and r.timesteps.dtype == torch.long
    # ᾱ = ∏(1 − β′) loses ~eps/ᾱ relative precision when β′ → 1 (one step: β′ = 1 − 4e-5)
    assert torch.allclose(r.alphas_cumprod, s.alphas_cumprod[r.timesteps], rtol=1e-10, atol=0)
    assert bool(((r.betas > 0) & (r.betas < 1)).all())


def test_posterior_variances() -> None:
    s = NoiseSchedule.create("linear", 1000).respace(50)
    abar, prev = s.alphas_cumprod, s.alphas_cumprod_prev
    expected = s.betas * (1 - prev) / (1 - abar)
    assert torch.allclose(s.posterior_variance, expected)
    clipped = s.posterior_log_variance_clipped
    assert clipped[0] == clipped[1] == expected[1].log()
    assert torch.allclose(clipped[1:], expected[1:].log())
