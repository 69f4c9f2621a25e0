"""Conditional priors: an ε-network that also sees a low-resolution image (SR3, Saharia et al. 2021).

SR3 models p(x | y) for super-resolution: the measurement ``y`` is upsampled to the image size,
``c = up(y)``, and concatenated to ``x_t`` as extra input channels, ``ε_θ([x_t, c], t)``. What a
conditional prior was trained on is stated by :class:`SRConditioning` and stored in the prior's
JSON under ``"conditioning"``::

    "conditioning": {"kind": "sr-concat", "task": "sr4", "factor": 4, "kernel": "bicubic",
                     "upsampling": "bicubic", "channels": 3, "sigma_max": 0.1}

**One definition of the pair (y, c)**, used by the trainer and by the ``sr3`` solver alike:

* ``y`` is the ``sr4`` task's own operator (:func:`invdiff.tasks.make_problem`: ×4 antialiased
  bicubic, MATLAB-``imresize`` style) on the [-1, 1] image — which is the protocol's [0, 1]
  measurement mapped by ``y' = 2y − A𝟙`` (the rows of A sum to 1) — plus Gaussian noise of
  standard deviation σ on the [-1, 1] scale (the project's σ_y convention);
* ``c = up(y')`` is :func:`upsample_measurement`: ``F.interpolate(y', scale_factor=f,
  mode="bicubic", align_corners=False)``. Bicubic interpolation is what SR3 conditions on; it is
  local and cheap, places pixel centres where the operator does (the half-pixel convention,
  output pixel ``i`` of ``y`` centred at ``(i + ½)f − ½``), and — unlike the pseudo-inverse
  ``A⁺y``, which divides by the operator's small singular values — it does not amplify the
  measurement noise. Only consistency matters to the network: training and sampling call this
  same function.

A conditional prior refuses to run without its condition (one clear error), so the solvers of
unconditional priors (DPS, DDRM, RePaint) cannot use it by mistake; the ``sr3`` solver refuses
unconditional priors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .prior import DiffusionPrior, Prediction, TimeLike
from .unet import ADMUNet, check_known_fields

#: The one conditioning scheme so far: the upsampled measurement concatenated to x_t.
KIND = "sr-concat"
#: Upsampling methods :func:`upsample_measurement` knows.
UPSAMPLINGS = ("bicubic",)
#: Tasks a conditional prior can be trained for (``invdiff train --conditional TASK``).
CONDITIONAL_TASKS = ("sr4",)


class ConditioningError(ValueError):
    """A conditional prior used without its condition, or with one that does not fit."""


def upsample_measurement(y: torch.Tensor, factor: int, upsampling: str = "bicubic") -> torch.Tensor:
    """``c = up(y)``: an N×C×h×w measurement on the [-1, 1] scale to N×C×(f·h)×(f·w) (see module docstring).

    Computed in float32 at least (never under reduced-precision autocast), not clipped.
    """
    if upsampling not in UPSAMPLINGS:
        raise ConditioningError(f"unknown upsampling {upsampling!r}; choose one of {UPSAMPLINGS}.")
    dtype = torch.promote_types(y.dtype, torch.float32)
    with torch.autocast(y.device.type, enabled=False):
        return F.interpolate(y.to(dtype), scale_factor=int(factor), mode="bicubic", align_corners=False)


@dataclass(frozen=True)
class SRConditioning:
    """What a conditional super-resolution prior was trained on (stored in its JSON as ``conditioning``).

    ``task``/``factor``/``kernel`` name the operator (the task's protocol operator), ``upsampling``
    how y becomes the condition c, ``channels`` the channels of c, and ``sigma_max`` the top of
    the σ_y augmentation range U[0, σ_max] (on [-1, 1]) the network was trained with.
    """

    task: str = "sr4"
    factor: int = 4
    kernel: str = "bicubic"
    upsampling: str = "bicubic"
    channels: int = 3
    sigma_max: float = 0.1
    kind: str = KIND

    def __post_init__(self) -> None:
        if self.kind != KIND:
            raise ConditioningError(f"unknown conditioning kind {self.kind!r}; invdiff knows {KIND!r}.")
        if self.task not in CONDITIONAL_TASKS:
            raise ConditioningError(f"conditional priors exist for tasks {CONDITIONAL_TASKS}, not {self.task!r}.")
        if self.upsampling not in UPSAMPLINGS:
            raise ConditioningError(f"unknown upsampling {self.upsampling!r}; choose one of {UPSAMPLINGS}.")
        if int(self.factor) < 1 or int(self.channels) < 1 or not float(self.sigma_max) >= 0:
            raise ConditioningError(f"bad conditioning {self.to_dict()}: factor and channels ≥ 1, sigma_max ≥ 0.")

    @classmethod
    def for_task(cls, task: str, resolution: int, sigma_max: float = 0.1, channels: int = 3) -> SRConditioning:
        """The conditioning for ``task``'s protocol operator at ``resolution`` (factor and kernel from tasks.py)."""
        if task not in CONDITIONAL_TASKS:
            raise ConditioningError(f"conditional training exists for {', '.join(CONDITIONAL_TASKS)}, not {task!r}.")
        from ..tasks import make_problem

        details = make_problem(task, resolution, torch.Generator(), sigma_y=0.0, channels=channels).details
        return cls(task=task, factor=int(details["factor"]), kernel=str(details["kernel"]), channels=channels,
                   sigma_max=float(sigma_max))

    @classmethod
    def from_dict(cls, d: dict) -> SRConditioning:
        check_known_fields(cls, d, "conditioning", ConditioningError)
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"×{self.factor} {self.kernel} super-resolution ({self.task}), condition = {self.upsampling}-upsampled "
                f"y, trained with σ_y ~ U[0, {self.sigma_max:g}]")

    def operator(self, resolution: int, channels: int | None = None, sigma_y: float = 0.0):
        """The task's protocol operator for a ``resolution``² image (exactly what ``invdiff.tasks`` builds)."""
        from ..tasks import make_problem

        problem = make_problem(self.task, resolution, torch.Generator(), sigma_y=sigma_y,
                               channels=channels or self.channels, factor=self.factor, kernel_type=self.kernel)
        return problem.operator

    def condition(self, y_prior: torch.Tensor) -> torch.Tensor:
        """c = up(y') for a measurement ``y_prior`` on the [-1, 1] scale (N×C×h×w → N×C×fh×fw)."""
        if y_prior.dim() != 4 or y_prior.shape[1] != self.channels:
            raise ConditioningError(f"expected an N×{self.channels}×h×w measurement, got {tuple(y_prior.shape)}.")
        return upsample_measurement(y_prior, self.factor, self.upsampling)


class ConcatConditionedUNet(ADMUNet):
    """An ADM U-Net fed ``cat([x_t, c], dim=1)``: ``forward(x, t, c)``.

    Same parameters and state-dict keys as :class:`ADMUNet` (``in_channels`` counts both parts),
    so checkpoints move freely between the two; only the call differs.
    """

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ConditioningError("this network is conditional: call it as net(x_t, t, c) with the condition c.")
        c = y.to(x.dtype)
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            c = c.contiguous(memory_format=torch.channels_last)  # keep the speed switch's memory format
        return super().forward(torch.cat([x, c], dim=1), t)


class ConditionalPrior(DiffusionPrior):
    """A :class:`DiffusionPrior` of p(x | c): every call needs the condition ``c`` (the ``y`` argument).

    ``c`` is N×C×H×W like ``x_t`` (make it with ``prior.conditioning.condition(y')``). Called without
    it — as DPS, DDRM or RePaint would — it raises :class:`ConditioningError`. At any H×W, ``c`` is
    reflection-padded and cut into tiles exactly like ``x_t`` (:func:`invdiff.priors.tiling.run_network`
    treats an extra input of x's N and H×W as an image), so every tile sees its own part of the condition.
    """

    def __init__(self, net, schedule, *, conditioning: SRConditioning, **kwargs) -> None:
        super().__init__(net, schedule, **kwargs)
        self.conditioning = conditioning

    def _check_condition(self, x: torch.Tensor, c: torch.Tensor | None) -> None:
        if c is None:
            raise ConditioningError(
                f"prior {self.name!r} is a conditional SR3 model ({self.conditioning.describe()}); only method "
                f"sr3 can use it — use an unconditional prior such as faces64 with dps, ddrm or repaint.")
        if c.shape != x.shape:
            raise ConditioningError(f"the condition has shape {tuple(c.shape)} but x_t has {tuple(x.shape)}; "
                                    "they must match (c is the upsampled measurement).")

    def predict(self, x_t: torch.Tensor, t: TimeLike, y: torch.Tensor | None = None) -> Prediction:
        """ε̂, x̂₀ of p(x | c) at ``x_t``; ``y`` is the condition c (required)."""
        self._check_condition(x_t, y)
        return super().predict(x_t, t, y)

    def denoise(self, x: torch.Tensor, sigma: TimeLike, y: torch.Tensor | None = None) -> torch.Tensor:
        self._check_condition(x, y)
        return super().denoise(x, sigma, y)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, conditioning={self.conditioning.describe()!r}"


def is_conditional(prior) -> bool:
    """Whether ``prior`` needs a condition (an SR3-style prior)."""
    return getattr(prior, "conditioning", None) is not None
