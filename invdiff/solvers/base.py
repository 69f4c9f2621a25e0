"""What every solver shares: the result record, per-sample randomness and the [0,1] ↔ [-1,1] maps.

Public images and measurements live on [0, 1]; priors on [-1, 1]. For a linear operator ``A`` the
measurement ``y = A x + n`` of ``x ∈ [0,1]`` is, written for ``x' = 2x − 1``,

    y' = 2y − A𝟙 = A x' + 2n,

a measurement of the prior-space image with noise of standard deviation σ_y (σ_y is stated on the
[-1, 1] scale precisely so that this holds). Solvers that work in the operator's SVD space use y'.
"""

from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from operators import trusted_inputs

Generators = torch.Generator | Sequence[torch.Generator] | None


class UnsupportedTaskError(ValueError):
    """A solver was asked to solve a problem its algorithm cannot handle."""


class SolverDivergedError(RuntimeError):
    """A solver's result holds NaN or infinite values."""


@dataclass
class SolveResult:
    """A restored batch in [0, 1] and how it was obtained.

    ``x`` is clamped to [0, 1] (an image); ``raw`` is the same sample before clamping, i.e. the
    solver's last state mapped by (x + 1)/2 (values outside [0, 1] show where a sampler overshot).
    ``nfe`` counts network evaluations per image; ``backprop`` says whether gradients went
    through the network; ``settings`` holds every hyper-parameter that shaped the result.
    """

    x: torch.Tensor
    nfe: int
    backprop: bool
    seconds: float
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    raw: torch.Tensor | None = None


def to_prior(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] image → [-1, 1] prior space."""
    return 2.0 * x01 - 1.0


def to_image(x_prior: torch.Tensor) -> torch.Tensor:
    """[-1, 1] prior space → [0, 1] image (clamped)."""
    return ((x_prior + 1.0) / 2.0).clamp(0.0, 1.0)


def generator_list(generator: Generators, n: int) -> list[torch.Generator | None]:
    """One generator per sample: a sequence is checked, a single generator is shared (documented)."""
    if generator is None or isinstance(generator, torch.Generator):
        return [generator]
    gens = list(generator)
    if len(gens) != n:
        raise ValueError(f"got {len(gens)} generators for a batch of {n}; pass exactly one per image.")
    return gens


def randn(shape: Sequence[int], generator: Generators, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal ``shape`` noise; with a sequence of generators, row ``i`` comes from generator ``i``.

    Noise is drawn on each generator's own device and then moved, so a CPU generator gives the
    same numbers whatever device the solver runs on.
    """
    gens = generator_list(generator, shape[0])
    if len(gens) == 1:
        g = gens[0]
        gen_device = g.device if g is not None else device
        return torch.randn(tuple(shape), generator=g, device=gen_device, dtype=dtype).to(device)
    rows = [torch.randn(tuple(shape[1:]), generator=g, device=g.device, dtype=dtype) for g in gens]
    return torch.stack(rows).to(device)


def seeded_generators(seed: int, n: int, device: str | torch.device = "cpu") -> list[torch.Generator]:
    """``n`` generators seeded ``seed, seed+1, …`` (image ``i`` of a batch gets ``seed + i``)."""
    return [torch.Generator(device).manual_seed(int(seed) + i) for i in range(n)]


def prior_space_measurement(y: torch.Tensor, operator, image_shape: Sequence[int]) -> torch.Tensor:
    """y' = 2y − A𝟙: the measurement of the [-1, 1] image (linear operators only)."""
    ones = torch.ones(tuple(image_shape), device=y.device, dtype=y.dtype)  # full batch: operators may differ per image
    return 2.0 * y - operator.apply(ones)


def measured_cutoff(s: torch.Tensor, image_shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """The smallest singular value still counted as measured, per sample (N×1): ``rcond · max(s)``.

    ``rcond = 10 · eps(dtype) · max(H, W)``, the rule of :meth:`operators.LinearOperator.pinv`, with
    ``dtype`` the measurement's: y is stored to that precision, so ``(Uᵀy′)_i`` carries a rounding
    error of about ``eps · ‖y‖``, and ȳ_i = (Uᵀy′)_i / s_i multiplies it by 1/s_i. Below the cut-off
    that error would be larger than anything y says (64² Gaussian blur has s down to 1e-13, 256² to
    1e-34: float32 rounding × 1e13 gave 4.9 dB DDRM results at σ_y = 0). deepinv's DDRM instead
    counts s_i > σ_y as measured; that rule keeps every s_i > 0 when σ_y = 0 (the defect above), and
    with σ_y > 0 the coordinates it drops have noise σ_y/s_i ≥ 1 on the [-1, 1] scale, which our
    samplers already weigh down through ``y_std`` (they carry almost no information).
    """
    rcond = 10 * torch.finfo(dtype).eps * max(image_shape[-2:])
    return rcond * s.amax(dim=1, keepdim=True)


def spectral_measurement(y: torch.Tensor, operator, image_shape: Sequence[int]):
    """What y says about each of the D spectral coordinates of x (DDRM's ȳ = Σ⁺ Uᵀ y').

    Returns ``(y_bar, y_std, measured)``, each N×D in y's dtype: ``ȳ_i = (Uᵀy')_i / s_i`` and its
    noise ``σ_y / s_i`` where ``s_i`` exceeds :func:`measured_cutoff` (``measured``); 0 and ∞ for the
    other coordinates, which are treated as unmeasured (their ȳ would be rounding error amplified
    by 1/s_i). Uᵀy′ and the division are computed in float64 and rounded once at the end.
    """
    sigma_y = float(getattr(operator.noise, "sigma_y", 0.0))
    n, dim = image_shape[0], math.prod(image_shape[1:])
    y64 = y.double()
    u_y = operator.U_t(prior_space_measurement(y64, operator, image_shape))
    s = operator.singulars_for(image_shape, y.device, torch.float64).expand(n, -1)
    k = s.shape[1]
    measured = s > measured_cutoff(s, image_shape, y.dtype)
    s_safe = torch.where(measured, s, torch.ones_like(s))

    def pad(v: torch.Tensor, fill: float | bool) -> torch.Tensor:
        return torch.cat([v, torch.full((n, dim - k), fill, device=v.device, dtype=v.dtype)], dim=1)

    y_bar = torch.where(measured, u_y[:, :k] / s_safe, torch.zeros_like(s))
    y_std = torch.where(measured, sigma_y / s_safe, torch.full_like(s, torch.inf))
    return pad(y_bar, 0.0).to(y.dtype), pad(y_std, torch.inf).to(y.dtype), pad(measured, False)


def on_device(operator, device: torch.device):
    """The operator with its buffers on ``device``: itself if they are there, else a moved copy.

    A copy, so the caller's operator is left where it was; and on the solver's device, because a
    buffer fetched from the CPU at every step would stall the GPU with a blocking copy each time.
    """
    if not isinstance(operator, torch.nn.Module) or all(b.device == device for b in operator.buffers()):
        return operator  # composite operators (one per image) are placed by their owner
    return copy.deepcopy(operator).to(device)


def timesteps_on(schedule, device: torch.device) -> torch.Tensor:
    """A schedule's original timesteps on ``device``, indexed per step without a host→device copy."""
    return schedule.timesteps.to(device)


class Solver(ABC):
    """An inverse-problem solver: ``solve(y, operator, prior, generator)`` → :class:`SolveResult`."""

    name: str = "solver"
    #: whether the algorithm differentiates through the network
    backprop: bool = False

    @abstractmethod
    def supports(self, operator) -> str | None:
        """``None`` if the operator is supported, else one sentence saying why not."""

    def check(self, operator) -> None:
        reason = self.supports(operator)
        if reason is not None:
            raise UnsupportedTaskError(f"{self.name} cannot solve {operator.name}: {reason}")

    def settings(self) -> dict[str, Any]:
        """The solver's hyper-parameters (recorded with every result)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def nfe(self) -> int:
        """Network evaluations per image at these settings (what :attr:`SolveResult.nfe` reports)."""
        return int(self.steps)

    @classmethod
    def task_defaults(cls) -> dict[str, dict[str, float]]:
        """Settings that ``None`` fills per task: ``{setting: {task or "default": value}}``."""
        return {}

    def solve(self, y: torch.Tensor, operator, prior, generator: Generators = None,
              image_shape: Sequence[int] | None = None, progress: bool = False) -> SolveResult:
        """Restore the images behind measurement ``y`` (N×… on [0, 1]); returns x̂ in [0, 1].

        ``image_shape`` is the N×C×H×W shape of the unknown image; by default the prior's
        channels and native resolution.
        """
        self.check(operator)
        if image_shape is None:
            image_shape = (y.shape[0], prior.channels, prior.resolution, prior.resolution)
        image_shape = tuple(int(s) for s in image_shape)
        if image_shape[0] != y.shape[0]:
            raise ValueError(f"image_shape has batch {image_shape[0]} but y has {y.shape[0]} measurements.")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("the measurement contains NaN or infinite values.")
        operator = on_device(operator, y.device)
        prior.reset_nfe()
        start = time.perf_counter()
        with trusted_inputs():  # y was checked above; the loop's own tensors are checked once, below
            x = self._solve(y, operator, prior, generator, image_shape, progress)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
        seconds = time.perf_counter() - start
        if not bool(torch.isfinite(x).all()):
            raise SolverDivergedError(f"{self.name} produced NaN or infinite values; check the prior's weights "
                                      f"and, for DPS, lower the step size ζ′ (settings: {self.settings()}).")
        x = x.detach()
        return SolveResult(to_image(x), prior.nfe, self.backprop, seconds, self.name, self.settings(), raw=(x + 1.0) / 2.0)

    @abstractmethod
    def _solve(self, y: torch.Tensor, operator, prior, generator: Generators, image_shape: tuple[int, ...],
               progress: bool) -> torch.Tensor:
        """Return the restored batch in prior space [-1, 1]."""
