"""×f super-resolution: ``y = R_H x R_Wᵀ`` with a 1-D downsampling matrix on each axis.

Two kernels:

* ``"average"`` — block mean over ``f×f`` pixels. Its SVD is written down exactly, not computed:
  per block the singular value is ``1/f`` and ``V`` restricted to the block is the orthogonal
  ``f²×f²`` matrix ``D_f ⊗ D_f`` (``D_f`` = orthonormal DCT-II basis) whose first column is the
  constant vector; ``U`` is the identity.
* ``"bicubic"`` — antialiased bicubic downsampling as MATLAB's ``imresize``: Keys' cubic with
  ``a = −0.5`` stretched by ``f`` (support ``4f`` input pixels), output pixel ``i`` centred at
  input coordinate ``(i + ½)f − ½``, weights normalised to sum 1, and **symmetric** boundary
  (``x[−1] = x[0]``, half-sample mirror). The SVD is the Kronecker product of the two numerical
  1-D SVDs.

Input height and width must be multiples of ``f``; the output is ``H/f × W/f``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F

from ._errors import OperatorError
from ._linalg import Factor, SeparableOperator, frozen, scatter_rows, svd_factor
from .base import check_image
from .noise import NoiseModel

__all__ = ["SuperResolution", "average_factor", "bicubic_factor", "keys_cubic"]


def keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (support ``|t| < 2``)."""
    t = np.abs(t)
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@lru_cache(maxsize=32)
def bicubic_factor(n: int, factor: int) -> Factor:
    """The ``n/f × n`` antialiased bicubic downsampling matrix (symmetric boundary) and its SVD."""
    m = n // factor
    centre = (np.arange(m) + 0.5) * factor - 0.5
    index = np.floor(centre[:, None] - 2 * factor).astype(np.int64) + np.arange(4 * factor + 2)[None, :]
    taps = keys_cubic((index - centre[:, None]) / factor)
    taps = taps / taps.sum(axis=1, keepdims=True)
    return svd_factor(scatter_rows(m, n, taps, index, "symmetric"))


def dct_basis(f: int) -> np.ndarray:
    """Orthonormal DCT-II basis as rows (``f×f``); row 0 is the constant ``1/√f``."""
    t = np.arange(f) + 0.5
    basis = np.sqrt(2.0 / f) * np.cos(np.pi * np.outer(np.arange(f), t) / f)
    basis[0] = 1.0 / np.sqrt(f)
    return basis


@lru_cache(maxsize=32)
def average_factor(n: int, factor: int) -> Factor:
    """The ``n/f × n`` block-mean matrix with its exact SVD.

    ``U = I``, ``s = 1/√f`` for every block; the first ``n/f`` rows of ``Vᵀ`` are the blocks'
    normalised constant vectors, the rest the blocks' non-constant DCT vectors.
    """
    m, basis = n // factor, dct_basis(factor)
    R, Vt = np.zeros((m, n)), np.zeros((n, n))
    for i in range(m):
        block = slice(i * factor, (i + 1) * factor)
        R[i, block] = 1.0 / factor
        Vt[i, block] = basis[0]
        Vt[m + i * (factor - 1): m + (i + 1) * (factor - 1), block] = basis[1:]
    return Factor(*frozen(R, np.eye(m), np.full(m, 1.0 / math.sqrt(factor)), Vt))


class SuperResolution(SeparableOperator):
    """Downsampling by an integer ``factor`` (default 4) with a ``"bicubic"`` or ``"average"`` kernel."""

    def __init__(self, factor: int = 4, kernel: str = "bicubic", channels: int | None = 3,
                 noise: NoiseModel | float | None = None) -> None:
        super().__init__(noise=noise, channels=channels)
        if isinstance(factor, bool) or not isinstance(factor, Integral) or factor < 1:
            raise OperatorError(f"factor must be an integer >= 1, got {factor!r}.")
        if kernel not in ("bicubic", "average"):
            raise OperatorError(f"kernel must be 'bicubic' or 'average', got {kernel!r}.")
        self.factor, self.kernel = int(factor), kernel
        self.name = f"sr{self.factor}"

    def extra_repr(self) -> str:
        return f"factor={self.factor}, kernel={self.kernel!r}, channels={self.channels}, noise={self.noise.describe()!r}"

    def _check_size(self, height: int, width: int, batch: int | None) -> None:
        f = self.factor
        if height % f or width % f:
            raise OperatorError(f"image size {height}×{width} is not divisible by the SR factor {f}; "
                                f"crop it to {height - height % f}×{width - width % f}.")

    def _factors(self, height: int, width: int) -> tuple[Factor, Factor]:
        make = average_factor if self.kernel == "average" else bicubic_factor
        return make(height, self.factor), make(width, self.factor)

    def _out_hw(self, height: int, width: int) -> tuple[int, int]:
        return height // self.factor, width // self.factor

    def input_shape_for(self, y: torch.Tensor) -> tuple[int, ...]:
        check_image(y, self.channels, "y")
        n, c, h, w = y.shape
        return n, c, h * self.factor, w * self.factor

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == "bicubic":
            return super().apply(x)
        self._check_x(x)
        return F.avg_pool2d(x, self.factor)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if self.kernel == "bicubic":
            return super().adjoint(y)
        self.input_shape_for(y)
        f = self.factor
        return y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1) / f**2
