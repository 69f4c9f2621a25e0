"""ΠGDM — pseudoinverse-guided diffusion models (Song, Vahdat, Mardani & Kautz, ICLR 2023), Algorithm 1.

p(x₀ | x_t) is approximated by N(x̂₀, r_t² I) with r_t² = 1 − ᾱ_t (σ_t²/(1 + σ_t²) on the VE scale, for data of
unit variance), which makes p(y | x_t) Gaussian and its score a vector–Jacobian product through the
denoiser:

    g_t = ( (y − A x̂₀)ᵀ (r_t² A Aᵀ + σ_y² I)⁻¹ A ∂x̂₀/∂x_t )ᵀ

In the operator's SVD the middle factor is diagonal: Aᵀ(r_t² AAᵀ + σ_y²)⁻¹(y′ − A x̂₀) = V[(ȳ − x̄₀)_j
/ (r_t² + (σ_y/s_j)²)] (0 where nothing is measured). For JPEG, whose pseudo-inverse is decoding
(y is already decoded), the paper's non-linear form is the same with A x̂₀ = the differentiable
codec's decode(encode(x̂₀)) and the middle factor 1/(r_t² + σ_y²).

**How g enters the step.** g_t is added to the prior's score, as classifier guidance is added to a
DDIM sampler (Dhariwal & Nichol 2021, §4.2): ε̂ ← ε̂ − w √(1 − ᾱ_t) g_t, i.e. x̂₀ ← x̂₀ + w (1 − ᾱ_t)/√ᾱ_t
g_t (Tweedie), and then DDIM's step with η (eq. 12 of DDIM; the paper's Algorithm 1 is a DDIM
sampler; η = 1 by default here). x̂₀ is clipped to [-1, 1] after the guidance and ε̂ recomputed from it. The
weight w (default 1, the paper's Algorithm) is tuned per task like the other methods.
One network call with its backward pass per step (``backprop``).
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn, spectral_measurement
from .steps import Chain, ddim_step, eps_of

#: guidance weight w per task when not given; tasks not listed take ``"default"``. Chosen on the validation faces
#: (held-out 100–149, w ∈ {0.5, 1, 2, 4, 8} at 100 steps, lowest mean LPIPS; benchmarks/results/faces64-issue16/
#: val16/choices.md): 2 for Gaussian and motion blur, 4 for ×4 SR, 1 for JPEG (4 and 8 diverge there). Inpainting
#: shares one operator for both masks: box chose 2 (LPIPS .0246, 4 gives .0248) and random 8 (.0395; 4 gives .0466,
#: 2 .0615, while 8 diverges on box), so inpainting takes 4.
WEIGHTS: dict[str, float] = {"inpaint": 4.0, "sr4": 4.0, "jpeg": 1.0, "default": 2.0}


class PiGDM(Solver):
    """ΠGDM with DDIM(η) steps; linear operators through their SVD, JPEG through its differentiable codec."""

    name = "pigdm"
    backprop = True

    def __init__(self, steps: int = 100, eta: float = 1.0, weight: float | None = None) -> None:
        if steps < 1:
            raise ValueError(f"ΠGDM needs steps ≥ 1, got {steps}.")
        if not 0 <= eta <= 1:
            raise ValueError(f"ΠGDM needs 0 ≤ η ≤ 1, got {eta}.")
        if weight is not None and weight < 0:
            raise ValueError(f"the guidance weight must be ≥ 0, got {weight}.")
        self.steps, self.eta, self.weight = int(steps), float(eta), weight

    @classmethod
    def task_defaults(cls) -> dict[str, dict[str, float]]:
        return {"weight": dict(WEIGHTS)}

    def supports(self, operator) -> str | None:
        if operator.linear:
            return None if operator.has_svd else "the pseudo-inverse guidance needs the operator's SVD view."
        if not operator.differentiable:
            return "the guidance differentiates the forward model, and this operator has no differentiable one."
        return None

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        w = WEIGHTS.get(operator.name, WEIGHTS["default"]) if self.weight is None else self.weight
        chain = Chain.of(prior, self.steps, y.device)
        spectral = spectral_measurement(y, operator, image_shape) if operator.linear else None
        sigma_y = float(getattr(operator.noise, "sigma_y", 0.0))
        x = randn(image_shape, generator, y.device, y.dtype)
        for i in tqdm(reversed(range(len(chain))), total=len(chain), disable=not progress, desc="pigdm"):
            a = chain.abar(i)
            r2 = 1 - a
            with torch.enable_grad():
                x_in = x.detach().requires_grad_(True)
                x0 = prior.x0(x_in, chain.t(i, x.shape[0]))
                if spectral is not None:
                    y_bar, y_std, measured = spectral
                    finite = torch.where(measured, y_std, torch.zeros_like(y_std))
                    v = torch.where(measured, (y_bar - operator.V_t(x0.detach())) / (r2 + finite**2),
                                    torch.zeros_like(y_bar))
                    v = operator.V(v, image_shape)
                else:
                    v = 2 * (y - operator.apply_differentiable((x0.detach() + 1) / 2)) / (r2 + sigma_y**2)
                (g,) = torch.autograd.grad(x0, x_in, grad_outputs=v)  # vᵀ ∂x̂₀/∂x_t
            x0 = (x0.detach() + w * (1 - a) / a**0.5 * g).clamp(-1, 1)
            eps = eps_of(x, x0, a)
            z = randn(image_shape, generator, y.device, y.dtype) if i else None
            x = ddim_step(x0, eps, a, chain.abar(i - 1), self.eta, z)
        return x
