"""DDNM and DDNM⁺ — range–null-space decomposition (Wang, Yu & Zhang, ICLR 2023), Algorithms 1 and 2.

Each step denoises, then keeps the null-space part of x̂₀ and takes the range-space part from y
(DDNM):  x̂₀,t = x̂₀ − A†(A x̂₀ − y) = A†y + (I − A†A) x̂₀, and steps to t−1 from x̂₀,t.

With noisy y (DDNM⁺), replacing the range part would also copy y's noise. DDNM⁺ scales the
correction and the step's fresh noise so that the noise y brings plus the noise added make up
exactly the level of t−1:  x̂₀,t = x̂₀ − Σ_t A†(A x̂₀ − y),  x_{t−1} ~ N(μ(x_t, x̂₀,t), Φ_t), with
λ_t = 1 where the target noise is larger than y's, else the ratio of the two, and Φ_t the
noise left over. In the operator's SVD (A = U Σ Vᵀ) this is one rule per spectral coordinate ``j``
with y's noise there ``σ_y/s_j`` (``y_std``, :func:`~invdiff.solvers.base.spectral_measurement`) and
the VE level of t−1, ``σ' = √((1 − ᾱ')/ᾱ')``:

    λ_j = 1 if σ_y/s_j ≤ σ' else σ' s_j/σ_y          (0 where nothing is measured)
    x̄₀,t = x̄₀ + λ_j (ȳ_j − x̄₀)                       (the scaled correction in spectral coordinates: A†y ↦ ȳ)
    γ_j = (1 − ᾱ') − ᾱ' (λ_j σ_y/s_j)²                 (VP variance left for fresh noise)
    x̄_{t−1} = √ᾱ' x̄₀,t + √γ_j (η z + √(1 − η²) ε̂)     (the reference code's DDIM form)

At σ_y = 0 every measured coordinate takes ȳ (λ = 1, γ = 1 − ᾱ'), which is DDNM itself, and the
last step returns y exactly on what was measured. The DDIM form — fresh noise η z and the model's
ε̂ mixed at the level of t−1 — is what the authors' code (``svd_based_ddnm_plus``) samples with;
the paper writes the DDPM posterior instead. DDNM⁺'s "time-travel" (repeating steps, as RePaint's resampling) is not implemented.

**JPEG.** JPEG has no SVD; its measurement says every DCT coefficient lies in a known bin. x̂₀,t is
then the projection of x̂₀ onto the images consistent with y (:meth:`operators.JPEG.project`, with
the [0, 1] box, as RePaint's JPEG merge) — DDNM's range–null split for a consistency set. It needs
σ_y = 0 (a real JPEG file).
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn, spectral_measurement
from .repaint import consistent
from .steps import Chain, denoise, svd_or_projection

#: η per task when not given; tasks not listed take ``"default"`` (the reference code's 0.85). Chosen on the
#: validation faces (held-out 100–149, η ∈ {0.5, 0.85, 1} at 100 steps, lowest mean LPIPS; benchmarks/results/
#: faces64-issue16/val16/choices.md): 0.5 for ×4 SR, 1.0 for Gaussian blur, 0.85 for inpainting; the second
#: sweep (same images, 2026-11-26, motion blur and JPEG): 1.0 for motion blur, 0.5 for JPEG.
ETA: dict[str, float] = {"sr4": 0.5, "gaussian_blur": 1.0, "motion_blur": 1.0, "jpeg": 0.5, "default": 0.85}


class DDNM(Solver):
    """DDNM⁺ on any operator with an SVD view (DDNM when σ_y = 0), and JPEG through its projection."""

    name = "ddnm"

    def __init__(self, steps: int = 100, eta: float | None = None) -> None:
        if steps < 1:
            raise ValueError(f"DDNM needs steps ≥ 1, got {steps}.")
        if eta is not None and not 0 <= eta <= 1:
            raise ValueError(f"DDNM needs 0 ≤ η ≤ 1, got {eta}.")
        self.steps, self.eta = int(steps), (None if eta is None else float(eta))

    @classmethod
    def task_defaults(cls) -> dict[str, dict[str, float]]:
        return {"eta": dict(ETA)}

    def supports(self, operator) -> str | None:
        return svd_or_projection(operator, "the range–null split")

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        eta = ETA.get(operator.name, ETA["default"]) if self.eta is None else self.eta
        chain = Chain.of(prior, self.steps, y.device)
        spectral = spectral_measurement(y, operator, image_shape) if operator.linear else None
        x = randn(image_shape, generator, y.device, y.dtype)
        for i in tqdm(reversed(range(len(chain))), total=len(chain), disable=not progress, desc="ddnm"):
            x0, eps = denoise(prior, x, chain, i)
            if spectral is None:  # JPEG: x̂₀,t = the closest image consistent with y
                x0 = 2 * consistent(operator, (x0 + 1) / 2, y, 20 if i == 0 else 1) - 1
                a_prev = chain.abar(i - 1)
                x = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * self._mix(eps, randn(image_shape, generator, y.device, y.dtype), eta)
            else:
                x = self._svd_step(operator, x0, eps, spectral, chain, i, generator, image_shape, eta)
        return x

    def _svd_step(self, operator, x0, eps, spectral, chain: Chain, i: int, generator: Generators, image_shape,
                  eta: float):
        """DDNM⁺'s scaled correction and noise per spectral coordinate (module docstring), then back to pixels."""
        y_bar, y_std, measured = spectral
        a_prev, sigma_prev = chain.abar(i - 1), chain.sigma(i - 1)
        x0_bar, eps_bar = operator.V_t(x0), operator.V_t(eps)
        finite = torch.where(measured, y_std, torch.zeros_like(y_std))
        lam = torch.where(finite <= sigma_prev, torch.ones_like(y_std), sigma_prev / finite.clamp_min(1e-30))
        lam = torch.where(measured, lam, torch.zeros_like(lam))
        x0_bar = x0_bar + lam * (y_bar - x0_bar)
        gamma = ((1 - a_prev) - a_prev * (lam * finite) ** 2).clamp_min(0)
        z = randn(x0_bar.shape, generator, x0_bar.device, x0_bar.dtype)
        x_bar = a_prev**0.5 * x0_bar + gamma.sqrt() * self._mix(eps_bar, z, eta)
        return operator.V(x_bar, image_shape)

    @staticmethod
    def _mix(eps: torch.Tensor, z: torch.Tensor, eta: float) -> torch.Tensor:
        """η z + √(1 − η²) ε̂: unit-variance noise, part fresh and part the model's (the reference code's DDIM)."""
        return eta * z + (1 - eta**2) ** 0.5 * eps
