"""JPEG compression as a (non-linear) degradation ``y = decode(encode_q(x))``.

Three views of the same codec:

* :meth:`JPEG.apply` — the **real codec** (PIL / libjpeg: IJG-scaled standard tables, 4:2:0 chroma
  subsampling, baseline). Use it to simulate measurements. It is *not* differentiable.
* :meth:`JPEG.apply_differentiable` — the same pipeline written in torch: uint8 quantisation →
  JFIF YCbCr → 2×2-average chroma subsampling → 8×8 orthonormal DCT → quantise with the same
  tables → dequantise → IDCT → bilinear chroma upsampling (libjpeg's default "fancy" triangle
  filter) → RGB → uint8. Rounding is straight-through by default (exact ``round`` forward,
  identity backward) or the soft rounding of Agustsson & Theis (2020) with sharpness ``alpha``.
* :meth:`JPEG.to_dct` / :meth:`JPEG.quantise` / :meth:`JPEG.from_dct` and :meth:`JPEG.quant_tables`
  — the DCT-domain view: the map to coefficients is linear and orthonormal per block, and the only
  non-linearity is ``Q·round(c/Q)`` (what DDRM-JPEG, Kawar et al. 2022, builds on).

Why straight-through by default: its forward pass *is* the codec's arithmetic (up to libjpeg's
integer DCT and rounding), so ``‖y − A(x̂₀)‖`` is measured against the right operator, and its
backward pass treats quantisation error as additive noise, giving the gradient of the linear
DCT-domain model; ``sin``-type or cubic surrogates have zero slope at every integer, so their
gradients vanish exactly where well-fit coefficients sit. Soft rounding (``alpha`` finite) is
offered when a smooth, honest gradient matters more than forward fidelity.

Measured agreement of :meth:`~JPEG.apply_differentiable` with the real codec (PIL 13,
libjpeg-turbo; skimage astronaut / coffee / chelsea, Lanczos-resized): quality 10, straight-through
— 48.1 / 48.2 / 70.5 dB at 64², 47.1 / 49.0 / 52.9 dB at 256²; soft rounding α = 10 — 30–37 dB.
The residual is libjpeg's integer DCT: a coefficient within ~10⁻³ of a rounding boundary can fall
in the other bin. Matching libjpeg's integer steps (rounded YCbCr, its ±1/8 downsampling and
±1/32 upsampling biases) raised the worst case from 34 to 47 dB. ``tests/operators/test_jpeg.py``
re-measures this and holds a 44 dB floor.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._jpeg_tables import CHROMA_BASE, LUMA_BASE, RGB_TO_YCBCR, YCBCR_TO_RGB, dct_matrix, scaled_table
from .base import Operator, OperatorError
from .noise import NoiseModel

Rounding = Callable[[torch.Tensor], torch.Tensor] | None


class DCTCoefficients(NamedTuple):
    """8×8-block DCT coefficients of a (padded) image on the 0..255 scale, level-shifted by −128.

    ``luma``: ``N×C_y×Hb×Wb×8×8`` (``C_y`` = 1); ``chroma``: ``N×2×(Hb/2)×(Wb/2)×8×8`` for Cb, Cr
    (``None`` for grayscale); ``size``: the original ``(H, W)`` to crop back to.
    """

    luma: torch.Tensor
    chroma: torch.Tensor | None
    size: tuple[int, int]


def soft_round(x: torch.Tensor, alpha: float | None = None) -> torch.Tensor:
    """Rounding with a usable gradient.

    ``alpha=None``: straight-through — ``round(x)`` forward, identity backward. Finite ``alpha``:
    Agustsson & Theis's ``s_α(x) = m + tanh(α r) / (2 tanh(α/2))`` with ``m = ⌊x⌋ + ½``,
    ``r = x − m``; continuous, → identity as α → 0 and → ``round`` as α → ∞.
    """
    if alpha is None:
        return x + (torch.round(x) - x).detach()
    if not alpha > 0:
        raise OperatorError(f"soft-rounding alpha must be > 0 (larger is closer to round), got {alpha}.")
    m = torch.floor(x) + 0.5
    return m + 0.5 * torch.tanh(alpha * (x - m)) / math.tanh(alpha / 2)


def _alternating(t: torch.Tensor, size: float, sign: int) -> torch.Tensor:
    """``sign·size`` on even columns and ``−sign·size`` on odd columns, broadcastable to ``t``."""
    parity = torch.arange(t.shape[-1], device=t.device, dtype=t.dtype) % 2
    return sign * size * (1 - 2 * parity)


def _blocks(p: torch.Tensor) -> torch.Tensor:
    """``N×C×H×W`` (H, W multiples of 8) → ``N×C×H/8×W/8×8×8``."""
    n, c, h, w = p.shape
    return p.reshape(n, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5)


def _unblocks(b: torch.Tensor) -> torch.Tensor:
    n, c, hb, wb = b.shape[:4]
    return b.permute(0, 1, 2, 4, 3, 5).reshape(n, c, hb * 8, wb * 8)


class JPEG(Operator):
    """Baseline JPEG at IJG ``quality`` 1..100 with 4:2:0 chroma (grayscale JPEG for 1 channel).

    ``pinv`` is decoding/dequantisation: a measurement ``y`` is already a decoded image, so
    ``A⁺ y = y`` clamped to [0, 1]. ``adjoint`` and the SVD views do not exist (not linear).
    """

    name = "jpeg"
    linear = False
    differentiable = True  # apply_differentiable: straight-through or soft rounding (module docstring)
    projectable = True  # project: the exact projection onto the quantisation bins

    def __init__(self, quality: int = 10, noise: NoiseModel | float | None = None, channels: int = 3) -> None:
        if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 1 <= quality <= 100:
            raise OperatorError(f"JPEG quality must be an int in 1..100 (IJG scale), got {quality!r}.")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise OperatorError(f"JPEG channels must be 1 (grayscale) or 3 (RGB), got {channels!r}.")
        super().__init__(noise, channels=channels)
        self.quality = int(quality)
        self.register_buffer("q_luma", scaled_table(LUMA_BASE, self.quality))
        self.register_buffer("q_chroma", scaled_table(CHROMA_BASE, self.quality))
        self.register_buffer("dct", dct_matrix(8))
        self.register_buffer("rgb_to_ycbcr", torch.tensor(RGB_TO_YCBCR, dtype=torch.float64))
        self.register_buffer("ycbcr_to_rgb", torch.tensor(YCBCR_TO_RGB, dtype=torch.float64))

    def extra_repr(self) -> str:
        return f"quality={self.quality}, channels={self.channels}, subsampling=4:2:0, noise={self.noise!r}"

    @property
    def _mcu(self) -> int:
        """Minimum coded unit side: 16 with 2×2 chroma subsampling, 8 for grayscale."""
        return 16 if self.channels == 3 else 8

    # -- the real codec --------------------------------------------------------------------------
    def _codec_one(self, img: np.ndarray) -> np.ndarray:
        """uint8 ``H×W×C`` → JPEG bytes (PIL) → decoded uint8 ``H×W×C``."""
        buf = io.BytesIO()
        pil = Image.fromarray(img[..., 0] if self.channels == 1 else img)  # uint8 H×W → "L", H×W×3 → "RGB"
        extra = {"subsampling": 2} if self.channels == 3 else {}  # 2 = 4:2:0 in PIL
        pil.save(buf, format="JPEG", quality=self.quality, optimize=False, **extra)
        buf.seek(0)
        with Image.open(buf) as dec:
            out = np.asarray(dec.convert("L" if self.channels == 1 else "RGB"))
        return out[..., None] if self.channels == 1 else out

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Real encode + decode of each image (values clipped to [0, 1] and rounded to uint8 first).

        Not differentiable: the result is detached. For gradients use :meth:`apply_differentiable`.
        """
        self._check_x(x)
        u8 = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([self._codec_one(np.ascontiguousarray(img)) for img in u8])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Decoding/dequantisation: ``y`` is already the decoded image, so ``A⁺ y = clamp(y, 0, 1)``."""
        self._check_x(y, name="y")
        return y.clamp(0, 1)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """JPEG returns an image of the input's shape."""
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 4 or shape[1] != self.channels:
            raise OperatorError(f"input shape must be N×{self.channels}×H×W, got {shape}.")
        return shape

    # -- the DCT-domain view ---------------------------------------------------------------------
    def quant_tables(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (luma, chroma) 8×8 quantisation tables ``Q`` on ``like``'s device and dtype."""
        return self._param(self.q_luma, like), self._param(self.q_chroma, like)

    def to_dct(self, x: torch.Tensor, rounding: Rounding = None) -> DCTCoefficients:
        """Encoder up to quantisation: [0, 1] image → level-shifted 8×8 DCT coefficients (0..255 scale).

        Pads to the MCU (16 for colour, 8 for grayscale) by edge replication, converts to JFIF
        YCbCr, averages Cb, Cr over 2×2 blocks, then applies the orthonormal DCT ``c = D b Dᵀ``.
        With ``rounding=None`` this map is linear. Given a rounding function it also rounds where
        libjpeg stores integers: the YCbCr samples, and the subsampled chroma with libjpeg's
        alternating bias (``⌊(Σ + 1)/4⌋`` on even, ``⌊(Σ + 2)/4⌋`` on odd columns, i.e. rounding
        the mean shifted by ∓1/8).
        """
        self._check_x(x)
        h, w = x.shape[-2:]
        m = self._mcu
        v = F.pad(x * 255, (0, -w % m, 0, -h % m), mode="replicate")
        rnd = rounding if rounding is not None else (lambda t: t)
        d = self._param(self.dct, v)
        dct = lambda p: d @ _blocks(p - 128) @ d.T
        if self.channels == 1:
            return DCTCoefficients(dct(v), None, (h, w))
        ycc = torch.einsum("ij,njhw->nihw", self._param(self.rgb_to_ycbcr, v), v)
        luma, chroma = rnd(ycc[:, :1]), rnd(ycc[:, 1:] + 128)
        chroma = F.avg_pool2d(chroma, 2)
        if rounding is not None:
            chroma = rounding(chroma + _alternating(chroma, 0.125, sign=-1))
        return DCTCoefficients(dct(luma), dct(chroma), (h, w))

    def quantise(self, c: DCTCoefficients, alpha: float | None = None) -> DCTCoefficients:
        """``Q · round(c / Q)`` per coefficient with the scaled tables (rounding: :func:`soft_round`)."""
        ql, qc = self.quant_tables(c.luma)
        luma = ql * soft_round(c.luma / ql, alpha)
        chroma = None if c.chroma is None else qc * soft_round(c.chroma / qc, alpha)
        return DCTCoefficients(luma, chroma, c.size)

    def from_dct(self, c: DCTCoefficients, rounding: Rounding = None) -> torch.Tensor:
        """Decoder after dequantisation: IDCT ``b = Dᵀ c D``, chroma upsampling, YCbCr → RGB, crop.

        Chroma is upsampled ×2 bilinearly (``align_corners=False``: weights 9, 3, 3, 1 / 16 —
        libjpeg's default "fancy" triangle filter). Samples are range-limited to 0..255 as the
        decoder does. Given a rounding function, the IDCT samples and the upsampled chroma are
        rounded as libjpeg stores them (upsampling bias ``+8`` / ``+7`` on even / odd columns, i.e.
        ±1/32). Output is in [0, 1], not rounded to uint8 (see :meth:`apply_differentiable`).
        """
        rnd = rounding if rounding is not None else (lambda t: t)
        d = self._param(self.dct, c.luma)
        idct = lambda k: rnd(_unblocks(d.T @ k @ d) + 128).clamp(0, 255)
        v = idct(c.luma)
        if c.chroma is not None:
            chroma = F.interpolate(idct(c.chroma), scale_factor=2, mode="bilinear", align_corners=False)
            if rounding is not None:
                chroma = rounding(chroma + _alternating(chroma, 1 / 32, sign=1))
            ycc = torch.cat([v, chroma - 128], dim=1)
            v = torch.einsum("ij,njhw->nihw", self._param(self.ycbcr_to_rgb, ycc), ycc)
        h, w = c.size
        return v[..., :h, :w].clamp(0, 255) / 255

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The image closest to ``x`` whose quantised DCT coefficients are those of the decoded JPEG ``y``.

        The measurement says each coefficient lies in its quantisation bin ``[Q(k − ½), Q(k + ½)]``
        (``k`` read back from ``y``). Coefficients of ``x`` are clipped into those bins and the change is
        mapped back: luma through the orthonormal IDCT, chroma at half resolution and spread equally over
        each 2×2 block (the smallest change that moves a block average by a given amount). This is the
        exact Euclidean projection in the level-shifted YCbCr sample space onto the consistency set of
        the linear encoder (integer rounding of samples is ignored). ``x`` and ``y`` are [0, 1] images.
        """
        self._check_x(x)
        self._check_x(y, "y")
        cx, cy = self.to_dct(x), self.quantise(self.to_dct(y))
        ql, qc = self.quant_tables(x)
        d = self._param(self.dct, x)

        def correction(c: torch.Tensor, centre: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
            half = 0.499 * q  # strictly inside the bin, so re-quantising lands in it
            delta = torch.minimum(torch.maximum(c, centre - half), centre + half) - c
            return _unblocks(d.T @ delta @ d)

        delta = correction(cx.luma, cy.luma, ql)
        if cx.chroma is not None:
            chroma = F.interpolate(correction(cx.chroma, cy.chroma, qc), scale_factor=2, mode="nearest")
            delta = torch.einsum("ij,njhw->nihw", self._param(self.ycbcr_to_rgb, delta), torch.cat([delta, chroma], 1))
        h, w = cx.size
        return x + delta[..., :h, :w] / 255

    def apply_differentiable(self, x: torch.Tensor, alpha: float | None = None) -> torch.Tensor:
        """Differentiable JPEG: ``round₂₅₅ ∘ from_dct ∘ quantise ∘ to_dct ∘ round₂₅₅`` (module docstring).

        ``alpha=None`` rounds straight-through (forward equals the integer pipeline); a finite
        ``alpha`` uses soft rounding everywhere. Inputs outside [0, 1] are clamped, as a codec must.
        """
        self._check_x(x)
        rnd = lambda t: soft_round(t, alpha)
        u = rnd(x.clamp(0, 1) * 255) / 255
        y = self.from_dct(self.quantise(self.to_dct(u, rnd), alpha), rnd)
        return rnd(y * 255) / 255
