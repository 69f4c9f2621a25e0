"""Task names → operator classes: ``build(name, **params)`` and ``available()``.

Entries name their class as ``"module:Class"`` and are imported only when built, so an operator
whose module is missing or broken does not break the others. Each entry also has an
``example(shape, generator)`` factory — a small representative instance for an image of
``shape = (N, C, H, W)``, random parts drawn from ``generator`` — and ``example_shapes`` it fits;
the conformance tests run every registered operator through them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ._errors import OperatorError
from .base import Operator

Example = Callable[[Sequence[int], torch.Generator], Operator]


@dataclass(frozen=True)
class Entry:
    """One registered task: where its class lives, its default parameters and an example factory."""

    target: str
    example: Example
    example_shapes: tuple[tuple[int, int, int], ...]
    defaults: dict[str, Any] = field(default_factory=dict)


def _load(name: str, target: str) -> type:
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise OperatorError(f"operator {name!r} is registered but its module {module_name} does not exist yet; "
                            f"add {module_name.replace('.', '/')}.py or pick another of {available()}.") from e
    return getattr(module, cls_name)


def _odd_at_most(n: int, cap: int) -> int:
    n = min(n, cap)
    return n if n % 2 else n - 1


def _example_inpaint(shape: Sequence[int], g: torch.Generator) -> Operator:
    mask = (torch.rand(tuple(shape[-2:]), generator=g) < 0.5).float()
    return build("inpaint", mask=mask, channels=shape[-3])


def _example_gaussian(shape: Sequence[int], g: torch.Generator) -> Operator:
    return build("gaussian_blur", sigma=1.0, size=_odd_at_most(min(shape[-2:]), 5), channels=shape[-3])


def _example_motion(shape: Sequence[int], g: torch.Generator) -> Operator:
    kh, kw = min(shape[-2], 4), min(shape[-1], 3)
    kernel = torch.rand(kh, kw, generator=g, dtype=torch.float64)
    return build("motion_blur", kernel=kernel / kernel.sum(), channels=shape[-3])


def _example_sr(shape: Sequence[int], g: torch.Generator) -> Operator:
    return build("sr4", channels=shape[-3])


def _example_jpeg(shape: Sequence[int], g: torch.Generator) -> Operator:
    return build("jpeg")


REGISTRY: dict[str, Entry] = {
    "inpaint": Entry("operators.inpainting:Inpainting", _example_inpaint, ((3, 7, 9), (1, 5, 6))),
    "gaussian_blur": Entry("operators.blur:GaussianBlur", _example_gaussian, ((3, 7, 9), (1, 5, 6))),
    "motion_blur": Entry("operators.blur:MotionBlur", _example_motion, ((3, 7, 9), (1, 5, 6))),
    "sr4": Entry("operators.superres:SuperResolution", _example_sr, ((3, 12, 20), (1, 8, 4)), {"factor": 4}),
    "jpeg": Entry("operators.jpeg:JPEG", _example_jpeg, ((3, 16, 24), (3, 7, 9))),
}

_SR = re.compile(r"sr(\d+)")


def available() -> list[str]:
    """The registered task names, sorted."""
    return sorted(REGISTRY)


def _entry(name: str) -> tuple[Entry, dict[str, Any]]:
    """The entry for ``name`` with its defaults; ``sr<k>`` is SR by ``k`` (``sr4`` the listed one)."""
    if name in REGISTRY:
        return REGISTRY[name], dict(REGISTRY[name].defaults)
    match = _SR.fullmatch(str(name))
    if match:
        return REGISTRY["sr4"], {"factor": int(match.group(1))}
    raise OperatorError(f"unknown operator {name!r}; available: {', '.join(available())} (and sr<k> for SR by k).")


def build(name: str, **params: Any) -> Operator:
    """An operator by task name, e.g. ``build("sr4")`` or ``build("inpaint", mask=m, noise=0.05)``."""
    entry, defaults = _entry(name)
    return _load(name, entry.target)(**{**defaults, **params})


def example(name: str, shape: Sequence[int], generator: torch.Generator) -> Operator:
    """The entry's representative instance for images of ``shape`` (``(N, C, H, W)``)."""
    return _entry(name)[0].example(tuple(shape), generator)


def example_shapes(name: str) -> tuple[tuple[int, int, int], ...]:
    """The ``(C, H, W)`` image shapes the entry's example is meant for."""
    return _entry(name)[0].example_shapes
