"""Inpainting: ``y = m ⊙ x`` with a binary mask (1 = observed, 0 = missing).

The measurement keeps the image's shape; missing pixels are exactly 0, also after noise (noise
is added on observed pixels only). ``A`` is diagonal, so its SVD is ``U = V = I`` and the
singular values are the mask itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._errors import OperatorError
from .base import GeneratorLike, LinearOperator, check_image
from .noise import NoiseModel

__all__ = ["Inpainting", "as_mask"]


def as_mask(mask: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The mask as a float32 ``B×C×H×W`` tensor (B, C ∈ {1, n}) after checking it is binary.

    Accepted shapes: ``H×W``, ``1×H×W``, ``C×H×W``, ``N×1×H×W``, ``N×C×H×W``.
    """
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).detach().to("cpu")
    if m.dim() not in (2, 3, 4) or min(m.shape) < 1:
        raise OperatorError(f"mask must be H×W, C×H×W or N×C×H×W, got shape {tuple(m.shape)}.")
    m = m.to(torch.float64)
    if not bool(((m == 0) | (m == 1)).all()):
        raise OperatorError("mask values must be exactly 0 (missing) or 1 (observed); threshold it, e.g. mask > 0.5.")
    while m.dim() < 4:
        m = m[None]
    return m.to(torch.float32)


class Inpainting(LinearOperator):
    """``A x = m ⊙ x`` for a fixed binary mask; per-sample masks (``N×…``) are allowed.

    A mask with one channel is shared by all channels; one with ``C > 1`` channels fixes the
    image's channel count. A mask with a batch axis of ``N > 1`` needs batches of exactly ``N``.
    """

    name = "inpaint"

    def __init__(self, mask: torch.Tensor | np.ndarray, channels: int | None = 3,
                 noise: NoiseModel | float | None = None) -> None:
        m = as_mask(mask)
        if m.shape[1] > 1:
            if channels is not None and channels != m.shape[1]:
                raise OperatorError(f"the mask has {m.shape[1]} channels but channels={channels}; "
                                    f"pass channels={m.shape[1]} or a one-channel mask.")
            channels = m.shape[1]
        super().__init__(noise=noise, channels=channels)
        self.register_buffer("mask", m)

    @property
    def fraction_missing(self) -> float:
        """Fraction of pixels to fill (mask == 0), over all samples and channels of the mask."""
        return 1.0 - float(self.mask.mean())

    def extra_repr(self) -> str:
        return (f"mask={tuple(self.mask.shape)}, missing={self.fraction_missing:.1%}, "
                f"channels={self.channels}, noise={self.noise.describe()!r}")

    def _check_size(self, height: int, width: int, batch: int | None) -> None:
        b, _, mh, mw = self.mask.shape
        if (height, width) != (mh, mw):
            raise OperatorError(f"image size {height}×{width} does not match the {mh}×{mw} mask; "
                                f"resize the image or build the operator with a matching mask.")
        if b > 1 and batch is not None and batch != b:
            raise OperatorError(f"this operator holds {b} per-sample masks but got a batch of {batch}; "
                                f"pass exactly {b} images or a mask without a batch axis.")

    def _m(self, like: torch.Tensor) -> torch.Tensor:
        return self._param(self.mask, like)

    def input_shape_for(self, y: torch.Tensor) -> tuple[int, ...]:
        self._check_x(y, "y")
        return tuple(y.shape)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        self._image_shape(input_shape)
        return tuple(int(d) for d in input_shape)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        return self._m(x) * x

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check_x(y, "y")
        return self._m(y) * y

    def pinv(self, y: torch.Tensor, rcond: float | None = None) -> torch.Tensor:
        """``A⁺ y = m ⊙ y`` (singular values are 0 or 1, so ``rcond`` changes nothing)."""
        return self.adjoint(y)

    def measure(self, x: torch.Tensor, generator: GeneratorLike = None) -> torch.Tensor:
        """``y = m ⊙ (x + n)``: noise only where observed, missing pixels exactly 0."""
        clean = self.apply(x)
        return self._m(clean) * self.noise.add(clean, generator)

    # -- SVD: U = V = I, s = mask ------------------------------------------------------------
    def V_t(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        return x.flatten(1)

    def V(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        c, h, w = self._image_shape(shape)
        self._check_coeffs(z, c * h * w, "V")
        self._check_size(h, w, z.shape[0])
        return z.reshape(-1, c, h, w)

    def U_t(self, y: torch.Tensor) -> torch.Tensor:
        check_image(y, self.channels, "y")
        return self.V_t(y)

    def U(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return self.V(z, shape)

    def _singulars(self, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        c, h, w = shape
        m = self.mask.to(device=device, dtype=dtype)
        return m.expand(m.shape[0], c, h, w).reshape(m.shape[0], -1)
