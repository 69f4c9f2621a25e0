"""DDPM's ancestral step, shared by DPS and RePaint: x_{i−1} ~ N(μ̃_i(x_i, x̂₀), Σ_i).

``μ̃_i = c₀ x̂₀ + c_t x_i`` is the mean of q(x_{i−1} | x_i, x̂₀) (Ho et al. 2020, eq. 7) on the
(possibly respaced) schedule the solver steps on. ``Σ_i`` is either the fixed β̃_i of that schedule
(``variance="fixed"``) or, for a prior trained with learned variance (``learn_sigma``, e.g. the
DPS/RePaint ``ffhq_10m.pt``/``celeba256`` checkpoints), the network's Σ_θ(x_i, i) = exp(v log β_i +
(1 − v) log β̃_i) of Nichol & Dhariwal (2021, eq. 15) — what guided-diffusion's ``p_sample`` uses and
therefore what the released DPS and RePaint code sample with. ``"auto"`` picks the learned one when
the prior has it. At i = 0 no noise is added (the sample is the mean), as in guided-diffusion.
"""

from __future__ import annotations

import torch

VARIANCES = ("auto", "fixed", "learned")


def check_variance(variance: str) -> str:
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, not {variance!r}.")
    return variance


def uses_learned(variance: str, prior) -> bool:
    """Whether Σ_θ is used: ``learned`` (the prior must have it) or ``auto`` with a learned-σ prior."""
    has = bool(getattr(prior, "learn_sigma", False))
    if variance == "learned" and not has:
        raise ValueError(f"variance='learned' needs a prior trained with learned variance; "
                         f"{getattr(prior, 'name', 'this prior')!r} has a fixed one (use 'fixed' or 'auto').")
    return variance == "learned" or (variance == "auto" and has)


def step_variance(prior, schedule, posterior: list[tuple[float, float, float]], i: int,
                  var_values: torch.Tensor | None) -> float | torch.Tensor:
    """Σ_i of the step from index ``i``: β̃_i (a float) without ``var_values``, else Σ_θ (a tensor)."""
    if i == 0:
        return 0.0
    if var_values is None:
        return posterior[i][2]
    return prior.log_variance(var_values, i, schedule).exp()


def ancestral_step(x0: torch.Tensor, x: torch.Tensor, i: int, posterior: list[tuple[float, float, float]],
                   var: float | torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """``c₀ x̂₀ + c_t x_i + √Σ_i z`` (``noise`` = z, unused at i = 0)."""
    c0, ct, _ = posterior[i]
    mean = c0 * x0 + ct * x
    if i == 0 or noise is None:
        return mean
    return mean + (var**0.5 if isinstance(var, float) else var.sqrt()) * noise
