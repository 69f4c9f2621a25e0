"""SR3: Image Super-Resolution via Iterative Refinement (Saharia, Ho, Chan, Salimans, Fleet & Norouzi, 2021).

SR3 does not combine an unconditional prior with the measurement at sampling time, as DPS, DDRM
and RePaint do: it *learns* p(x | y). The network sees the low-resolution image, upsampled to the
output size, as extra input channels, ``ε_θ([x_t, c], t)`` with ``c = up(y')`` (trained on pairs
made by ``invdiff train --conditional sr4``, :mod:`invdiff.priors.conditional`). Sampling is
DDPM's ancestral sampler (Ho et al. 2020, Algorithm 2; SR3 Algorithm 2) on p(x | c):

    x_T ~ N(0, I)
    for i = N−1 … 0 (a possibly respaced schedule):
        ε̂   = ε_θ([x_i, c], t_i)
        x̂₀  = (x_i − √(1−ᾱ_i) ε̂) / √ᾱ_i,   clipped to [-1, 1]
        x_{i−1} = c₀ x̂₀ + c_t x_i + √β̃_i z,   z ~ N(0, I)  (no noise at i = 0)

with the posterior coefficients of DDPM eq. 7 on the kept steps. ``y' = 2y − A𝟙`` is the
measurement of the [-1, 1] image (σ_y on that scale, as in training). ``steps`` < T keeps evenly
spaced steps with the original ᾱ's (Nichol & Dhariwal 2021 respacing); NFE = steps.

Only ×f super-resolution with the operator, factor and kernel the prior was trained for; a
conditional prior is required (and it cannot be used by the other solvers).
"""

from __future__ import annotations

from tqdm import tqdm

from ..priors.conditional import ConditioningError, is_conditional
from .base import Generators, Solver, UnsupportedTaskError, prior_space_measurement, randn
from .steps import Chain, ancestral_step, denoise


class SR3(Solver):
    """Conditional ancestral sampling of an SR3 prior; ``steps`` < T samples on a respaced schedule.

    Default: 1000 steps, the prior's full training chain (``--steps 100`` is the usual fast setting).
    """

    name = "sr3"
    #: needs a conditional prior (:class:`~invdiff.priors.ConditionalPrior`)
    conditional = True
    #: the built-in prior ``invdiff solve --method sr3`` and suites use when none is named
    default_prior = "faces64-sr4"

    def __init__(self, steps: int = 1000) -> None:
        if int(steps) < 1:
            raise ValueError(f"SR3 needs at least 1 step, got {steps}.")
        self.steps = int(steps)

    def supports(self, operator) -> str | None:
        from operators import SuperResolution
        from operators.noise import GaussianNoise

        if not isinstance(operator, SuperResolution):
            return ("SR3's network is conditioned on a low-resolution image, so it solves only sr4 (use dps, ddrm or "
                    "repaint here).")
        if not isinstance(operator.noise, GaussianNoise):
            return "SR3's prior was trained with Gaussian measurement noise only."
        return None

    def settings(self) -> dict:
        return {"steps": self.steps, "sampler": "ancestral DDPM on p(x | up(y)), x0 clipped to [-1, 1]"}

    def check_prior(self, prior, operator=None) -> None:
        """Raise :class:`ConditioningError` unless ``prior`` is a conditional SR prior that fits ``operator``."""
        if not is_conditional(prior):
            raise ConditioningError(
                f"sr3 needs a conditional SR3 prior (trained with `invdiff train --conditional sr4`, e.g. the built-in "
                f"faces64-sr4), but {getattr(prior, 'name', 'this prior')!r} is unconditional.")
        if operator is None:
            return
        cond = prior.conditioning
        if (operator.factor, operator.kernel) != (cond.factor, cond.kernel):
            raise UnsupportedTaskError(
                f"sr3 cannot solve ×{operator.factor} {operator.kernel} super-resolution with prior {prior.name!r}: it "
                f"was trained for ×{cond.factor} {cond.kernel} ({cond.task}).")
        sigma_y = float(operator.noise.sigma_y)
        if sigma_y > cond.sigma_max + 1e-12:
            raise UnsupportedTaskError(
                f"sr3 cannot solve σ_y = {sigma_y:g} with prior {prior.name!r}: it was trained with σ_y ≤ "
                f"{cond.sigma_max:g} (on [-1, 1]).")

    def _solve(self, y, operator, prior, generator: Generators, image_shape, progress):
        self.check_prior(prior, operator)
        if tuple(operator.input_shape_for(y)) != tuple(image_shape):
            raise ValueError(f"a {tuple(y.shape[-2:])} measurement ×{operator.factor} gives images of "
                             f"{tuple(operator.input_shape_for(y))}, not {tuple(image_shape)}.")
        chain = Chain.of(prior, self.steps, y.device)
        posterior = chain.posterior()
        c = prior.conditioning.condition(prior_space_measurement(y, operator, image_shape)).to(y.dtype)
        x = randn(image_shape, generator, y.device, y.dtype)
        for i in tqdm(reversed(range(len(chain))), total=len(chain), disable=not progress, desc="sr3"):
            x0, _ = denoise(prior, x, chain, i, c)  # x̂₀ of p(x | up(y)), clipped
            z = randn(image_shape, generator, y.device, y.dtype) if i else None
            x = ancestral_step(x0, x, i, posterior, posterior[i][2], z)  # DDPM eq. 6–7, fixed β̃
        return x
