"""One image's inverse problem: the input rule and the size rule of :mod:`invdiff.api`, in one place.

:func:`make_case` turns one :class:`Source` (pixels, alpha, JPEG provenance) into a :class:`Case`
(measurement y, operator, generator): it decides whether the input is a clean image or a
measurement (:func:`degradation_info`), what size the restored image has (:func:`any_size`,
:func:`native_size`, :func:`smallest_side`) and refuses, with one sentence, what cannot work. The
rules themselves are stated in :mod:`invdiff.api`'s docstring (the public contract); the CLI and
the library both build their problems here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

import operators

from .tasks import DEFAULT_SIGMA_Y, TASKS, make_problem

#: Why an input counts as a clean image, per task (when it carries no degradation information).
NO_INFO = {"inpaint": "no mask and no transparent pixels", "gaussian_blur": "no kernel given",
           "motion_blur": "no kernel given",
           "sr4": "no scale given (and, for a fixed-size prior, its side is not the prior's size / factor)",
           "jpeg": "not a JPEG file"}

#: The reason recorded when --degrade / --no-degrade (degrade=) forced the reading.
FORCED = {True: "forced by --degrade / degrade=True", False: "forced by --no-degrade / degrade=False"}


class UsageError(ValueError):
    """The call or command line is wrong (unknown name, conflicting or missing option): CLI exit 2."""


class DataError(ValueError):
    """The data are unusable (wrong size, bad mask, NaN …): CLI exit 1."""


class PriorNotInstalled(RuntimeError):
    """A built-in prior (or the default) is named whose weights are not installed: CLI exit 1."""


@dataclass
class Source:
    """One input image: ``pixels`` 1×C×H×W float64 in [0, 1] (C = the prior's channels), alpha H×W or None."""

    pixels: torch.Tensor
    alpha: torch.Tensor | None = None
    is_jpeg_file: bool = False
    jpeg_quality: int | None = None
    name: str = "image"


@dataclass
class Case:
    """One image's inverse problem: measurement ``y`` (1×…, [0, 1]) and its operator, and how they were made.

    ``shape`` is C×H×W of the image to restore (the measurement's own size, or f× it for SR).
    """

    y: torch.Tensor
    operator: operators.Operator
    generator: torch.Generator
    degraded: bool
    clean: torch.Tensor | None = None
    details: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, int, int] = (3, 0, 0)

    @property
    def mask(self) -> torch.Tensor | None:
        """1×H×W mask (1 = observed) for inpainting, else None."""
        return self.operator.mask.reshape(-1, *self.operator.mask.shape[-2:])[:1] if self.operator.name == "inpaint" \
            else None

    @property
    def kernel(self) -> torch.Tensor | None:
        """The 2-D blur kernel for blur tasks, else None."""
        return getattr(self.operator, "kernel", None)


# -- sizes ----------------------------------------------------------------------------------------
def any_size(prior) -> bool:
    """Whether ``prior`` restores images at their own size (else only at ``prior.resolution``).

    The benchmark's rule, one implementation (:func:`invdiff.bench.sizes.any_size`): a stated
    ``any_size`` (attribute or JSON card) wins, else a network without global attention counts as
    size-agnostic (windowed attention is local).
    """
    from .bench.sizes import any_size as rule

    return rule(prior)


def smallest_side(prior) -> int:
    """The smallest image side the prior's network takes (:func:`invdiff.bench.sizes.min_size`)."""
    from .bench.sizes import min_size

    return min_size(prior)


def native_size(prior) -> int | None:
    """The one side a fixed-size prior restores (its resolution R), or None for a size-agnostic prior."""
    return None if any_size(prior) else prior.resolution


def _check_sides(name: str, h: int, w: int, smallest: int, what: str = "") -> None:
    if min(h, w) < smallest:
        raise DataError(f"{name} is {h}×{w}{what}, smaller than the prior's network takes: each side must be at "
                        f"least {smallest} px.")


# -- the input rule -----------------------------------------------------------------------------
def degradation_info(task: str, src: Source, resolution: int | None, mask, kernel, scale: int | None,
                     factor: int) -> str | None:
    """Why ``src`` counts as a measurement for ``task`` (one phrase), or None if it carries no such information.

    ``resolution`` is the fixed-size prior's side, or None for a size-agnostic prior.
    """
    h, w = src.pixels.shape[-2:]
    if task == "inpaint":
        if mask is not None:
            return "a mask was given"
        if src.alpha is not None and bool((src.alpha == 0).any()):
            return "its alpha channel has transparent pixels (α = 0: missing)"
    elif task in ("gaussian_blur", "motion_blur") and kernel is not None:
        return "a blur kernel was given"
    elif task == "sr4":
        if scale is not None:
            return f"a scale ({scale}) was given"
        if resolution is not None and h == w and h * factor == resolution:
            return f"it is {h}×{w} and {h} × {factor} = {resolution}, the prior's size"
    elif task == "jpeg" and src.is_jpeg_file:
        return "it is a JPEG file"
    return None


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}.")


def article(word: str) -> str:
    """``word`` with its indefinite article ("an inpaint", "a sr4" is "an sr4": by sound)."""
    return f"{'an' if word[:1].lower() in 'aeiosx' or word.lower().startswith('sr') else 'a'} {word}"


def _unknown_size(task: str, src: Source, resolution: int | None, measured: bool, factor: int,
                  smallest: int) -> tuple[int, int]:
    """(H, W) of the image to restore, after the size checks of the module docstring."""
    h, w = src.pixels.shape[-2:]
    if resolution is not None:  # a fixed-size prior
        if measured:
            side = resolution // factor if task == "sr4" else resolution
            if (h, w) != (side, side):
                raise DataError(f"{src.name} is {h}×{w}, but {article(task)} measurement for this "
                                f"{resolution}×{resolution} prior must be {side}×{side} (measurements are never "
                                "resized); pass --degrade (degrade=True) to read it as a clean image instead.")
        elif (h, w) != (resolution, resolution):
            raise DataError(f"{src.name} is {h}×{w} but the prior restores {resolution}×{resolution} images; crop and "
                            "resize it first, e.g. with invdiff.fit_to_prior (the CLI does this itself).")
        return resolution, resolution
    if task == "sr4" and measured:
        _check_sides(src.name, h * factor, w * factor, smallest, f" (×{factor}: {h * factor}×{w * factor})")
        return h * factor, w * factor
    _check_sides(src.name, h, w, smallest)
    if task == "sr4" and (h % factor or w % factor):
        raise DataError(f"{src.name} is {h}×{w}: ×{factor} SR of a clean image needs sides divisible by {factor}; "
                        f"crop it to {h - h % factor}×{w - w % factor}.")
    return h, w


def separable(kernel) -> bool:
    """Whether a 2-D kernel is rank 1 up to :data:`operators.blur.SEPARABLE_RTOL` (what SeparableBlur accepts)."""
    import numpy as np

    from operators.blur import SEPARABLE_RTOL

    s = np.linalg.svd(np.asarray(kernel, dtype=np.float64), compute_uv=False)
    return bool(s[0] > 0 and (len(s) < 2 or s[1] <= SEPARABLE_RTOL * s[0]))


def make_case(src: Source, task: str, resolution: int | None, generator: torch.Generator, *, mask=None,
              kernel=None, scale: int | None = None, quality: int | None = None, sigma_y: float | None = None,
              degrade: bool | None = None, protocol: dict | None = None, smallest: int = 1,
              dtype: torch.dtype = torch.float32) -> Case:
    """Build one image's problem following the input and size rules of the module docstring.

    ``resolution``: the fixed-size prior's side, or None for a size-agnostic prior whose network
    takes sides of at least ``smallest``. The measurement (and the clean image) are kept in
    ``dtype``, the precision the solver then runs in.
    """
    _check_task(task)
    params = dict(protocol or {})
    factor = int(scale if scale is not None else params.get("factor", 4))
    info = degradation_info(task, src, resolution, mask, kernel, scale, factor)
    measured = (not degrade) if degrade is not None else info is not None
    sigma = DEFAULT_SIGMA_Y[task] if sigma_y is None else float(sigma_y)
    x, (h, w), op_task = src.pixels, src.pixels.shape[-2:], task
    if task == "sr4" and resolution is not None and resolution % factor:
        raise UsageError(f"the SR scale {factor} does not divide the prior's size {resolution}.")
    if task == "inpaint":
        if mask is None and src.alpha is not None and bool((src.alpha == 0).any()):
            mask = (src.alpha > 0).to(torch.float32)[None]
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.float32).reshape(1, *mask.shape[-2:])
            if tuple(mask.shape[-2:]) != (h, w):
                raise DataError(f"the mask is {mask.shape[-2]}×{mask.shape[-1]} but {src.name} is {h}×{w}; "
                                "masks are never resized: give one of the image's size.")
            params = {"mask": mask}
    size = _unknown_size(task, src, resolution, measured, factor, smallest)
    if task in ("gaussian_blur", "motion_blur") and kernel is not None:
        if kernel.shape[0] > size[0] or kernel.shape[1] > size[1]:
            raise DataError(f"the {kernel.shape[0]}×{kernel.shape[1]} kernel is larger than the "
                            f"{size[0]}×{size[1]} image; crop the kernel or give a larger image.")
        if task == "gaussian_blur" and not separable(kernel):
            raise DataError("the given kernel is not separable, so it cannot be gaussian_blur's blur with a reflect "
                            "boundary; solve it with --task motion_blur (any kernel, circular boundary).")
        params = {"kernel": kernel}  # gaussian_blur: separable, reflect boundary; motion_blur: circular
    elif task == "sr4":
        params["factor"] = factor
    elif task == "jpeg":
        q = quality if quality is not None else src.jpeg_quality if (measured and src.is_jpeg_file) else None
        if measured and src.is_jpeg_file and q is None:
            raise UsageError(f"{src.name} does not use standard IJG quantisation tables, so its quality is "
                             "unknown; pass the quality (--quality Q).")
        if q is not None:
            params["quality"] = int(q)
    if measured:
        need = {"inpaint": "mask" not in params, "motion_blur": "kernel" not in params}.get(op_task, False)
        if need:
            what = "a mask (--mask) or an alpha channel with holes" if task == "inpaint" else "a kernel (--kernel)"
            raise UsageError(f"reading {src.name} as {article(task)} measurement needs {what}: its protocol draws "
                             "that at random.")
    try:
        problem = make_problem(op_task, size if size[0] != size[1] else size[0], generator, sigma,
                               channels=x.shape[1], **params)
    except (TypeError, KeyError) as err:
        raise UsageError(f"bad protocol parameters for {task}: {err}") from None
    op = problem.operator
    details = {"task": task, **problem.details, "reading": "measurement" if measured else "clean",
               "reason": FORCED[degrade] if degrade is not None else info or NO_INFO[task],
               "size": f"{size[0]}×{size[1]}"}
    if op_task != task:
        details["operator"] = "circular convolution with the given kernel"
    shape = (x.shape[1], *size)
    if measured:
        y = x * op.mask if task == "inpaint" else x
        return Case(y.to(dtype), op, generator, False, None, details, shape)
    return Case(op.measure(x, [generator]).to(dtype), op, generator, True, x.to(dtype), details, shape)
