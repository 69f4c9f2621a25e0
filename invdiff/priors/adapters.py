"""Conversions between the three ways a diffusion network states its prediction.

On the variance-preserving state ``x_t = √ᾱ x₀ + √(1 − ᾱ) ε`` a network may predict

* ε (DDPM, ADM),
* x₀ (``"x0"``; diffusers' ``prediction_type="sample"``),
* v = √ᾱ ε − √(1 − ᾱ) x₀ (Salimans & Ho 2022; diffusers' ``"v_prediction"``).

Any one of them, with ``x_t`` and ᾱ, gives the other two. ``abar`` is ᾱ as a float tensor that
broadcasts against the images (N×1×1×1) or a python float. Solvers never call these directly:
:class:`~invdiff.priors.prior.DiffusionPrior` does, so a solver sees ε̂ and x̂₀ whatever the network.
"""

from __future__ import annotations

import torch

PARAMETERIZATIONS = ("eps", "x0", "v")

Abar = torch.Tensor | float


def _sqrt(a: Abar) -> Abar:
    return a.sqrt() if isinstance(a, torch.Tensor) else a**0.5


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, abar: Abar) -> torch.Tensor:
    """x̂₀ = (x_t − √(1 − ᾱ) ε̂) / √ᾱ."""
    return (x_t - _sqrt(1 - abar) * eps) / _sqrt(abar)


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, abar: Abar) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱ x̂₀) / √(1 − ᾱ)."""
    return (x_t - _sqrt(abar) * x0) / _sqrt(1 - abar)


def v_from_eps_x0(eps: torch.Tensor, x0: torch.Tensor, abar: Abar) -> torch.Tensor:
    """v = √ᾱ ε − √(1 − ᾱ) x₀."""
    return _sqrt(abar) * eps - _sqrt(1 - abar) * x0


def eps_x0_from_v(x_t: torch.Tensor, v: torch.Tensor, abar: Abar) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε̂, x̂₀) from v̂: ε̂ = √ᾱ v̂ + √(1 − ᾱ) x_t and x̂₀ = √ᾱ x_t − √(1 − ᾱ) v̂ (a rotation, no division)."""
    a, s = _sqrt(abar), _sqrt(1 - abar)
    return a * v + s * x_t, a * x_t - s * v


def eps_and_x0(output: torch.Tensor, x_t: torch.Tensor, abar: Abar, parameterization: str
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε̂, x̂₀) from a network ``output`` in the given parameterization."""
    if parameterization == "eps":
        return output, x0_from_eps(x_t, output, abar)
    if parameterization == "x0":
        return eps_from_x0(x_t, output, abar), output
    if parameterization == "v":
        return eps_x0_from_v(x_t, output, abar)
    raise ValueError(f"unknown parameterization {parameterization!r}; choose one of {PARAMETERIZATIONS}.")


def learned_range_log_variance(var_values: torch.Tensor, log_beta: Abar, log_posterior_variance: Abar
                               ) -> torch.Tensor:
    """log Σ_θ of a learned-range model (Nichol & Dhariwal 2021, eq. 15).

    The network's extra channels ``v ∈ [-1, 1]`` interpolate between the two DDPM variances in
    log space: ``log Σ = u log β_t + (1 − u) log β̃_t`` with ``u = (v + 1)/2``; ``log_posterior_variance``
    is log β̃_t clipped at the first step (see ``NoiseSchedule.posterior_log_variance_clipped``).
    """
    u = (var_values + 1) / 2
    return u * log_beta + (1 - u) * log_posterior_variance
