"""DiffPIR — denoising diffusion models for plug-and-play image restoration (Zhu et al., CVPRW 2023), Algorithm 1.

Half-quadratic splitting of the posterior into a prior step (the diffusion denoiser) and a data step,
one pair per diffusion step, then a DDIM-like jump with a fresh-noise share ζ:

    x₀⁽ᵗ⁾ = D(x_t)                                                   (prior step: one network call)
    x̂₀⁽ᵗ⁾ = argmin_x ‖y − A x‖² + ρ_t ‖x − x₀⁽ᵗ⁾‖²,  ρ_t = λ σ_y² / σ̄_t²   (data step; σ̄_t = √((1−ᾱ_t)/ᾱ_t))
    ε̂ = (x_t − √ᾱ_t x̂₀⁽ᵗ⁾) / √(1 − ᾱ_t) 
    x_{t−1} = √ᾱ_{t−1} x̂₀⁽ᵗ⁾ + √(1 − ᾱ_{t−1}) (√(1 − ζ) ε̂ + √ζ ε_t)       (ζ: share of fresh noise)

The data step has a closed form in the operator's SVD: per spectral coordinate ``j`` with
ȳ_j and its noise σ_y/s_j (:func:`~invdiff.solvers.base.spectral_measurement`),

    x̄_j = x̄₀_j + k_j (ȳ_j − x̄₀_j),   k_j = s_j² / (s_j² + ρ_t) = 1 / (1 + λ (σ_y/s_j)² / σ̄_t²),

k = 0 where nothing is measured and k = 1 where σ_y = 0 (hard data consistency). That is the same
solution the paper gets with its FFT (deblurring, SR) and mask (inpainting) formulas, in one rule.
x₀⁽ᵗ⁾ is clipped to [-1, 1] (:func:`~invdiff.solvers.steps.denoise`). y and σ_y are on the [-1, 1]
scale (y′ = 2y − A𝟙).

**JPEG.** No closed form; with σ_y = 0 (a real JPEG file) ρ_t = 0 and the data step is the
projection onto the images consistent with y (:meth:`operators.JPEG.project`, with the [0, 1] box).

Defaults: 100 steps; λ and ζ per task (:data:`DEFAULTS`, chosen on the validation faces —
``benchmarks/tuning/``), overridable per call.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn, spectral_measurement
from .repaint import consistent
from .steps import Chain, denoise, eps_of, svd_or_projection

#: (λ, ζ) per task when not given; tasks not listed take ``"default"``. Chosen on the validation faces (held-out
#: 100–149, λ ∈ {1, 7, 20} × ζ ∈ {0.3, 1} at 100 steps, lowest mean LPIPS; benchmarks/results/faces64-issue16/
#: val16/choices.md): λ = 1 everywhere, ζ = 1 for inpainting and motion blur, 0.3 for ×4 SR and Gaussian blur.
#: JPEG had no validation rows: the default (λ plays no part at σ_y = 0; ζ = 0.3 as before tuning).
DEFAULTS: dict[str, tuple[float, float]] = {"inpaint": (1.0, 1.0), "motion_blur": (1.0, 1.0), "default": (1.0, 0.3)}


class DiffPIR(Solver):
    """DiffPIR with the SVD closed-form data step (JPEG: the consistency projection)."""

    name = "diffpir"

    def __init__(self, steps: int = 100, lam: float | None = None, zeta: float | None = None) -> None:
        if steps < 1:
            raise ValueError(f"DiffPIR needs steps ≥ 1, got {steps}.")
        if lam is not None and lam < 0:
            raise ValueError(f"DiffPIR needs λ ≥ 0, got {lam}.")
        if zeta is not None and not 0 <= zeta <= 1:
            raise ValueError(f"DiffPIR needs 0 ≤ ζ ≤ 1, got {zeta}.")
        self.steps, self.lam, self.zeta = int(steps), lam, zeta

    @classmethod
    def task_defaults(cls) -> dict[str, dict[str, float]]:
        return {"lam": {t: v[0] for t, v in DEFAULTS.items()}, "zeta": {t: v[1] for t, v in DEFAULTS.items()}}

    def supports(self, operator) -> str | None:
        return svd_or_projection(operator, "the data step")

    def hyper(self, operator) -> tuple[float, float]:
        """(λ, ζ) for this operator: the given ones, else the task's defaults."""
        lam, zeta = DEFAULTS.get(operator.name, DEFAULTS["default"])
        return (lam if self.lam is None else self.lam), (zeta if self.zeta is None else self.zeta)

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        lam, zeta = self.hyper(operator)
        chain = Chain.of(prior, self.steps, y.device)
        spectral = spectral_measurement(y, operator, image_shape) if operator.linear else None
        x = randn(image_shape, generator, y.device, y.dtype)
        for i in tqdm(reversed(range(len(chain))), total=len(chain), disable=not progress, desc="diffpir"):
            x0, _ = denoise(prior, x, chain, i)
            if spectral is None:
                x0 = 2 * consistent(operator, (x0 + 1) / 2, y, 20 if i == 0 else 1) - 1
            else:
                x0 = self._data_step(operator, x0, spectral, lam, chain.sigma(i), image_shape)
            eps = eps_of(x, x0, chain.abar(i))
            a_prev = chain.abar(i - 1)
            if i == 0:  # ᾱ_{−1} = 1: the clean image, no noise to draw
                return x0
            z = randn(image_shape, generator, y.device, y.dtype)
            x = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * ((1 - zeta) ** 0.5 * eps + zeta**0.5 * z)
        return x

    @staticmethod
    def _data_step(operator, x0, spectral, lam: float, sigma_t: float, image_shape):
        """argmin ‖y′ − A x‖² + ρ_t ‖x − x₀‖² in spectral coordinates: x̄ = x̄₀ + k (ȳ − x̄₀) (module docstring)."""
        y_bar, y_std, measured = spectral
        finite = torch.where(measured, y_std, torch.zeros_like(y_std))
        k = torch.where(measured, 1 / (1 + lam * finite**2 / sigma_t**2), torch.zeros_like(y_std))
        x0_bar = operator.V_t(x0)
        return operator.V(x0_bar + k * (y_bar - x0_bar), image_shape)
