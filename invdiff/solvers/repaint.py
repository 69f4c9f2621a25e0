"""RePaint (Lugmayr, Danelljan, Romero, Yu, Timofte & Van Gool, CVPR 2022), Algorithm 1.

    for t in the jump schedule (T steps, jumps of ``jump_length``, ``resamples`` times each):
      going down t → t−1:
        x^known_{t−1}   ~ N(√ᾱ_{t−1} y, (1 − ᾱ_{t−1}) I)                  (line 5)
        x^unknown_{t−1} ~ N(μ_θ(x_t, t), Σ_θ(x_t, t))                       (line 7)
        x_{t−1} = m ⊙ x^known_{t−1} + (1 − m) ⊙ x^unknown_{t−1}             (line 8)
      going up t−1 → t (resampling):
        x_t ~ N(√(1 − β_t) x_{t−1}, β_t I)                                  (line 10)

**Our extension (not in the paper).** The merge of line 8 is generalised from a pixel mask to
any linear operator through its SVD ``A = U Σ Vᵀ`` (in the range/null-space spirit of DDNM, Wang,
Yu & Zhang 2023, and with DDRM's coupling of y to the noisy states, Kawar et al. 2022). In spectral
coordinates on the variance-exploding scale ``x̄ = Vᵀx/√ᾱ`` (noise level σ), a measured coordinate
``i`` is ``ȳ_i = x̄₀ᵢ + (σ_y/s_i) n`` (:func:`~invdiff.solvers.base.spectral_measurement`, which
also says which singular values count as measured). Read y as one more state of the forward chain,
``x₀ → x̄_σ → ȳ`` when σ < σ_y/s_i and ``x₀ → ȳ → x̄_σ`` otherwise; then, exactly for that chain:

* going down to level σ (line 8), given the model's sample x̄ᵐ ~ N(μ̄, v̄) of line 7:
  - σ ≥ σ_y/s_i ("y is cleaner"): ``x̄_i = ȳ_i + √(σ² − σ_y²/s_i²) z`` — line 5, the law of x̄_σ given ȳ;
  - σ < σ_y/s_i ("y is noisier"): the product of N(μ̄, v̄) and N(ȳ_i, w), w = σ_y²/s_i² − σ², drawn
    as ``x̄ᵐ + k (ȳ_i + √w z − x̄ᵐ)`` with k = v̄/(v̄ + w) (a perturbed-observation Kalman update, so
    a learned Σ_θ needs only its mean v̄ per image);
* going up from σ_a to σ_b (line 10): plain noise where σ_a ≥ σ_y/s_i, ``ȳ_i + √(σ_b² − σ_y²/s_i²) z``
  where σ_a < σ_y/s_i ≤ σ_b, and the Brownian bridge from x̄_a towards ȳ_i where σ_b < σ_y/s_i.

So y informs every level through its own noise, and jump-back cycles no longer wash it out (the
first version replaced only the "cleaner" coordinates, leaving the last steps to the prior alone
wherever y is noisy: 0.90 of the prior's distance from the exact Gaussian posterior mean on ×4 SR
with σ_y = 0.1). Unmeasured coordinates (σ_y/s_i = ∞) get the prior's sample and plain noise. For
an inpainting mask (``V = U = I``, ``s = m``) and σ_y = 0 this is lines 5, 8 and 10 verbatim, and
the final output equals y on observed pixels.

**JPEG (also ours).** JPEG has no SVD; its measurement says instead that every DCT coefficient lies
in a known quantisation bin. For it the merge acts on x̂₀ as in DDNM: each denoising step replaces
x̂₀ by its projection onto the images consistent with y (:meth:`operators.JPEG.project`) before the
DDPM step, so the last step returns an image whose re-encoding gives y's coefficients. This assumes
the decoded file is exact (σ_y = 0, as for a real JPEG); with σ_y > 0 RePaint refuses JPEG.
"""

from __future__ import annotations

import itertools

import torch
from tqdm import tqdm

from .base import Generators, Solver, randn, spectral_measurement
from .steps import (
    Chain,
    ancestral_step,
    check_variance,
    denoise,
    step_variance,
    svd_or_projection,
    uses_learned,
)


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
    """RePaint resampling with the SVD merge (see the module docstring for what is ours).

    ``variance``: the ancestral step's Σ — ``"fixed"`` β̃_t, ``"learned"`` Σ_θ, or ``"auto"`` (default:
    Σ_θ when the prior learned it, as the released RePaint code samples; see :mod:`.ancestral`).
    """

    name = "repaint"

    def __init__(self, steps: int = 250, jump_length: int = 10, resamples: int = 10, variance: str = "auto") -> None:
        if steps < 1 or jump_length < 1 or resamples < 1:
            raise ValueError("RePaint needs steps, jump_length and resamples ≥ 1.")
        self.steps, self.jump_length, self.resamples = int(steps), int(jump_length), int(resamples)
        self.variance = check_variance(variance)

    def nfe(self) -> int:
        """One network call per downward step of the jump schedule (2,410 at 250/10/10)."""
        ts = jump_schedule(self.steps, self.jump_length, self.resamples)
        return sum(1 for a, b in itertools.pairwise(ts) if b < a)

    def supports(self, operator) -> str | None:
        return svd_or_projection(operator, "the merge")

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        chain = Chain.of(prior, self.steps, y.device)
        sched, posterior = chain.schedule, chain.posterior()
        learned = uses_learned(self.variance, prior)
        merge = SpectralMerge(y, operator, generator, image_shape, list(chain.abars)) if operator.linear else None
        project = None if operator.linear else (
            lambda x0, i: 2 * consistent(operator, (x0 + 1) / 2, y, 20 if i == 0 else 1) - 1)
        x = randn(image_shape, generator, y.device, y.dtype)
        ts = jump_schedule(len(chain), self.jump_length, self.resamples)
        for t_last, t_cur in tqdm(list(itertools.pairwise(ts)), disable=not progress, desc="repaint"):
            if t_cur > t_last:  # line 10, resampling: x_t ~ N(√(1−β_t) x_{t−1}, β_t I), given y
                x = merge.up(x, t_last, t_cur) if merge is not None else self._up(x, sched, t_cur, generator)
                continue
            i = t_last  # line 7: x^unknown_{t−1} ~ N(μ_θ(x_t, t), Σ_t) through x̂₀
            if learned:  # one call gives x̂₀ and Σ_θ's variance channels
                with torch.no_grad():
                    pred = prior.predict(x, chain.t(i, x.shape[0]))
                x0, var_values = pred.x0.clamp(-1, 1), pred.var_values
            else:
                (x0, _), var_values = denoise(prior, x, chain, i), None
            if project is not None:
                x0 = project(x0, i)  # JPEG: x̂₀ ← the closest image consistent with y
            var = step_variance(prior, sched, posterior, i, var_values)
            x = ancestral_step(x0, x, i, posterior, var, randn(image_shape, generator, y.device, y.dtype) if i else None)
            if merge is not None:
                x = merge.down(x, var, t_cur)  # lines 5 and 8, through the SVD
        return x

    @staticmethod
    def _up(x, sched, t: int, generator: Generators):
        b = float(sched.betas[t])
        return (1 - b) ** 0.5 * x + b**0.5 * randn(x.shape, generator, x.device, x.dtype)


class SpectralMerge:
    """Lines 5, 8 and 10 for ``A = U Σ Vᵀ`` and noisy y (module docstring): per-coordinate, VE scale."""

    def __init__(self, y, operator, generator: Generators, image_shape, abar: list[float]) -> None:
        self.operator, self.generator, self.shape, self.abar = operator, generator, tuple(image_shape), abar
        self.y_bar, self.y_std, measured = spectral_measurement(y, operator, image_shape)
        noisy = self.y_std[measured]
        #: the largest finite σ_y/s_i: above it no coordinate needs the coupled step up
        self.max_std = float(noisy.max()) if noisy.numel() else 0.0

    def _abar(self, level: int) -> float:
        return self.abar[level] if level >= 0 else 1.0  # level −1: the clean image

    def _sigma(self, level: int) -> float:
        a = self._abar(level)
        return ((1 - a) / a) ** 0.5

    def _z(self) -> torch.Tensor:
        return randn(self.y_bar.shape, self.generator, self.y_bar.device, self.y_bar.dtype)

    def down(self, x: torch.Tensor, var: float | torch.Tensor, level: int) -> torch.Tensor:
        """Merge the model's sample ``x`` (VP scale, variance ``var``) with y at ``level`` (line 8)."""
        a, sigma = self._abar(level), self._sigma(level)
        v_bar = (var if isinstance(var, float) else var.flatten(1).mean(1, keepdim=True)) / a
        x_bar = self.operator.V_t(x) / a**0.5
        cleaner = self.y_std <= sigma
        w = (self.y_std**2 - sigma**2).clamp_min(0)
        k = torch.where(cleaner, torch.zeros_like(w), v_bar / (v_bar + w))  # 0 where nothing is measured (w = ∞)
        z = self._z()
        from_y = self.y_bar + (sigma**2 - torch.where(cleaner, self.y_std, torch.zeros_like(w)) ** 2).clamp_min(0).sqrt() * z
        y_draw = torch.where(torch.isfinite(w), self.y_bar + w.sqrt() * z, x_bar)
        update = x_bar + k * (y_draw - x_bar)
        return a**0.5 * self.operator.V(torch.where(cleaner, from_y, update), self.shape)

    def up(self, x: torch.Tensor, level_from: int, level_to: int) -> torch.Tensor:
        """x_{level_to} given x_{level_from} and y (line 10 for the chain x₀ → x̄ → ȳ)."""
        a_from, a_to = self._abar(level_from), self._abar(level_to)
        s_from, s_to = self._sigma(level_from), self._sigma(level_to)
        if self.max_std <= s_from:  # y is behind x̄ in every coordinate: RePaint's line 10 as written
            b = 1 - a_to / a_from
            return (1 - b) ** 0.5 * x + b**0.5 * randn(x.shape, self.generator, x.device, x.dtype)
        x_bar, z, std = self.operator.V_t(x) / a_from**0.5, self._z(), self.y_std
        gap = s_to**2 - s_from**2
        plain = x_bar + gap**0.5 * z
        via_y = self.y_bar + (s_to**2 - torch.where(std <= s_to, std, torch.zeros_like(std)) ** 2).clamp_min(0).sqrt() * z
        k = torch.where(std > s_to, gap / (std**2 - s_from**2), torch.zeros_like(std))  # bridge towards ȳ
        bridge = x_bar + k * (torch.where(torch.isfinite(std), self.y_bar, x_bar) - x_bar) + (gap * (1 - k)).sqrt() * z
        out = torch.where(std <= s_from, plain, torch.where(std <= s_to, via_y, bridge))
        return a_to**0.5 * self.operator.V(out, self.shape)
