"""The shared step core: what a sampler needs from a (respaced) schedule and the prior, and DDIM's step.

Every solver here walks a respaced VP chain ``x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`` from the top of the
schedule to the clean image. The pieces they share live here, written once:

* :class:`Chain` — the respaced schedule a solver steps on: ᾱ per step (ᾱ_{−1} = 1 for the clean
  image), the VE noise levels σ = √((1−ᾱ)/ᾱ), the DDPM posterior table and the original timesteps
  the network must be fed.
* :func:`denoise` — ONE network call through the prior's own prediction (``prior.x0``), x̂₀ clipped to
  [-1, 1] and ε̂ recomputed from the clipped x̂₀, so that ``x_t = √ᾱ x̂₀ + √(1−ᾱ) ε̂`` holds exactly
  (guided-diffusion's DDIM convention; DDRM's docstring says why it matters).
* :func:`ddim_step` — DDIM's update (Song, Meng & Ermon 2021, eq. 12) with stochasticity η:
  η = 0 deterministic DDIM, η = 1 the DDPM ancestral step's variance.
* :func:`ancestral_step` (re-exported from :mod:`.ancestral`) — DDPM's ancestral step (Ho et al. 2020,
  eq. 7), with the fixed or learned variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .ancestral import ancestral_step, check_variance, step_variance, uses_learned
from .base import timesteps_on

__all__ = ["Chain", "ancestral_step", "check_variance", "ddim_sigma", "ddim_step", "denoise", "step_variance",
           "svd_or_projection", "uses_learned"]


def svd_or_projection(operator, step: str) -> str | None:
    """Why a solver whose data ``step`` uses the SVD (linear) or the consistency projection cannot take ``operator``.

    ``None`` when it can: a linear operator with an SVD view, or a projectable one (JPEG) with a
    noiseless measurement — the projection treats the decoded file as exact (RePaint, DDNM, DiffPIR).
    """
    if operator.linear:
        return None if operator.has_svd else f"{step} needs the operator's SVD view, and it exposes none."
    if not operator.projectable:
        return f"{step} needs an SVD or a consistency projection, and this operator has neither."
    if float(getattr(operator.noise, "sigma_y", 0.0)) > 0:
        return "the JPEG projection treats the decoded file as exact, so it needs σ_y = 0."
    return None


@dataclass(frozen=True)
class Chain:
    """A prior's schedule respaced to ``steps`` steps, as plain floats for the sampling loops.

    Index ``i`` runs over the kept steps (``i = len − 1`` is the noisiest); ``abar(−1) = 1`` is the
    clean image, so ``abar(i − 1)`` is always the level a step from ``i`` lands on.
    """

    schedule: object
    abars: tuple[float, ...]
    timesteps: torch.Tensor  # original training timesteps, on the solver's device

    @classmethod
    def of(cls, prior, steps: int, device: torch.device) -> Chain:
        sched = prior.schedule.respace(int(steps))  # all steps: the training schedule itself
        return cls(sched, tuple(sched.alphas_cumprod.tolist()), timesteps_on(sched, device))

    def __len__(self) -> int:
        return len(self.abars)

    def abar(self, i: int) -> float:
        """ᾱ of step ``i``; 1 for ``i = −1`` (the clean image)."""
        return self.abars[i] if i >= 0 else 1.0

    def sigma(self, i: int) -> float:
        """VE noise level σ_i = √((1 − ᾱ_i)/ᾱ_i); 0 for ``i = −1``."""
        a = self.abar(i)
        return ((1 - a) / a) ** 0.5

    def t(self, i: int, n: int) -> torch.Tensor:
        """The network's timestep for step ``i``, for a batch of ``n``."""
        return self.timesteps[i].expand(n)

    def posterior(self) -> list[tuple[float, float, float]]:
        """DDPM's (c₀, c_t, β̃) per step (:meth:`~invdiff.priors.schedule.NoiseSchedule.posterior_table`)."""
        return self.schedule.posterior_table()


def denoise(prior, x: torch.Tensor, chain: Chain, i: int, cond: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂₀, ε̂) at step ``i`` from one network call: x̂₀ clipped to [-1, 1], ε̂ = (x_t − √ᾱ x̂₀)/√(1−ᾱ).

    ``cond``: the condition of a conditional prior (SR3's upsampled measurement), else None.
    """
    a = chain.abar(i)
    t = chain.t(i, x.shape[0])
    with torch.no_grad():
        x0 = (prior.x0(x, t) if cond is None else prior.x0(x, t, cond)).clamp(-1, 1)
    return x0, eps_of(x, x0, a)


def eps_of(x: torch.Tensor, x0: torch.Tensor, abar: float) -> torch.Tensor:
    """The ε that puts ``x0`` at ``x`` on level ᾱ: (x − √ᾱ x₀)/√(1 − ᾱ)."""
    return (x - abar**0.5 * x0) / (1 - abar) ** 0.5


def ddim_sigma(abar_t: float, abar_prev: float, eta: float) -> float:
    """DDIM's σ_t(η) = η √((1 − ᾱ_{t−1})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t−1}) (Song et al. 2021, eq. 16)."""
    return eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)) ** 0.5


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, abar_t: float, abar_prev: float, eta: float,
              noise: torch.Tensor | None) -> torch.Tensor:
    """x_{t−1} = √ᾱ_{t−1} x̂₀ + √(1 − ᾱ_{t−1} − σ²) ε̂ + σ z, σ = :func:`ddim_sigma` (eq. 12).

    ``noise`` (z) may be None when σ = 0 (η = 0, or the last step onto the clean image).
    """
    sigma = ddim_sigma(abar_t, abar_prev, eta)
    out = abar_prev**0.5 * x0 + max(1 - abar_prev - sigma**2, 0.0) ** 0.5 * eps
    if sigma > 0:
        if noise is None:
            raise ValueError("a stochastic DDIM step (σ > 0) needs its noise z.")
        out = out + sigma * noise
    return out
