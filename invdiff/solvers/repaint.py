"""RePaint (Lugmayr, Danelljan, Romero, Yu, Timofte & Van Gool, CVPR 2022), Algorithm 1.

    for t in the jump schedule (T steps, jumps of ``jump_length``, ``resamples`` times each):
      going down t → t−1:
        x^known_{t−1}   ~ N(√ᾱ_{t−1} y, (1 − ᾱ_{t−1}) I)                  (line 5)
        x^unknown_{t−1} ~ N(μ_θ(x_t, t), Σ_θ(x_t, t))                       (line 7)
        x_{t−1} = m ⊙ x^known_{t−1} + (1 − m) ⊙ x^unknown_{t−1}             (line 8)
      going up t−1 → t (resampling):
        x_t ~ N(√(1 − β_t) x_{t−1}, β_t I)                                  (line 10)

**Our extension (not in the paper).** The merge of line 8 is generalised from a pixel mask to
any linear operator through its SVD ``A = U Σ Vᵀ``, in the range/null-space spirit of DDNM
(Wang, Yu & Zhang 2023): in spectral coordinates a measured coordinate ``i`` (``s_i > 0``) is
known as ``ȳ_i = (Uᵀ y')_i / s_i`` with noise ``σ_y / s_i``; at a step whose diffusion noise on
the variance-exploding scale is σ_t ≥ σ_y / s_i, it is replaced by ``ȳ_i`` topped up with
``√(σ_t² − σ_y²/s_i²)`` of fresh noise (exactly the law of x_t given x₀ = ȳ), otherwise the
model's sample is kept. For an inpainting mask (``V = U = I``, ``s = m``) and σ_y = 0 this is
line 8 verbatim, and the final output equals y on observed pixels. With σ_y > 0 the measurement
is trusted only down to its own noise level — the noise is never copied into the result — so
the last steps are the prior's alone in the coordinates where y is too noisy; that is a modelling
choice of ours, not RePaint's, which assumed noiseless inpainting.

**JPEG (also ours).** JPEG has no SVD; its measurement says instead that every DCT coefficient lies
in a known quantisation bin. For it the merge acts on x̂₀ as in DDNM: each denoising step replaces
x̂₀ by its projection onto the images consistent with y (:meth:`operators.JPEG.project`) before the
DDPM step, so the last step returns an image whose re-encoding gives y's coefficients. This assumes
the decoded file is exact (σ_y = 0, as for a real JPEG); with σ_y > 0 RePaint refuses JPEG.
"""

from __future__ import annotations

import itertools
import math

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn, spectral_measurement, timesteps_on


def jump_schedule(T: int, jump_length: int, resamples: int) -> list[int]:
    """RePaint's time schedule: the visited steps, ending at −1 (RePaint's ``get_schedule_jump``)."""
    jumps = {j: resamples - 1 for j in range(0, T - jump_length, jump_length)}
    t, ts = T, []
    while t >= 1:
        t -= 1
        ts.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                ts.append(t)
    ts.append(-1)
    return ts


def consistent(operator, x01: torch.Tensor, y: torch.Tensor, rounds: int) -> torch.Tensor:
    """Alternate projections onto y's consistency set and the [0, 1] box (POCS), ending in the box.

    Both sets are convex, so the alternation approaches a point of their intersection: an image
    that is a valid picture *and* re-encodes to y's coefficients.
    """
    for _ in range(rounds):
        x01 = operator.project(x01, y).clamp(0, 1)
    return x01


class RePaint(Solver):
    """RePaint resampling with the SVD merge (see the module docstring for what is ours)."""

    name = "repaint"

    def __init__(self, steps: int = 250, jump_length: int = 10, resamples: int = 10) -> None:
        if steps < 1 or jump_length < 1 or resamples < 1:
            raise ValueError("RePaint needs steps, jump_length and resamples ≥ 1.")
        self.steps, self.jump_length, self.resamples = int(steps), int(jump_length), int(resamples)

    def supports(self, operator) -> str | None:
        if not operator.linear:
            if not hasattr(operator, "project"):
                return "the merge needs a linear operator with an SVD or a consistency projection, and this has neither."
            if float(getattr(operator.noise, "sigma_y", 0.0)) > 0:
                return "the JPEG projection treats the decoded file as exact, so it needs σ_y = 0."
            return None
        if not operator.has_svd:
            return "the operator exposes no SVD view."
        return None

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        sched = prior.schedule.respace(self.steps)  # all steps: the training schedule itself
        abar, betas, posterior = sched.alphas_cumprod.tolist(), sched.betas.tolist(), sched.posterior_table()
        n = image_shape[0]
        if operator.linear:
            merge, project = self._svd_merge(y, operator, generator, image_shape, abar), None
        else:
            merge, project = None, lambda x0, i: 2 * consistent(operator, (x0 + 1) / 2, y, 20 if i == 0 else 1) - 1
        timesteps = timesteps_on(sched, y.device)
        x = randn(image_shape, generator, y.device, y.dtype)
        ts = jump_schedule(len(sched), self.jump_length, self.resamples)
        for t_last, t_cur in tqdm(list(itertools.pairwise(ts)), disable=not progress, desc="repaint"):
            if t_cur > t_last:  # line 10, resampling: x_t ~ N(√(1−β_t) x_{t−1}, β_t I)
                b = betas[t_cur]
                x = (1 - b) ** 0.5 * x + b**0.5 * randn(image_shape, generator, y.device, y.dtype)
                continue
            i = t_last  # line 7: x^unknown_{t−1} ~ N(μ_θ(x_t, t), Σ_t) through x̂₀
            with torch.no_grad():
                eps = prior.eps(x, timesteps[i].expand(n))
            x0 = ((x - (1 - abar[i]) ** 0.5 * eps) / abar[i] ** 0.5).clamp(-1, 1)
            if project is not None:
                x0 = project(x0, i)  # JPEG: x̂₀ ← the closest image consistent with y
            c0, ct, var = posterior[i]
            x = c0 * x0 + ct * x
            if i > 0:
                x = x + var**0.5 * randn(image_shape, generator, y.device, y.dtype)
            if merge is not None:
                x = merge(x, t_cur)  # line 8, through the SVD
        return x

    def _svd_merge(self, y, operator, generator: Generators, image_shape, abar: list[float]):
        """Line 8 generalised to ``A = U Σ Vᵀ``: ``merge(x, level)`` replaces what y knows at that noise level."""
        n, dim = image_shape[0], math.prod(image_shape[1:])
        y_bar, y_std, measured = spectral_measurement(y, operator, image_shape)

        def merge(x: torch.Tensor, level: int) -> torch.Tensor:
            a = abar[level] if level >= 0 else 1.0  # level −1: the clean image
            sigma = ((1 - a) / a) ** 0.5
            known = measured & (y_std <= sigma)  # σ_y = 0: y_std = 0, so every measured coordinate
            z = randn((n, dim), generator, y.device, y.dtype)
            top_up = (sigma**2 - torch.where(known, y_std, torch.zeros_like(y_std)) ** 2).clamp_min(0).sqrt()
            x_known = a**0.5 * (y_bar + top_up * z)
            return operator.V(torch.where(known, x_known, operator.V_t(x)), image_shape)

        return merge
