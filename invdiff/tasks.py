"""Task protocols: how each task's operator is drawn for an image size (one place for CLI and benchmarks).

``size`` is an int (a square image) or an ``(H, W)`` pair. Lengths that scale with the image
scale with its short side ``s = min(H, W)``; the box hole of inpainting is half of each side
(a quarter of the area), centred or placed at random.

The DPS protocol (Chung et al. 2023) is stated at 256²: a 128×128 box hole, 92 % random missing
pixels, ×4 bicubic super-resolution, Gaussian blur 61×61 with std 3.0, motion blur 61×61 with
intensity 0.5, all with σ_y = 0.05 on the [-1, 1] scale. At other sizes lengths scale with the
image, **except the Gaussian std**: scaled by ¼ it would be 0.75 px at 64², which is almost no
blur, so below 256² the std is ``max(3·s/256, 2·min(1, s/64))`` — 2.0 px on a 15×15 kernel at
64² (``../shared/DESIGN.md``, "A 64×64 face protocol"). JPEG uses quality 10 and no added noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

import operators
from operators.generators import gaussian_kernel, make_mask, motion_kernel
from operators.noise import GaussianNoise

TASKS = ("inpaint", "gaussian_blur", "motion_blur", "sr4", "jpeg")
DEFAULT_SIGMA_Y = {"inpaint": 0.05, "gaussian_blur": 0.05, "motion_blur": 0.05, "sr4": 0.05, "jpeg": 0.0}
Size = int | tuple[int, int]


def image_hw(size: Size) -> tuple[int, int]:
    """``(H, W)`` of an int (square) or ``(H, W)`` size."""
    if isinstance(size, int):
        return size, size
    h, w = (int(v) for v in size)
    return h, w


def odd(n: float, minimum: int = 3) -> int:
    """The odd integer nearest below ``n`` (at least ``minimum``)."""
    k = max(minimum, int(n))
    return k if k % 2 else k - 1


def gaussian_std(size: int) -> float:
    """The protocol's Gaussian-blur std for an image side ``size`` (see module docstring)."""
    return max(3.0 * size / 256, 2.0 * min(1.0, size / 64))


@dataclass
class Problem:
    """An operator drawn for one image plus what was drawn (for the record)."""

    task: str
    operator: Any
    details: dict[str, Any] = field(default_factory=dict)


def make_problem(task: str, size: Size, generator: torch.Generator, sigma_y: float | None = None,
                 channels: int = 3, **params: Any) -> Problem:
    """Draw the ``task`` operator for a ``size×size`` (or ``H×W`` for a pair) image with the protocol's defaults.

    ``params`` override protocol choices: ``mask`` (a tensor), ``mask_kind`` (box | random | …, see
    ``operators.generators.MASK_KINDS``) and its parameters, ``kernel`` (a tensor), ``kernel_size``,
    ``std``, ``intensity``, ``factor``, ``kernel_type`` (bicubic | average), ``quality``.
    """
    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; choose one of {list(TASKS)}.")
    sigma_y = DEFAULT_SIGMA_Y[task] if sigma_y is None else float(sigma_y)
    noise = GaussianNoise(sigma_y)
    builder = {"inpaint": _inpaint, "gaussian_blur": _gaussian, "motion_blur": _motion, "sr4": _sr, "jpeg": _jpeg}[task]
    op, details = builder(size, generator, noise, channels, dict(params))
    details["sigma_y"] = sigma_y
    return Problem(task, op, details)


def _take(params: dict, key: str, default: Any) -> Any:
    return params.pop(key) if key in params else default


def _done(params: dict, task: str) -> None:
    if params:
        raise TypeError(f"unexpected parameters for task {task!r}: {sorted(params)}.")


def _inpaint(size, generator, noise, channels, params):
    mask = _take(params, "mask", None)
    kind = _take(params, "mask_kind", "box" if mask is None else "given")
    if mask is None:
        mask = make_mask(kind, image_hw(size), generator, **params)
        params.clear()
    _done(params, "inpaint")
    op = operators.Inpainting(mask, channels=channels, noise=noise)
    return op, {"mask_kind": kind, "fraction_missing": float(op.fraction_missing)}


def _gaussian(size, generator, noise, channels, params):
    kernel = _take(params, "kernel", None)
    if kernel is not None:  # a given (separable) kernel keeps the protocol's reflect boundary (issue 14, item 5)
        _done(params, "gaussian_blur")
        op = operators.SeparableBlur(kernel, boundary="reflect", channels=channels, noise=noise)
        return op, {"kernel_size": tuple(op.kernel.shape), "kernel": "given", "boundary": op.boundary}
    size = min(image_hw(size))
    ksize = _take(params, "kernel_size", min(odd(61 * size / 256), odd(size)))
    std = _take(params, "std", gaussian_std(size))
    _done(params, "gaussian_blur")
    op = operators.GaussianBlur(sigma=std, size=ksize, channels=channels, noise=noise)
    return op, {"kernel_size": ksize, "std": std, "boundary": getattr(op, "boundary", None)}


def _motion(size, generator, noise, channels, params):
    size = min(image_hw(size))
    kernel = _take(params, "kernel", None)
    ksize = _take(params, "kernel_size", min(odd(61 * size / 256, 5), odd(size)))
    intensity = _take(params, "intensity", 0.5)
    _done(params, "motion_blur")
    if kernel is None:
        kernel = motion_kernel(ksize, intensity=intensity, generator=generator)
        details = {"kernel_size": ksize, "intensity": intensity}
    else:
        details = {"kernel_size": tuple(kernel.shape), "kernel": "given"}
    details["boundary"] = "circular"  # MotionBlur's; saved so a re-solve knows which forward model made y
    return operators.MotionBlur(kernel, channels=channels, noise=noise), details


def _sr(size, generator, noise, channels, params):
    factor = _take(params, "factor", 4)
    kernel_type = _take(params, "kernel_type", "bicubic")
    _done(params, "sr4")
    return operators.SuperResolution(factor, kernel_type, channels=channels, noise=noise), {
        "factor": factor, "kernel": kernel_type}


def _jpeg(size, generator, noise, channels, params):
    quality = _take(params, "quality", 10)
    _done(params, "jpeg")
    return operators.JPEG(quality=quality, channels=channels, noise=noise), {"quality": quality}


def gaussian_kernel_for(size: int) -> torch.Tensor:
    """The protocol's Gaussian kernel as an explicit array (e.g. to save next to a result)."""
    return gaussian_kernel(min(odd(61 * size / 256), odd(size)), gaussian_std(size))
