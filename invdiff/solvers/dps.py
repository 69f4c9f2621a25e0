"""Diffusion Posterior Sampling (Chung, Kim, Mccann, Klasky & Ye, ICLR 2023), Algorithms 1 and 2.

For i = N−1 … 0 (a possibly respaced DDPM schedule):

    ŝ      = s_θ(x_i, i)                          (here through ε̂ = −√(1−ᾱ_i) ŝ)
    x̂₀     = (x_i − √(1−ᾱ_i) ε̂) / √ᾱ_i            (Tweedie)
    x'_{i−1} = ancestral DDPM step from (x_i, x̂₀) with z ~ N(0, I)
    x_{i−1}  = x'_{i−1} − ζ_i ∇_{x_i} ‖y − A(x̂₀)‖²   (Gaussian)   or  ‖y − A(x̂₀)‖²_Λ  (Poisson)

**Step convention (the released code's).** The paper writes ζ_i = ζ′ / ‖y − A(x̂₀)‖ on the gradient
of the *squared* norm; the released code (``guided_diffusion/condition_methods.py``, PosteriorSampling)
instead differentiates the norm itself, ``x ← x' − ζ ∇‖y − A(x̂₀)‖``, with ζ = 0.5 for inpainting and
0.3 for super-resolution and deblurring (its configs). Since ∇‖r‖² / ‖r‖ = 2 ∇‖r‖, the code's ζ is the
paper's 2ζ′: the paper's ζ′ = 1 is 3.3–4× the step the published numbers were made with (this module
used it until issue 14; it painted saturated colour into inpainting holes). Here: ζ ∇‖r‖ with the
per-task ζ of :data:`STEP` (the released values, re-tuned where the validation faces say so), the norm taken **per image** (the released code takes it over the
whole batch, so its step depends on the batch size). Residuals are on the [-1, 1] scale (twice the
[0, 1] residual), as in the paper and the code.

**Respaced schedules.** The guidance is a sum of ζ ∇‖r‖ over the 1000 training steps; ``steps=N``
visits only N of them, so each step applies the guidance of the original steps it spans:
ζ_i = ζ · (t_i − t_{i−1}) (t the original timesteps, t_{−1} = −1), i.e. ζ · 1000/N on an evenly
respaced schedule. Without it DPS-100 applied a tenth of DPS-1000's total guidance (and, with the
oversized step above, scored higher than DPS-1000). ``benchmarks/dps_step/`` holds the validation
sweep behind these choices.
Non-linear operators (JPEG) use their differentiable approximation for the gradient.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn
from .steps import Chain, ancestral_step, check_variance, step_variance, uses_learned

#: ζ per task (step on ∇‖y − A x̂₀‖ per original timestep). Inpainting, ×4 SR and Gaussian blur: chosen on the
#: validation faces (held-out 100–149, ζ ∈ {0.3, 0.5, 1, 2} at 100 steps, lowest mean LPIPS;
#: benchmarks/results/faces64-issue16/val16/choices.md): 0.5, 1.0, 1.0 — the released configs' 0.3 for SR and
#: deblurring was too weak at 64² (−1.6 dB on the face table's Gaussian blur). The second sweep (same images,
#: 2026-11-26): motion blur 1.0 (33.03 dB / .0126 against 30.68 / .0247 at 0.3), JPEG 0.3. Overridable per call
#: (``zeta=``).
STEP = {"inpaint": 0.5, "sr4": 1.0, "gaussian_blur": 1.0, "motion_blur": 1.0, "jpeg": 0.3}


class DPS(Solver):
    """DPS with a per-image step; ``steps`` < the prior's T uses a respaced schedule (labelled in settings)."""

    name = "dps"
    backprop = True

    def __init__(self, steps: int = 1000, zeta: float | None = None, likelihood: str = "gaussian",
                 variance: str = "auto") -> None:
        if likelihood not in ("gaussian", "poisson"):
            raise ValueError(f"likelihood must be 'gaussian' or 'poisson', got {likelihood!r}.")
        if zeta is not None and zeta < 0:
            raise ValueError(f"the step ζ must be ≥ 0, got {zeta}.")
        self.steps, self.zeta, self.likelihood = int(steps), zeta, likelihood
        self.variance = check_variance(variance)

    @classmethod
    def task_defaults(cls) -> dict[str, dict[str, float]]:
        return {"zeta": dict(STEP)}

    def supports(self, operator) -> str | None:
        if operator.differentiable:
            return None
        return "DPS needs a differentiable forward model, and this operator has none."

    def settings(self) -> dict:
        return {"steps": self.steps, "zeta": self.zeta, "likelihood": self.likelihood, "variance": self.variance,
                "step_rule": "x -= zeta * (t_i - t_{i-1}) * grad ||y - A(x0_hat)|| per image, [-1,1] scale"}

    def _residual_norm(self, y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        """Per-image ‖y − A(x̂₀)‖ (squared norm's root) on the [-1, 1] scale; Λ-weighted for Poisson."""
        r = 2.0 * (y - y_hat)
        if self.likelihood == "poisson":
            r = r / (2.0 * (2.0 * y).clamp_min(1e-2)).sqrt()  # Λ_jj = 1 / (2 y_j), y on [0, 2]
        return r.flatten(1).norm(dim=1)

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        zeta = self.zeta if self.zeta is not None else STEP.get(operator.name, 0.3)
        A = operator.apply_differentiable
        chain = Chain.of(prior, self.steps, y.device)
        sched, posterior = chain.schedule, chain.posterior()
        learned = uses_learned(self.variance, prior)
        orig = sched.timesteps.tolist()
        span = [t - (orig[i - 1] if i else -1) for i, t in enumerate(orig)]  # original steps per step
        x = randn(image_shape, generator, y.device, y.dtype)
        for i in tqdm(reversed(range(len(chain))), total=len(chain), disable=not progress, desc="dps"):
            t = chain.t(i, x.shape[0])
            with torch.enable_grad():
                x_in = x.detach().requires_grad_(True)
                if learned:
                    pred = prior.predict(x_in, t)
                    x0, var_values = pred.x0, pred.var_values.detach()
                else:
                    x0, var_values = prior.x0(x_in, t), None
                norm = self._residual_norm(y, A((x0 + 1) / 2))
                (grad,) = torch.autograd.grad(norm.sum(), x_in)  # per image: Σ_n ‖r_n‖ separates
            x0 = x0.detach().clamp(-1, 1)
            # ancestral step x'_{i-1} ~ q(x_{i-1} | x_i, x̂₀) (DDPM eq. 6-7), Σ fixed or learned
            var = step_variance(prior, sched, posterior, i, var_values)
            x_prev = ancestral_step(x0, x.detach(), i, posterior, var,
                                    randn(image_shape, generator, y.device, y.dtype) if i else None)
            x = x_prev - (zeta * span[i]) * grad
        return x.detach()
