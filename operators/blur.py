"""Blur operators: Gaussian (separable or FFT) and motion (circular convolution, FFT SVD).

Both keep the image size. Convolution convention: ``y[i] = Σ_t h[t] x[i − t + K//2]`` (the
kernel's centre is index ``K//2`` on each axis); what happens past the border is the operator's
stated boundary rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from ._errors import OperatorError
from ._fft import CircularConvolution
from ._linalg import BOUNDARIES, Factor, SeparableOperator, conv_matrix, svd_factor
from .noise import NoiseModel

__all__ = ["GaussianBlur", "MotionBlur", "SeparableBlur", "gaussian_taps"]


def gaussian_taps(sigma: float, size: int) -> np.ndarray:
    """Normalised 1-D Gaussian, ``g[t] ∝ exp(−(t − c)² / 2σ²)``, ``c = (size − 1)/2``, float64."""
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    return g / g.sum()


@lru_cache(maxsize=32)
def gaussian_factor(n: int, sigma: float, size: int, boundary: str) -> Factor:
    """The ``n×n`` 1-D Gaussian blur matrix under ``boundary`` and its SVD."""
    return svd_factor(conv_matrix(gaussian_taps(sigma, size), n, boundary))


class GaussianBlur(CircularConvolution, SeparableOperator):
    """Isotropic Gaussian blur with std ``sigma`` px on a ``size×size`` kernel (DPS: 3.0, 61).

    ``method="separable"`` (default) applies the two 1-D blur matrices (``H×H`` and ``W×W``) under
    ``boundary`` ∈ {reflect (default, DPS's reflection padding), symmetric, replicate, zero,
    circular}; its SVD is the Kronecker product of the two 1-D SVDs. ``method="fft"`` is the
    circular convolution with the same 2-D kernel, diagonalised by the FFT (boundary must be
    circular). The two agree exactly when the separable form uses ``boundary="circular"``.
    """

    name = "gaussian_blur"

    def __init__(self, sigma: float = 3.0, size: int = 61, method: str = "separable", boundary: str | None = None,
                 channels: int | None = 3, noise: NoiseModel | float | None = None) -> None:
        super().__init__(noise=noise, channels=channels)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise OperatorError(f"sigma must be a positive number of pixels, got {sigma!r}.")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise OperatorError(f"size must be an odd positive int (the kernel needs a centre pixel), got {size!r}.")
        if method not in ("separable", "fft"):
            raise OperatorError(f"method must be 'separable' or 'fft', got {method!r}.")
        if boundary is None:
            boundary = "reflect" if method == "separable" else "circular"
        if boundary not in BOUNDARIES:
            raise OperatorError(f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}.")
        if method == "fft" and boundary != "circular":
            raise OperatorError(f"method='fft' is a circular convolution; use boundary='circular' or "
                                f"method='separable' for boundary={boundary!r}.")
        self.sigma, self.size, self.method, self.boundary = float(sigma), size, method, boundary
        g = torch.from_numpy(gaussian_taps(self.sigma, size))
        self.register_buffer("kernel", torch.outer(g, g))

    def extra_repr(self) -> str:
        return (f"sigma={self.sigma:g}, size={self.size}, method={self.method!r}, boundary={self.boundary!r}, "
                f"channels={self.channels}, noise={self.noise.describe()!r}")

    # -- the two machineries ------------------------------------------------------------------
    def _kernel(self, like: torch.Tensor) -> torch.Tensor:
        return self._param(self.kernel, like)

    def _kernel_size(self) -> tuple[int, int]:
        return self.size, self.size

    def _factors(self, height: int, width: int) -> tuple[Factor, Factor]:
        return (gaussian_factor(height, self.sigma, self.size, self.boundary),
                gaussian_factor(width, self.sigma, self.size, self.boundary))

    def _impl(self) -> type[CircularConvolution | SeparableOperator]:
        """The machinery ``method`` selects; every linear view dispatches to it."""
        return CircularConvolution if self.method == "fft" else SeparableOperator

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return self._impl().apply(self, x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._impl().adjoint(self, y)

    def V_t(self, x: torch.Tensor) -> torch.Tensor:
        return self._impl().V_t(self, x)

    def V(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return self._impl().V(self, z, shape)

    def U_t(self, y: torch.Tensor) -> torch.Tensor:
        return self._impl().U_t(self, y)

    def U(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return self._impl().U(self, z, shape)

    def _singulars(self, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return self._impl()._singulars(self, shape, device, dtype)


#: A kernel is separable when s₂ ≤ SEPARABLE_RTOL · s₁. A Gaussian kernel saved as an 8-bit image and read
#: back (``--save-all`` writes ``NAME.kernel.png``) is rank 1 only up to its rounding: s₂/s₁ ≈ 1e-3 for the
#: protocol's kernels; a genuinely two-dimensional kernel (motion, disc) has s₂/s₁ ≳ 0.1.
SEPARABLE_RTOL = 1e-2


@lru_cache(maxsize=32)
def taps_factor(n: int, taps: tuple[float, ...], boundary: str) -> Factor:
    """The ``n×n`` 1-D blur matrix of ``taps`` under ``boundary`` and its SVD."""
    return svd_factor(conv_matrix(np.asarray(taps), n, boundary))


class SeparableBlur(SeparableOperator):
    """Blur by a given separable (rank-1) 2-D kernel under a stated ``boundary`` (default reflect).

    A Gaussian kernel saved next to a result (``invdiff.tasks.gaussian_kernel_for``) comes back as a
    2-D array; re-solving with it must use the operator that made the measurement — the protocol's
    reflect boundary — not a circular convolution. The kernel ``k = s₁ u₁ v₁ᵀ`` (its SVD) is split into
    column taps √s₁ u₁ and row taps √s₁ v₁, so ``A X = R_H X R_Wᵀ`` with the two 1-D blur matrices,
    and the SVD view is that of :class:`~operators._linalg.SeparableOperator`. A kernel of rank > 1
    (second singular value above :data:`SEPARABLE_RTOL` of the first) is refused: use :class:`MotionBlur`.
    Below it the kernel is taken as its rank-1 part (``kernel`` holds that part).
    """

    name = "gaussian_blur"

    def __init__(self, kernel: torch.Tensor | np.ndarray, boundary: str = "reflect", channels: int | None = 3,
                 noise: NoiseModel | float | None = None) -> None:
        super().__init__(noise=noise, channels=channels)
        k = np.asarray(kernel.detach().cpu() if isinstance(kernel, torch.Tensor) else kernel, dtype=np.float64)
        if k.ndim != 2 or min(k.shape) < 1 or not np.isfinite(k).all():
            raise OperatorError(f"a blur kernel must be a finite 2-D array, got shape {k.shape}.")
        if boundary not in BOUNDARIES:
            raise OperatorError(f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}.")
        u, s, vt = np.linalg.svd(k)
        if s[0] <= 0 or (len(s) > 1 and s[1] > SEPARABLE_RTOL * s[0]):
            raise OperatorError("the kernel is not separable (rank 1), so it has no row/column split; "
                                "use MotionBlur (circular boundary) for a general kernel.")
        sign = 1.0 if u[:, 0].sum() >= 0 else -1.0
        self.col_taps = tuple(float(v) for v in sign * np.sqrt(s[0]) * u[:, 0])
        self.row_taps = tuple(float(v) for v in sign * np.sqrt(s[0]) * vt[0])
        self.boundary = boundary
        self.register_buffer("kernel", torch.from_numpy(np.outer(self.col_taps, self.row_taps)))

    def extra_repr(self) -> str:
        return (f"kernel={tuple(self.kernel.shape)}, boundary={self.boundary!r}, channels={self.channels}, "
                f"noise={self.noise.describe()!r}")

    def _check_size(self, height: int, width: int, batch: int | None) -> None:
        kh, kw = self.kernel.shape
        if kh > height or kw > width:
            raise OperatorError(f"the {kh}×{kw} blur kernel is larger than the {height}×{width} image; "
                                f"use a smaller kernel or a larger image.")

    def input_shape_for(self, y: torch.Tensor) -> tuple[int, ...]:
        self._check_x(y, "y")  # blur keeps the size
        return tuple(y.shape)

    def _factors(self, height: int, width: int) -> tuple[Factor, Factor]:
        return taps_factor(height, self.col_taps, self.boundary), taps_factor(width, self.row_taps, self.boundary)


class MotionBlur(CircularConvolution):
    """Blur by an arbitrary 2-D kernel (e.g. a camera-shake trajectory), circular boundary.

    ``kernel``: a 2-D tensor or array, any (odd or even) size no larger than the image, non-negative
    (down to −1e-3·max for rounding) and summing to 1 within 1e-3 — it is used as given, not
    renormalised. The SVD is the real FFT one of :class:`~operators._fft.CircularConvolution`.
    """

    name = "motion_blur"

    def __init__(self, kernel: torch.Tensor | np.ndarray, channels: int | None = 3,
                 noise: NoiseModel | float | None = None) -> None:
        super().__init__(noise=noise, channels=channels)
        k = torch.as_tensor(np.asarray(kernel) if not isinstance(kernel, torch.Tensor) else kernel)
        k = k.detach().to(device="cpu", dtype=torch.float64)
        if k.dim() != 2 or min(k.shape) < 1:
            raise OperatorError(f"kernel must be a 2-D K_h×K_w array, got shape {tuple(k.shape)}.")
        if not bool(torch.isfinite(k).all()):
            raise OperatorError("kernel contains NaN or infinite values.")
        if abs(float(k.sum()) - 1.0) > 1e-3:
            raise OperatorError(f"kernel must sum to 1 (it sums to {float(k.sum()):.6g}); divide it by its sum.")
        if float(k.min()) < -1e-3 * float(k.max()):
            raise OperatorError(f"kernel must be non-negative (its minimum is {float(k.min()):.3g}); clip it at 0.")
        self.register_buffer("kernel", k.clone())

    def extra_repr(self) -> str:
        return f"kernel={tuple(self.kernel.shape)}, channels={self.channels}, noise={self.noise.describe()!r}"

    def _kernel(self, like: torch.Tensor) -> torch.Tensor:
        return self._param(self.kernel, like)

    def _kernel_size(self) -> tuple[int, int]:
        return tuple(self.kernel.shape)
