"""Denoising Diffusion Restoration Models (Kawar, Elad, Ermon & Song, NeurIPS 2022), eqs. 7–8.

Everything happens in the spectral space of ``A = U Σ Vᵀ`` on the variance-exploding scale
``x̄_t = Vᵀ x_t / √ᾱ_t`` (noise level σ_t = √((1−ᾱ_t)/ᾱ_t)), with ``ȳ = Σ⁻¹ Uᵀ y'`` where
``y' = 2y − A𝟙`` is the measurement of the [-1, 1] image (noise σ_y). Per coordinate ``i`` with
singular value ``s_i``, from step t to the next (less noisy) level σ' = σ_{t−1}:

* ``s_i = 0`` (nothing measured):    x̄' = x̂₀ + √(1−η²) σ' ε̂ᵢ + η σ' z
* ``σ' < σ_y / s_i`` (y is noisier):  x̄' = x̂₀ + √(1−η²) σ' (ȳ − x̂₀) / (σ_y/s_i) + η σ' z
* ``σ' ≥ σ_y / s_i`` (y is cleaner):  x̄' = (1−η_b) x̂₀ + η_b ȳ + √(σ'² − σ_y² η_b² / s_i²) z

(x̂₀ and ε̂ in spectral coordinates). At σ_y = 0 every measured coordinate is in the third case,
so with η_b = 1 the last step returns y exactly on what was measured. Which singular values count
as measured, and how ȳ is formed, is :func:`~invdiff.solvers.base.spectral_measurement`'s rule
(tiny s_i are unmeasured). Defaults: η = 0.85, η_b = 1, 20 steps (the paper's).

Two choices that differ from the reference code (``bahjat-kawar/ddrm``), both stated here:

* **x̂₀ is clipped to [-1, 1] and ε̂ recomputed from it**, ε̂ = (x_t − √ᾱ x̂₀)/√(1−ᾱ), as guided-diffusion's
  DDIM does, so that x̄ − x̂₀ = σ ε̂ holds in every formula above. The reference clips nothing; clipping
  x̂₀ but keeping the network's ε̂ (this module before issue 14) mixed two different estimates.
* **Timesteps**: 20 steps are guided-diffusion's evenly spaced respacing of the 1000 training steps,
  0 … 999 with the last one included (every solver here uses the same respacing); the reference
  strides ``range(0, 1000, 50)`` = 0 … 950, starting at σ_950 instead of σ_999. Starting at the top of
  the schedule makes x_T the pure-noise state the network was trained on; the difference is one less
  noisy level at the start, not a change of the algorithm.
"""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn, spectral_measurement
from .steps import Chain, denoise


class DDRM(Solver):
    """DDRM for any operator with an SVD view (``operator.has_svd``)."""

    name = "ddrm"

    def __init__(self, steps: int = 20, eta: float = 0.85, eta_b: float = 1.0) -> None:
        if not (0 <= eta <= 1 and 0 <= eta_b <= 1):
            raise ValueError(f"DDRM needs 0 ≤ η ≤ 1 and 0 ≤ η_b ≤ 1, got η={eta}, η_b={eta_b}.")
        self.steps, self.eta, self.eta_b = int(steps), float(eta), float(eta_b)

    def supports(self, operator) -> str | None:
        if not operator.linear:
            return "DDRM works in the SVD of a linear operator; JPEG (DDRM-JPEG's DCT view) is not implemented yet."
        if not operator.has_svd:
            return "the operator exposes no SVD view."
        return None

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        chain = Chain.of(prior, self.steps, y.device)
        n, dim = image_shape[0], math.prod(image_shape[1:])
        y_bar_d, y_std_d, measured_d = spectral_measurement(y, operator, image_shape)

        # x_T: ȳ plus the noise that tops it up to σ_T where y is measured, pure noise elsewhere (DDRM §4.2)
        sigma_T = chain.sigma(len(chain) - 1)
        z = randn((n, dim), generator, y.device, y.dtype)
        usable = measured_d & (y_std_d <= sigma_T)
        top = torch.where(usable, y_bar_d, torch.zeros_like(y_bar_d))
        extra = sigma_T**2 - torch.where(usable, y_std_d, torch.zeros_like(y_std_d)) ** 2
        x_bar = top + extra.clamp_min(0).sqrt() * z

        for i in tqdm(reversed(range(len(chain))), total=len(chain), disable=not progress, desc="ddrm"):
            x_t = operator.V(x_bar, image_shape) * chain.abar(i) ** 0.5
            x0, eps = denoise(prior, x_t, chain, i)  # x̂₀ clipped, ε̂ of the clipped x̂₀
            x0_bar, eps_bar = operator.V_t(x0), operator.V_t(eps)
            sigma_next = chain.sigma(i - 1)  # 0 at the last step (i − 1 = −1: the clean image)
            x_bar = self._step(x0_bar, eps_bar, y_bar_d, y_std_d, measured_d, sigma_next,
                               randn((n, dim), generator, y.device, y.dtype))
        return operator.V(x_bar, image_shape)

    def _step(self, x0, eps, y_bar, y_std, measured, sigma_next: float, z: torch.Tensor):
        """One DDRM transition (eq. 8) in spectral coordinates to noise level ``sigma_next``."""
        eta, eta_b = self.eta, self.eta_b
        unmeasured = x0 + (1 - eta**2) ** 0.5 * sigma_next * eps + eta * sigma_next * z
        cleaner = measured & (sigma_next >= y_std)  # σ_y = 0: y_std = 0, always cleaner
        noisier = measured & ~cleaner
        safe_std = torch.where(noisier, y_std, torch.ones_like(y_std))
        towards_y = x0 + (1 - eta**2) ** 0.5 * sigma_next * (y_bar - x0) / safe_std + eta * sigma_next * z
        left = (sigma_next**2 - (eta_b * torch.where(cleaner, y_std, torch.zeros_like(y_std))) ** 2).clamp_min(0)
        from_y = (1 - eta_b) * x0 + eta_b * y_bar + left.sqrt() * z
        return torch.where(cleaner, from_y, torch.where(noisier, towards_y, unmeasured))
