"""Circular convolution and its real, orthogonal SVD through the 2-D FFT.

A circular convolution is diagonal in the (unitary) 2-D Fourier basis: ``ŷ_k = ĥ_k x̂_k``. The
basis is complex, so it is made real and orthogonal by pairing the Hermitian-symmetric
frequencies: for each pair ``{k, −k}`` (``k ≠ −k``) the coordinates ``√2·Re x̂_k`` and
``√2·Im x̂_k``; a self-conjugate frequency (``k = −k``: 0 or the Nyquist index on each axis) has a
real ``x̂_k`` and gives one coordinate. On the measurement side the same coordinates are taken of
``e^{−iφ_k} ŷ_k`` where ``ĥ_k = |ĥ_k| e^{iφ_k}``, so the singular values are ``|ĥ_k|`` (each pair's
twice); at a self-conjugate frequency ``ĥ_k`` is real and its sign is that rotation.
Coordinates per channel: self-conjugate first, then the pairs' real parts, then their imaginary
parts; channels one after another.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from ._errors import OperatorError
from ._linalg import as_torch, frozen
from .base import LinearOperator


@lru_cache(maxsize=32)
def fourier_pairs(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat indices of the self-conjugate frequencies, of one representative per pair, and the
    permutation that puts ``[self, pair, conjugate of pair]`` back in frequency order."""
    k1, k2 = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    flat = (k1 * width + k2).ravel()
    conj = ((-k1 % height) * width + (-k2 % width)).ravel()
    self_idx, rep = flat[flat == conj], flat[flat < conj]
    inverse = np.argsort(np.concatenate([self_idx, rep, conj[flat < conj]]))
    return frozen(self_idx, rep, inverse)


def _index(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A cached index array on ``like``'s device, converted once (:func:`~operators._linalg.as_torch`)."""
    return as_torch(a, like, torch.long)


def to_coords(spec: torch.Tensor) -> torch.Tensor:
    """Real orthonormal coordinates (``N×D``) of the unitary spectrum of a real image."""
    n, c, height, width = spec.shape
    self_idx, rep, _ = fourier_pairs(height, width)
    flat = spec.reshape(n, c, height * width)
    pairs = flat[..., _index(rep, spec)] * math.sqrt(2.0)
    return torch.cat([flat[..., _index(self_idx, spec)].real, pairs.real, pairs.imag], dim=-1).flatten(1)


def from_coords(z: torch.Tensor, c: int, height: int, width: int) -> torch.Tensor:
    """The Hermitian spectrum ``N×C×H×W`` whose real coordinates are ``z`` (inverse of :func:`to_coords`)."""
    self_idx, rep, inverse = fourier_pairs(height, width)
    parts = torch.split(z.reshape(z.shape[0], c, height * width), [len(self_idx), len(rep), len(rep)], dim=-1)
    a, re, im = (p / math.sqrt(2.0) if i else p for i, p in enumerate(parts))
    values = torch.cat([torch.complex(a, torch.zeros_like(a)), torch.complex(re, im), torch.complex(re, -im)], -1)
    return values[..., _index(inverse, z)].reshape(z.shape[0], c, height, width)


class CircularConvolution(LinearOperator):
    """``A x = h ⊛ x`` (circular, per channel, output the size of the input); SVD by the 2-D FFT.

    The kernel's centre, index ``(K_h // 2, K_w // 2)``, sits at pixel offset 0, so
    ``y[i] = Σ_t h[t] x[i − t + K//2]`` with indices taken modulo the image size.
    """

    @abstractmethod
    def _kernel(self, like: torch.Tensor) -> torch.Tensor:
        """The 2-D kernel on ``like``'s device and dtype."""

    @abstractmethod
    def _kernel_size(self) -> tuple[int, int]:
        """``(K_h, K_w)``."""

    def _check_size(self, height: int, width: int, batch: int | None) -> None:
        kh, kw = self._kernel_size()
        if kh > height or kw > width:
            raise OperatorError(f"the {kh}×{kw} blur kernel is larger than the {height}×{width} image; "
                                f"use a smaller kernel or a larger image.")

    def _placed(self, like: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The kernel zero-padded to ``H×W`` with its centre rolled to pixel ``(0, 0)``."""
        k = self._kernel(like)
        kh, kw = k.shape
        placed = torch.nn.functional.pad(k, (0, width - kw, 0, height - kh))
        return torch.roll(placed, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))

    def _spectrum(self, like: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``ĥ = FFT2(h)`` (unnormalised) of the centred kernel on an ``H×W`` image."""
        return torch.fft.fft2(self._placed(like, height, width))

    def _convolve(self, x: torch.Tensor, conjugate: bool) -> torch.Tensor:
        """``h ⊛ x`` (or the correlation ``Aᵀ x`` when ``conjugate``) through real FFTs."""
        height, width = x.shape[-2:]
        spec_h = torch.fft.rfft2(self._placed(x, height, width))
        spec_h = spec_h.conj() if conjugate else spec_h
        return torch.fft.irfft2(spec_h * torch.fft.rfft2(x), s=(height, width))

    def _phase(self, spec_h: torch.Tensor) -> torch.Tensor:
        """``e^{iφ_k}`` with ``ĥ_k = |ĥ_k| e^{iφ_k}``, built exactly Hermitian (sign at self-conjugate k)."""
        height, width = spec_h.shape
        self_idx, rep, inverse = fourier_pairs(height, width)
        flat = spec_h.reshape(-1)
        sign = torch.where(flat[_index(self_idx, flat)].real < 0, -1.0, 1.0).to(flat.real.dtype)
        h_rep = flat[_index(rep, flat)]
        mag = h_rep.abs()
        unit = torch.where(mag > torch.finfo(mag.dtype).tiny, h_rep / mag.clamp_min(torch.finfo(mag.dtype).tiny),
                           torch.ones_like(h_rep))
        phase = torch.cat([torch.complex(sign, torch.zeros_like(sign)), unit, unit.conj()])
        return phase[_index(inverse, flat)].reshape(height, width)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        self._image_shape(input_shape)
        return tuple(int(d) for d in input_shape)

    def input_shape_for(self, y: torch.Tensor) -> tuple[int, ...]:
        self._check_x(y, "y")
        return tuple(y.shape)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        return self._convolve(x, conjugate=False)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check_x(y, "y")
        return self._convolve(y, conjugate=True)

    def V_t(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        return to_coords(torch.fft.fft2(x, norm="ortho"))

    def V(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        c, height, width = self._image_shape(shape)
        self._check_coeffs(z, c * height * width, "V")
        return torch.fft.ifft2(from_coords(z, c, height, width), norm="ortho").real

    def U_t(self, y: torch.Tensor) -> torch.Tensor:
        self._check_x(y, "y")
        phase = self._phase(self._spectrum(y, *y.shape[-2:]))
        return to_coords(phase.conj() * torch.fft.fft2(y, norm="ortho"))

    def U(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        c, height, width = self._image_shape(shape)
        self._check_coeffs(z, c * height * width, "U")
        phase = self._phase(self._spectrum(z, height, width))
        return torch.fft.ifft2(phase * from_coords(z, c, height, width), norm="ortho").real

    def _singulars(self, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        c, height, width = shape
        self_idx, rep, _ = fourier_pairs(height, width)
        like = torch.empty(0, device=device, dtype=dtype)
        mag = self._spectrum(like, height, width).reshape(-1).abs()
        per_channel = torch.cat([mag[_index(self_idx, like)], mag[_index(rep, like)], mag[_index(rep, like)]])
        return per_channel.repeat(c)[None]
