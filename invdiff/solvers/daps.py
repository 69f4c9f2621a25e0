"""DAPS — decoupled annealing posterior sampling (Zhang, Chu, Berner, Meng, Anandkumar & Song, CVPR 2025), Algorithm 1.

DAPS decouples consecutive noise levels: at each level σ_k of an annealing schedule it (1) solves the
probability-flow ODE from x_k down to an estimate x̂₀(x_k), (2) runs Langevin dynamics on x₀ under
the measurement and a Gaussian tie to that estimate, and (3) re-noises the result to the next level:

    x̂₀ = ODE(x_k, σ_k → 0)                                                (``ode_steps`` Euler steps)
    x₀ ← x₀ − η_k ∇[ ‖y′ − A x₀‖² / (2σ_y²) + ‖x₀ − x̂₀‖² / (2 r_k²) ] + √(2η_k) z   (``langevin_steps`` times)
    x_{k+1} = x₀ + σ_{k+1} z

on the variance-exploding scale x = x₀ + σ ε, with the prior's denoiser D(x, σ)
(:meth:`~invdiff.priors.prior.DiffusionPrior.denoise`), r_k = σ_k (the paper's choice), and the
annealing levels EDM's polynomial schedule (ρ = 7) from the prior's σ_max to σ_min. The ODE
from σ_k uses the same schedule shape down to σ_min, then one last step to 0 (x̂₀ = D at σ_min).
NFE = steps × ode_steps; gradients go through the operator only, never the network.

**Step size.** η_k anneals linearly from ``lr`` to ``lr · lr_min_ratio`` over the levels (the
reference code's decay). Langevin with a step above 1/L (L = ‖A‖²/σ_y² + 1/r_k², ‖A‖ ≤ 1 for every
operator here) diverges, so the step taken is min(η_k, 1/L) — stated, not silent: it is recorded
in the settings. y′ and σ_y are on the [-1, 1] scale; the residual 2(y − A((x₀ + 1)/2)) is y′ − A x₀
for a linear A and also serves JPEG through its differentiable codec. DAPS needs σ_y > 0 in its
likelihood; for a noiseless y (JPEG files) it uses ``sigma_floor`` (0.01) instead.
"""

from __future__ import annotations

import itertools

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn

RHO = 7.0  # EDM's schedule exponent (Karras et al. 2022, eq. 5)


def edm_sigmas(sigma_max: float, sigma_min: float, n: int) -> list[float]:
    """``n`` levels from σ_max down to σ_min, evenly spaced in σ^{1/ρ} (EDM eq. 5); n = 1 gives [σ_max]."""
    if n == 1:
        return [sigma_max]
    a, b = sigma_max ** (1 / RHO), sigma_min ** (1 / RHO)
    return [(a + k / (n - 1) * (b - a)) ** RHO for k in range(n)]


class DAPS(Solver):
    """DAPS with an Euler probability-flow ODE and Langevin x₀-updates (module docstring)."""

    name = "daps"

    def __init__(self, steps: int = 20, ode_steps: int = 5, langevin_steps: int = 50, lr: float = 1e-4,
                 lr_min_ratio: float = 0.01, sigma_floor: float = 0.01) -> None:
        if steps < 1 or ode_steps < 1 or langevin_steps < 0:
            raise ValueError("DAPS needs steps ≥ 1, ode_steps ≥ 1 and langevin_steps ≥ 0.")
        if lr <= 0 or not 0 < lr_min_ratio <= 1 or sigma_floor <= 0:
            raise ValueError("DAPS needs lr > 0, 0 < lr_min_ratio ≤ 1 and sigma_floor > 0.")
        self.steps, self.ode_steps, self.langevin_steps = int(steps), int(ode_steps), int(langevin_steps)
        self.lr, self.lr_min_ratio, self.sigma_floor = float(lr), float(lr_min_ratio), float(sigma_floor)

    def supports(self, operator) -> str | None:
        if not operator.differentiable:
            return "the Langevin steps differentiate the forward model, and this operator has no differentiable one."
        return None

    def nfe(self) -> int:
        """``ode_steps`` calls per annealing level, one at the last (σ_min: x̂₀ = D directly)."""
        return (self.steps - 1) * self.ode_steps + 1

    def settings(self) -> dict:
        return {**super().settings(), "step_rule": "eta_k = min(lr_k, 1/L), L = 1/sigma_y^2 + 1/r_k^2"}

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        sigma_y = max(float(getattr(operator.noise, "sigma_y", 0.0)), self.sigma_floor)
        levels = edm_sigmas(prior.sigma_max, prior.sigma_min, self.steps)
        x = levels[0] * randn(image_shape, generator, y.device, y.dtype)
        x0 = x
        for k in tqdm(range(len(levels)), disable=not progress, desc="daps"):
            with torch.no_grad():
                x0_hat = self._ode(prior, x, levels[k], prior.sigma_min)
            decay = 1 - k / max(len(levels) - 1, 1)
            lr = self.lr * (self.lr_min_ratio + (1 - self.lr_min_ratio) * decay)
            x0 = self._langevin(operator, y, x0_hat, levels[k], sigma_y, lr, generator)
            if k + 1 < len(levels):
                x = x0 + levels[k + 1] * randn(image_shape, generator, y.device, y.dtype)
        return x0

    def _ode(self, prior, x: torch.Tensor, sigma: float, sigma_min: float) -> torch.Tensor:
        """Euler steps of dx/dσ = (x − D(x, σ))/σ from σ to σ_min (EDM's schedule), then x̂₀ = D(x, σ_min)."""
        grid = edm_sigmas(sigma, sigma_min, self.ode_steps) if sigma > sigma_min else [sigma]
        for s, s_next in itertools.pairwise(grid):
            x = x + (s_next - s) * (x - prior.denoise(x, s)) / s
        return prior.denoise(x, grid[-1])

    def _langevin(self, operator, y, x0_hat: torch.Tensor, r: float, sigma_y: float, lr: float,
                  generator: Generators) -> torch.Tensor:
        """Unadjusted Langevin on x₀ under N(y′; A x₀, σ_y²) × N(x₀; x̂₀, r²) ), step min(lr, 1/L)."""
        step = min(lr, 1 / (1 / sigma_y**2 + 1 / r**2))
        x0 = x0_hat.clone()
        for _ in range(self.langevin_steps):
            with torch.enable_grad():
                x_in = x0.detach().requires_grad_(True)
                residual = 2 * (y - operator.apply_differentiable((x_in + 1) / 2))
                energy = residual.square().sum() / (2 * sigma_y**2) + (x_in - x0_hat).square().sum() / (2 * r**2)
                (grad,) = torch.autograd.grad(energy, x_in)
            x0 = x0 - step * grad + (2 * step) ** 0.5 * randn(x0.shape, generator, x0.device, x0.dtype)
        return x0.detach()
