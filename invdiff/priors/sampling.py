"""Unconditional ancestral sampling (DDPM, Ho et al. 2020, Algorithm 2) on a (respaced) schedule.

Used for sample grids during training and for checking a prior; the inverse-problem solvers
have their own loops in :mod:`invdiff.solvers`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .schedule import NoiseSchedule

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def ddpm_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Draw ``shape`` samples in [-1, 1] with ``eps_fn(x_t, timesteps) -> ε̂``.

    Each step: x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t clipped to [-1, 1], then
    x_{t−1} ~ N(μ̃_t(x_t, x̂₀), β̃_t I) with the posterior mean and variance of DDPM eq. 7.
    """
    abar = schedule.alphas_cumprod
    abar_prev = schedule.alphas_cumprod_prev
    betas = schedule.betas
    x = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
    for i in reversed(range(len(schedule))):
        t = schedule.timesteps[i].to(device).expand(shape[0])
        eps = eps_fn(x, t).float()
        x0 = ((x - (1 - abar[i]).sqrt().item() * eps) / abar[i].sqrt().item()).clamp(-1, 1)
        coef_x0 = (abar_prev[i].sqrt() * betas[i] / (1 - abar[i])).item()
        coef_xt = ((1 - abar_prev[i]) * (1 - betas[i]).sqrt() / (1 - abar[i])).item()
        mean = coef_x0 * x0 + coef_xt * x
        if i > 0:
            var = (betas[i] * (1 - abar_prev[i]) / (1 - abar[i])).item()
            noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
            x = mean + var**0.5 * noise
        else:
            x = mean
    return x
