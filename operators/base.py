"""The operator contract every degradation shares.

An operator is the physics of one measurement ``y = A(x) + n``. Images are float tensors
``N×C×H×W`` in ``[0, 1]`` (float32 or float64, CPU or CUDA). Parameters (mask, kernel, scale,
quality) are constructor state, registered as buffers, and are never changed by a call: every
method converts them to the input's device and dtype on the fly (:meth:`Operator._param`) and
keeps nothing.

Linear operators also expose an SVD view ``A = U diag(s) Vᵀ`` applied implicitly, in the layout
DDRM needs (Kawar et al. 2022). ``shape`` below is always the **image (input) shape**, ``(C, H, W)``
or ``(N, C, H, W)``: the flat coefficient vectors do not say which image size they belong to.

* ``V_t(x)``  – ``N×D`` real coefficients, ``D = C·H·W`` (input dimension);
* ``U_t(y)``  – ``N×M`` real coefficients, ``M`` = measurement dimension;
* ``singulars(like)`` – ``B×k`` for an image-shaped ``like`` (its shape, device and dtype are
  used), with ``B ∈ {1, N}`` and ``k ≤ min(M, D)``: coordinate ``i < k`` of ``V_t(x)`` is paired
  with coordinate ``i`` of ``U_t(y)`` through ``s_i`` (which may be 0); coordinates ``i ≥ k`` of
  ``V_t`` span the null space, those of ``U_t`` the part of the measurement space ``A`` cannot reach.
  The values are not sorted.
* ``V(z, shape)`` / ``U(z, shape)`` are the inverse (transpose) maps back to image / measurement.

So ``A x = U(pad(s ⊙ V_t(x)[:, :k]), shape)`` and the Moore–Penrose pseudo-inverse is
``A⁺ y = V(pad(s⁺ ⊙ U_t(y)[:, :k]), shape)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from ._errors import NotLinearError, OperatorError
from .noise import GaussianNoise, GeneratorLike, NoiseModel

__all__ = ["GeneratorLike", "LinearOperator", "NotLinearError", "Operator", "OperatorError", "check_image",
           "trusted_inputs"]

#: whether :func:`check_image` scans values for NaN/∞ (off only inside :func:`trusted_inputs`)
_SCAN_VALUES: contextvars.ContextVar[bool] = contextvars.ContextVar("operators_scan_values", default=True)


@contextlib.contextmanager
def trusted_inputs() -> Iterator[None]:
    """Skip the NaN/∞ scan of inputs inside this block; shapes, dtypes and sizes are still checked.

    The scan reads a value back to the host, so on a GPU every operator call would wait for all
    queued work to finish. An iterative solver that validated its measurement once and feeds the
    operator only tensors it computed itself uses this block and checks its *output* once instead.
    """
    token = _SCAN_VALUES.set(False)
    try:
        yield
    finally:
        _SCAN_VALUES.reset(token)


def check_image(x: torch.Tensor, channels: int | None = None, name: str = "x") -> None:
    """Raise :class:`OperatorError` unless ``x`` is a finite floating N×C×H×W tensor."""
    if not isinstance(x, torch.Tensor):
        raise OperatorError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 4:
        raise OperatorError(
            f"{name} must be a 4-D N×C×H×W tensor, got shape {tuple(x.shape)}; add a batch axis with x[None]."
        )
    if not x.is_floating_point():
        raise OperatorError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}; use x.float() / 255.")
    if channels is not None and x.shape[1] != channels:
        raise OperatorError(
            f"{name} has {x.shape[1]} channels but this operator was built for {channels}; "
            f"pass N×C×H×W images (channels first) or build it with channels={x.shape[1]}."
        )
    if x.device.type != "meta" and _SCAN_VALUES.get() and not bool(torch.isfinite(x).all()):
        raise OperatorError(f"{name} contains NaN or infinite values; clean the input before measuring it.")


def as_noise(noise: NoiseModel | float | None) -> NoiseModel:
    """A noise model from ``None`` (noiseless), a σ_y on the [-1, 1] scale, or a model."""
    if noise is None:
        return GaussianNoise(0.0)
    if isinstance(noise, NoiseModel):
        return noise
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        return GaussianNoise(float(noise))
    raise OperatorError(f"noise must be a NoiseModel or a σ_y on the [-1, 1] scale, got {type(noise).__name__}.")


class Operator(torch.nn.Module, ABC):
    """Base class: ``apply`` (A), ``pinv`` (A⁺) and ``measure`` (A + noise).

    ``noise`` is a :class:`~operators.noise.NoiseModel` or a float σ_y (Gaussian); σ_y is stated
    on the [-1, 1] image scale (DPS convention), see :mod:`operators.noise`. ``channels`` fixes the
    channel count inputs must have (``None``: any).
    """

    #: registry name, e.g. ``"inpaint"``
    name: str = "operator"
    #: whether ``A`` is linear (adjoint and SVD exist)
    linear: bool = False

    def __init__(self, noise: NoiseModel | float | None = None, channels: int | None = None) -> None:
        super().__init__()
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
            raise OperatorError(f"channels must be a positive int or None (any), got {channels!r}.")
        self.noise = as_noise(noise)
        self.channels = channels

    # -- the forward model -------------------------------------------------------------------
    @abstractmethod
    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free measurement ``A(x)``."""

    @abstractmethod
    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Pseudo-inverse ``A⁺ y`` (for JPEG: decoding / dequantisation)."""

    def measure(self, x: torch.Tensor, generator: GeneratorLike = None) -> torch.Tensor:
        """A noisy measurement ``y = A(x) + n`` with noise drawn from ``generator``.

        ``generator`` is one ``torch.Generator`` for the whole batch or a sequence of one per
        sample (then each sample's noise depends only on its own generator). It may be ``None``
        only when the noise model is noiseless.
        """
        return self.noise.add(self.apply(x), generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # nn.Module protocol: same as apply
        return self.apply(x)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of ``A(x)`` for an input of ``input_shape`` (computed on a meta tensor)."""
        return tuple(self.apply(torch.zeros(tuple(input_shape), device="meta")).shape)

    # -- solver hooks ------------------------------------------------------------------------
    #: whether :meth:`apply_differentiable` exists (gradient-based solvers: DPS, ΠGDM, DAPS)
    differentiable: bool = False
    #: whether :meth:`project` exists (consistency-projection solvers on non-linear operators)
    projectable: bool = False

    def apply_differentiable(self, x: torch.Tensor) -> torch.Tensor:
        """``A(x)`` through which gradients flow; linear operators: :meth:`apply` itself."""
        raise OperatorError(f"{type(self).__name__} has no differentiable forward model.")

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The image closest to ``x`` (both on [0, 1]) that is consistent with the noiseless measurement ``y``."""
        raise OperatorError(f"{type(self).__name__} has no consistency projection.")

    # -- linear views (overridden by linear operators) ---------------------------------------
    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint ``Aᵀ y``; only linear operators have one."""
        raise NotLinearError(f"{type(self).__name__} is not linear, so it has no adjoint.")

    @property
    def has_svd(self) -> bool:
        """Whether the implicit SVD view (``V_t``, ``V``, ``U_t``, ``U``, ``singulars``) exists."""
        return False

    def _param(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A stored parameter on ``like``'s device and dtype, without storing the converted copy."""
        return t.to(device=like.device, dtype=like.dtype)

    def _check_x(self, x: torch.Tensor, name: str = "x") -> None:
        """Validate an input image: :func:`check_image` plus the operator's size rules."""
        check_image(x, self.channels, name)
        self._check_size(x.shape[-2], x.shape[-1], x.shape[0])

    def _check_size(self, height: int, width: int, batch: int | None) -> None:
        """Operator-specific size rules for an input image (default: none); ``batch`` may be unknown."""


class LinearOperator(Operator):
    """A linear operator with an adjoint and an implicit SVD (layout: module docstring).

    Subclasses implement ``apply``, ``adjoint``, ``V_t``, ``V``, ``U_t``, ``U``, ``_singulars``
    and ``input_shape_for``; ``pinv`` then follows in closed form.
    """

    linear = True
    differentiable = True

    def apply_differentiable(self, x: torch.Tensor) -> torch.Tensor:
        """A linear ``apply`` is already differentiable."""
        return self.apply(x)

    @abstractmethod
    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint ``Aᵀ y``."""

    @property
    def has_svd(self) -> bool:
        return True

    @abstractmethod
    def V_t(self, x: torch.Tensor) -> torch.Tensor:
        """``Vᵀ x``: image → ``N×D`` coefficients."""

    @abstractmethod
    def V(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        """``V z``: ``N×D`` coefficients → image of ``shape``."""

    @abstractmethod
    def U_t(self, y: torch.Tensor) -> torch.Tensor:
        """``Uᵀ y``: measurement → ``N×M`` coefficients."""

    @abstractmethod
    def U(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        """``U z``: ``N×M`` coefficients → measurement of an image of ``shape``."""

    @abstractmethod
    def _singulars(self, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Singular values ``B×k`` for images of ``shape = (C, H, W)``."""

    @abstractmethod
    def input_shape_for(self, y: torch.Tensor) -> tuple[int, ...]:
        """Shape ``N×C×H×W`` of the image ``x`` whose measurement has ``y``'s shape (validates ``y``)."""

    def singulars(self, like: torch.Tensor) -> torch.Tensor:
        """Singular values, ``B×k``, for images shaped like ``like`` (on its device and dtype)."""
        self._check_x(like, "like")
        s = self._singulars(self._image_shape(like.shape), like.device, like.dtype)
        if s.shape[0] not in (1, like.shape[0]):
            raise OperatorError(f"this operator holds {s.shape[0]} per-sample parameters but like has batch "
                                f"{like.shape[0]}; pass a batch of {s.shape[0]}.")
        return s

    def singulars_for(self, shape: Sequence[int], device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Singular values ``B×k`` for images of ``shape`` ((C, H, W) or (N, C, H, W)), without an image."""
        return self._singulars(self._image_shape(shape), torch.device(device), dtype)

    def pinv(self, y: torch.Tensor, rcond: float | None = None) -> torch.Tensor:
        """Moore–Penrose pseudo-inverse through the SVD.

        Singular values at or below ``rcond · max(s)`` are treated as zero. Default: 10 · the
        dtype's machine epsilon · max(H, W) — the SVD is assembled from factors of size at most
        H or W (1-D matrices or FFT lengths), so that is the scale of its rounding error.
        """
        shape = self.input_shape_for(y)
        z = self.U_t(y)
        s = self._singulars(self._image_shape(shape), z.device, z.dtype)
        if rcond is None:
            rcond = 10 * torch.finfo(z.dtype).eps * max(shape[-2:])
        keep = s > rcond * s.amax(dim=1, keepdim=True)
        s_inv = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))
        k = s.shape[1]
        return self.V(F.pad(z[:, :k] * s_inv, (0, math.prod(shape[1:]) - k)), shape)

    # -- helpers for subclasses ---------------------------------------------------------------
    def _image_shape(self, shape: Sequence[int]) -> tuple[int, int, int]:
        """``(C, H, W)`` from an image shape given as ``(C, H, W)`` or ``(N, C, H, W)``; validated."""
        shape = tuple(int(d) for d in shape)
        if len(shape) not in (3, 4) or min(shape) < 1:
            raise OperatorError(f"shape must be the image shape (C, H, W) or (N, C, H, W), got {shape}.")
        c, h, w = shape[-3:]
        if self.channels is not None and c != self.channels:
            raise OperatorError(f"shape has {c} channels but this operator was built for {self.channels}.")
        self._check_size(h, w, shape[0] if len(shape) == 4 else None)
        return c, h, w

    @staticmethod
    def _check_coeffs(z: torch.Tensor, size: int, what: str) -> None:
        """Raise unless ``z`` is an ``N×size`` float tensor of coefficients."""
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != size or not z.is_floating_point():
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise OperatorError(f"{what} coefficients must be a float N×{size} tensor for this shape, got {got}.")
