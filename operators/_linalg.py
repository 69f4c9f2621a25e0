"""Separable operators ``A X = R_H X R_Wᵀ`` (per channel) and their Kronecker SVD.

With the 1-D SVDs ``R_H = U_H S_H V_Hᵀ`` (``h×H``) and ``R_W = U_W S_W V_Wᵀ`` (``w×W``), the 2-D
operator on a row-major image is ``R_H ⊗ R_W = (U_H ⊗ U_W)(S_H ⊗ S_W)(V_H ⊗ V_W)ᵀ``: its
singular values are the products ``s_H[i] s_W[j]`` (``i < h, j < w``) and the right factor is
applied as ``V_Hᵀ X V_W``. The 1-D factors are float64 numpy arrays made by pure, cached
functions of the image size; they are never stored on the operator, and :func:`as_torch` converts
each to the input's device and dtype once, keeping the copy for as long as the numpy array lives.
"""

from __future__ import annotations

import threading
import weakref
from abc import abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from ._errors import OperatorError
from .base import LinearOperator

BOUNDARIES = ("circular", "reflect", "symmetric", "replicate", "zero")


class Factor(NamedTuple):
    """A 1-D operator ``R`` (``m×n``, ``m ≤ n``) with its full SVD ``R = U diag(s) Vt[:m]``."""

    R: np.ndarray
    U: np.ndarray
    s: np.ndarray
    Vt: np.ndarray


def frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Make cached arrays read-only, so nobody can change a shared cache entry."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


def svd_factor(R: np.ndarray) -> Factor:
    """The full SVD of a 1-D operator (numpy, float64), frozen for caching."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape[0] > R.shape[1]:
        raise OperatorError(f"a 1-D factor must not have more rows than columns, got {R.shape}.")
    U, s, Vt = np.linalg.svd(R, full_matrices=True)
    return Factor(*frozen(R, U, s, Vt))


def fold_index(j: np.ndarray, n: int, boundary: str) -> np.ndarray:
    """Map (possibly out-of-range) sample positions ``j`` into ``[0, n)``; ``-1`` means zero.

    ``reflect`` mirrors about the edge samples (x[-1] = x[1]), ``symmetric`` about the edges
    between samples (x[-1] = x[0]), ``replicate`` repeats the edge, ``circular`` wraps around.
    """
    j = np.asarray(j, dtype=np.int64)
    if boundary == "circular":
        return j % n
    if boundary == "reflect":
        if n == 1:
            return np.zeros_like(j)
        p = j % (2 * n - 2)
        return np.where(p >= n, 2 * n - 2 - p, p)
    if boundary == "symmetric":
        p = j % (2 * n)
        return np.where(p >= n, 2 * n - 1 - p, p)
    if boundary == "replicate":
        return np.clip(j, 0, n - 1)
    if boundary == "zero":
        return np.where((j >= 0) & (j < n), j, -1)
    raise OperatorError(f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}.")


def scatter_rows(rows: int, n: int, taps: np.ndarray, index: np.ndarray, boundary: str) -> np.ndarray:
    """A ``rows×n`` matrix with ``M[i, fold(index[i, t])] += taps[i, t]``."""
    cols = fold_index(index, n, boundary)
    keep = cols >= 0
    M = np.zeros((rows, n))
    np.add.at(M, (np.broadcast_to(np.arange(rows)[:, None], cols.shape)[keep], cols[keep]), taps[keep])
    return M


def conv_matrix(taps: np.ndarray, n: int, boundary: str) -> np.ndarray:
    """``n×n`` matrix of the 1-D convolution ``y[i] = Σ_t k[t] x[i − t + c]``, ``c = len(k)//2``."""
    taps = np.asarray(taps, dtype=np.float64)
    t = np.arange(len(taps))
    index = np.arange(n)[:, None] - t[None, :] + len(taps) // 2
    return scatter_rows(n, n, np.broadcast_to(taps, index.shape), index, boundary)


CopyKey = tuple[int, torch.device, torch.dtype]
_DEVICE_COPIES: dict[CopyKey, tuple[weakref.ref, torch.Tensor]] = {}
_LOCK = threading.RLock()  # re-entrant: an entry's eviction may run inside the lock (a collection there)


def _forget(key: CopyKey, ref: weakref.ref) -> None:
    """Drop ``key``'s copy when its numpy array dies (only the entry that ``ref`` belongs to)."""
    with _LOCK:
        if _DEVICE_COPIES.get(key, (None,))[0] is ref:
            del _DEVICE_COPIES[key]


def as_torch(a: np.ndarray, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The cached numpy array ``a`` on ``like``'s device, as ``like``'s dtype (or ``dtype``), converted once.

    Why: the SVD views used to run ``torch.tensor(a, device=…)`` at every call, on a GPU a synchronous
    pageable host→device copy (RePaint's spectral merge: 8 per step, 2,410 steps for a 768×512 photo;
    RePaint took 141–151 s per image on Gaussian blur against 18.8 s on inpainting, on an H200).
    ``V(V_t(x))`` of a 1×3×512×768 float32 image, uncached → cached (benchmarks/speed/svd_views.py,
    median of 60, 1 thread of the shared 2-core CPU): gaussian_blur 60.07 → 59.58 ms, sr4 59.98 →
    59.48 ms, motion_blur 19.16 → 18.81 ms (the FFT operators' frequency index arrays, operators._fft,
    come through here too); on the CPU the copy is a memcpy (≈ 0.5 ms). On an H200 (torch 2.11,
    benchmarks/results/speed/svd_views_768_h200.json): gaussian_blur 31.15 → 0.81 ms, sr4 38.49 → 0.90 ms,
    motion_blur 1.37 → 0.70 ms.

    Keyed by ``(id(a), device, dtype)``. An entry holds ``a`` only weakly and goes when ``a`` dies
    (the factors' lru caches evict), and a hit must still be ``a`` itself, so a reused id never gets
    a stale tensor. The copy is made outside inference mode, so autograd can use it later. The
    returned tensor is shared by every caller: never change it in place (a copy found changed, by its
    version counter, raises). Thread-safe: at worst two threads convert the same array once each.
    """
    dtype = like.dtype if dtype is None else dtype
    key = (id(a), like.device, dtype)
    entry = _DEVICE_COPIES.get(key)
    if entry is not None and entry[0]() is a:
        if entry[1]._version:
            raise RuntimeError("a shared device copy of a cached operator factor was changed in place; "
                               "copy it (.clone()) before modifying it.")
        return entry[1]
    with torch.inference_mode(False):
        tensor = torch.tensor(a, device=like.device, dtype=dtype)
    with _LOCK:
        _DEVICE_COPIES[key] = (weakref.ref(a, lambda ref, key=key: _forget(key, ref)), tensor)
    return tensor


class SeparableOperator(LinearOperator):
    """``A X = R_H X R_Wᵀ`` for every channel; SVD = Kronecker product of the 1-D SVDs.

    ``V_t`` layout per image: all channels' paired coefficients ``(V_Hᵀ X V_W)[:h, :w]`` first
    (channel-major), then the null-space rest ``[:h, w:]`` and ``[h:, :]`` of every channel.
    """

    @abstractmethod
    def _factors(self, height: int, width: int) -> tuple[Factor, Factor]:
        """The 1-D factors ``(R_H, R_W)`` for an ``H×W`` image (cached numpy)."""

    def _out_hw(self, height: int, width: int) -> tuple[int, int]:
        fh, fw = self._factors(height, width)
        return fh.R.shape[0], fw.R.shape[0]

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        c, height, width = self._image_shape(input_shape)
        return (*tuple(input_shape)[:-3], c, *self._out_hw(height, width))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        fh, fw = self._factors(x.shape[-2], x.shape[-1])
        return as_torch(fh.R, x) @ x @ as_torch(fw.R, x).T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        height, width = self.input_shape_for(y)[-2:]
        fh, fw = self._factors(height, width)
        return as_torch(fh.R, y).T @ y @ as_torch(fw.R, y)

    def V_t(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        fh, fw = self._factors(x.shape[-2], x.shape[-1])
        h, w = fh.R.shape[0], fw.R.shape[0]
        xc = as_torch(fh.Vt, x) @ x @ as_torch(fw.Vt, x).T
        parts = (xc[..., :h, :w], xc[..., :h, w:], xc[..., h:, :])
        return torch.cat([p.flatten(1) for p in parts], dim=1)

    def V(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        c, height, width = self._image_shape(shape)
        self._check_coeffs(z, c * height * width, "V")
        fh, fw = self._factors(height, width)
        h, w = fh.R.shape[0], fw.R.shape[0]
        n = z.shape[0]
        a, b, rest = torch.split(z, [c * h * w, c * h * (width - w), c * (height - h) * width], dim=1)
        top = torch.cat([a.reshape(n, c, h, w), b.reshape(n, c, h, width - w)], dim=-1)
        xc = torch.cat([top, rest.reshape(n, c, height - h, width)], dim=-2)
        return as_torch(fh.Vt, z).T @ xc @ as_torch(fw.Vt, z)

    def U_t(self, y: torch.Tensor) -> torch.Tensor:
        height, width = self.input_shape_for(y)[-2:]
        fh, fw = self._factors(height, width)
        return (as_torch(fh.U, y).T @ y @ as_torch(fw.U, y)).flatten(1)

    def U(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        c, height, width = self._image_shape(shape)
        fh, fw = self._factors(height, width)
        h, w = fh.R.shape[0], fw.R.shape[0]
        self._check_coeffs(z, c * h * w, "U")
        return as_torch(fh.U, z) @ z.reshape(-1, c, h, w) @ as_torch(fw.U, z).T

    def _singulars(self, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        c, height, width = shape
        fh, fw = self._factors(height, width)
        s = np.tile(np.outer(fh.s, fw.s).ravel(), c)
        return torch.tensor(s, device=device, dtype=dtype)[None]
