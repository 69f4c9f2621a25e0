"""Measurement noise models.

**σ_y is always stated on the [-1, 1] image scale** (the DPS convention: σ_y = 0.05). Images in
this package live in [0, 1], so the standard deviation actually added to a [0, 1] image is
``σ_y / 2``; :attr:`GaussianNoise.std_unit` holds that number. DiffPIR and others quote σ on
[0, 1] — build those with :meth:`GaussianNoise.from_unit_range` so the factor of two is explicit.

Randomness comes only from explicit ``torch.Generator`` objects: one for the whole batch, or a
sequence of one per sample (then sample ``i``'s noise depends on generator ``i`` alone). Noise is
drawn on the generator's own device and then moved to the measurement's, so a CPU generator gives
the same noise for CPU and CUDA measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._errors import OperatorError

GeneratorLike = torch.Generator | Sequence[torch.Generator] | None


def _per_sample(generator: GeneratorLike, n: int) -> list[torch.Generator] | None:
    """``None`` for one shared generator, else the list of ``n`` per-sample generators."""
    if generator is None:
        raise OperatorError(
            "noise needs an explicit generator: pass generator=torch.Generator().manual_seed(seed) "
            "(or a list of one per sample)."
        )
    if isinstance(generator, torch.Generator):
        return None
    gens = list(generator)
    if len(gens) != n or not all(isinstance(g, torch.Generator) for g in gens):
        raise OperatorError(f"got {len(gens)} generators for a batch of {n}; pass one torch.Generator per sample.")
    return gens


def randn_like(x: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, from one generator or one per sample."""
    gens = _per_sample(generator, x.shape[0])
    if gens is None:
        g = generator
        return torch.randn(x.shape, generator=g, device=g.device, dtype=x.dtype).to(x.device)
    draws = [torch.randn(x.shape[1:], generator=g, device=g.device, dtype=x.dtype).to(x.device) for g in gens]
    return torch.stack(draws)


class NoiseModel:
    """Base class: ``add(y, generator)`` returns a noisy copy of the clean measurement ``y``."""

    def add(self, y: torch.Tensor, generator: GeneratorLike = None) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class GaussianNoise(NoiseModel):
    """Additive white Gaussian noise with σ_y given on the **[-1, 1] scale**.

    ``GaussianNoise(0.05)`` adds N(0, 0.025²) to a [0, 1] measurement, i.e. N(0, 0.05²) to the
    same measurement mapped to [-1, 1]. ``GaussianNoise(0)`` is noiseless and needs no generator.
    """

    def __init__(self, sigma_y: float = 0.0) -> None:
        sigma_y = float(sigma_y)
        if not sigma_y >= 0.0:
            raise OperatorError(f"sigma_y must be >= 0 (on the [-1, 1] scale), got {sigma_y}.")
        self.sigma_y = sigma_y

    @classmethod
    def from_unit_range(cls, sigma_unit: float) -> GaussianNoise:
        """Build from a σ stated on the [0, 1] scale (DiffPIR's convention): σ_y = 2·σ."""
        return cls(2.0 * float(sigma_unit))

    @property
    def std_unit(self) -> float:
        """Standard deviation added to a [0, 1] image: σ_y / 2."""
        return self.sigma_y / 2.0

    def add(self, y: torch.Tensor, generator: GeneratorLike = None) -> torch.Tensor:
        if self.sigma_y == 0.0:
            return y.clone()
        return y + self.std_unit * randn_like(y, generator)

    def describe(self) -> str:
        return f"Gaussian σ_y={self.sigma_y:g} on [-1,1] (std {self.std_unit:g} on [0,1])"

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma_y={self.sigma_y:g})"


class PoissonNoise(NoiseModel):
    """Shot noise: ``y = Poisson(rate · y_clean) / rate`` on the [0, 1] scale.

    ``rate`` is the photon count at full intensity (larger rate, less noise): the noisy value has
    mean ``y_clean`` and variance ``y_clean / rate``. Negative inputs are clamped to 0 before
    sampling since a Poisson mean cannot be negative.
    """

    def __init__(self, rate: float = 255.0) -> None:
        rate = float(rate)
        if not rate > 0:
            raise OperatorError(f"Poisson rate must be > 0 photons at full intensity, got {rate}.")
        self.rate = rate

    def add(self, y: torch.Tensor, generator: GeneratorLike = None) -> torch.Tensor:
        gens = _per_sample(generator, y.shape[0])
        lam = y.detach().clamp_min(0).to(torch.float64) * self.rate
        if gens is None:
            counts = torch.poisson(lam.to(generator.device), generator=generator).to(y.device)
        else:
            counts = torch.stack([torch.poisson(lam[i].to(g.device), generator=g).to(y.device)
                                  for i, g in enumerate(gens)])
        return (counts / self.rate).to(y.dtype)

    def describe(self) -> str:
        return f"Poisson rate={self.rate:g} photons at full intensity"

    def __repr__(self) -> str:
        return f"PoissonNoise(rate={self.rate:g})"
