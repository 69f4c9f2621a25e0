"""Degradation operators for imaging inverse problems: ``y = A(x) + n``.

Images are float ``N×C×H×W`` tensors in [0, 1]; σ_y is stated on the [-1, 1] scale. Linear
operators expose ``adjoint`` and an implicit SVD (``V_t``, ``V``, ``U_t``, ``U``, ``singulars``);
see :mod:`operators.base` for the layout. ``build(name, **params)`` makes one by task name.
"""

from __future__ import annotations

from typing import Any

from ._errors import NotLinearError, OperatorError
from .base import LinearOperator, Operator, trusted_inputs
from .blur import GaussianBlur, MotionBlur, SeparableBlur
from .inpainting import Inpainting
from .noise import GaussianNoise, NoiseModel, PoissonNoise
from .registry import available, build
from .superres import SuperResolution

__all__ = [
    "JPEG",
    "GaussianBlur",
    "GaussianNoise",
    "Inpainting",
    "LinearOperator",
    "MotionBlur",
    "NoiseModel",
    "NotLinearError",
    "Operator",
    "OperatorError",
    "PoissonNoise",
    "SeparableBlur",
    "SuperResolution",
    "available",
    "build",
    "trusted_inputs",
]


def __getattr__(name: str) -> Any:
    """``operators.JPEG`` is imported on first use, so a missing or broken jpeg.py breaks only JPEG."""
    if name == "JPEG":
        from .jpeg import JPEG

        return JPEG
    raise AttributeError(f"module 'operators' has no attribute {name!r}")
