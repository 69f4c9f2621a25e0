"""Images on disk ↔ float arrays: every decision about pixels in files is made here, once.

Reading (:func:`read_image`) gives an :class:`ImageData`: ``pixels`` H×W×C float64 in [0, 1]
with C = 1 (grayscale) or 3 (colour), ``alpha`` H×W in [0, 1] or None, and the bit depth.

* **Bit depth.** 8-bit samples are divided by 255, 16-bit ones by 65535 — at full precision:
  Pillow reduces 16-bit colour PNGs to 8 bits, so every 16-bit PNG is read and written with
  pypng (:mod:`invdiff.png16`). 16-bit colour TIFFs are refused (save them
  as 16-bit PNG).
* **Modes.** ``1``/``L``/``LA`` are grayscale; ``P``/``PA`` (palette) are expanded through the
  palette to RGB, or RGBA when the palette has transparency; a ``tRNS`` colour key becomes
  alpha; ``I;16`` is 16-bit grayscale; ``CMYK``/``YCbCr`` are converted to RGB by Pillow (noted);
  32-bit integer and float images are refused.
* **EXIF orientation** (tag 274) is applied, so pixels are in display orientation; the tag's
  value is kept in ``ImageData.orientation``. ``orient=False`` returns the stored orientation.
* **Limits.** At most :data:`MAX_PIXELS` = 8192² pixels, checked from the header before any
  pixel is decoded (decompression bombs). Empty, truncated, corrupt and non-image files raise
  :class:`ImageError` (a ``ValueError``) with one sentence; a missing path raises
  ``FileNotFoundError``. Colour profiles and gamma (``iCCP``, ``gAMA``, ``sRGB``) are not applied:
  samples are taken as they are stored.
* ``.npy`` arrays (H×W or H×W×C, uint8, uint16 or float in [0, 1]) are read and written too.

Writing (:func:`write_image`) quantises to 8 or 16 bits (PNG; JPEG is 8-bit) or keeps float32
(``.npy``), and is atomic: the bytes go to a temporary file in the target folder which then
replaces the target (``os.replace``), so no reader ever sees half a file; an existing file is
replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from .png16 import ImageError, png16_bytes, png_bit_depth, read_png16

#: Largest image read, in pixels (8192 × 8192 = 67.1 MP): checked before decoding.
MAX_PIXELS = 8192 * 8192
#: File suffixes a folder listing treats as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".npy")
#: Suffixes :func:`write_image` can write.
WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")


@dataclass
class ImageData:
    """Decoded pixels (H×W×C float64 in [0, 1], C ∈ {1, 3}), alpha (H×W or None) and provenance."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int  # 8, 16, or 32 for float arrays (.npy)
    format: str  # "PNG", "JPEG", "NPY", …
    orientation: int = 1  # EXIF orientation of the file (already applied unless read with orient=False)
    jpeg_quality: int | None = None  # IJG quality whose tables the JPEG file uses (None: not standard)
    jpeg_subsampling: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]


# -- orientation --------------------------------------------------------------------------------
def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation ``orientation`` (1..8) to an H×W[×C] array (1 and unknown values: unchanged)."""
    ops = {2: lambda t: t[:, ::-1], 3: lambda t: t[::-1, ::-1], 4: lambda t: t[::-1],
           5: lambda t: t.swapaxes(0, 1), 6: lambda t: np.rot90(t, -1), 7: lambda t: t[::-1, ::-1].swapaxes(0, 1),
           8: lambda t: np.rot90(t, 1)}
    return np.ascontiguousarray(ops[orientation](a)) if orientation in ops else a


# -- reading ------------------------------------------------------------------------------------
def _check_pixels(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name} is {width}×{height} ({width * height / 1e6:.1f} MP); invdiff reads images of at "
                         f"most 8192×8192 ({MAX_PIXELS / 1e6:.1f} MP): downscale it first.")
    if width < 1 or height < 1:
        raise ImageError(f"{name} has no pixels ({width}×{height}).")


def _jpeg_info(im: Image.Image) -> tuple[int | None, str | None]:
    """(IJG quality whose scaled Annex-K tables the file uses, or None; chroma subsampling)."""
    from operators._jpeg_tables import CHROMA_BASE, LUMA_BASE, scaled_table

    sampling = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(im))
    tables = getattr(im, "quantization", None) or {}
    if 0 not in tables:
        return None, sampling
    luma = np.asarray(tables[0], np.float64).reshape(8, 8)
    chroma = np.asarray(tables[1], np.float64).reshape(8, 8) if 1 in tables else None
    for q in range(1, 101):
        if np.array_equal(luma, scaled_table(LUMA_BASE, q).numpy()) and (
                chroma is None or np.array_equal(chroma, scaled_table(CHROMA_BASE, q).numpy())):
            return q, sampling
    return None, sampling


def _pil_pixels(im: Image.Image, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Pillow image → (pixels H×W×C, alpha, bit depth) following the mode rules of the module docstring."""
    mode = im.mode
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if mode == "L" else "RGBA")
    elif mode in ("CMYK", "YCbCr"):
        notes.append(f"{name}: converted {mode} to RGB (Pillow's conversion, no colour profile)")
        im = im.convert("RGB")
    if im.mode.startswith("I;16"):
        return np.asarray(im, dtype=np.float64)[..., None] / 65535, None, 16
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        raise ImageError(f"{name} has image mode {mode}, which invdiff does not read; save it as an 8- or 16-bit "
                         "PNG (grayscale or RGB).")
    if getattr(im, "format", None) == "TIFF" and max(im.tag_v2.get(258, (8,))) > 8:
        raise ImageError(f"{name} is a 16-bit colour TIFF, which Pillow reduces to 8 bits; save it as a 16-bit PNG.")
    a = np.asarray(im, dtype=np.float64) / 255
    a = a[..., None] if a.ndim == 2 else a
    if im.mode in ("LA", "RGBA"):
        return a[..., :-1], a[..., -1], 8
    return a, None, 8


def from_array(a: np.ndarray, name: str = "array") -> ImageData:
    """An H×W or H×W×C array (C ∈ 1..4; uint8, uint16 or float in [0, 1]) → :class:`ImageData` (C = 2, 4: alpha)."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4):
        raise ImageError(f"{name} has shape {a.shape}; an image array is H×W or H×W×C with C in 1..4.")
    _check_pixels(a.shape[1], a.shape[0], name)
    if a.dtype in (np.uint8, np.uint16):
        depth = 8 if a.dtype == np.uint8 else 16
        a = a.astype(np.float64) / (2**depth - 1)
    elif np.issubdtype(a.dtype, np.floating):
        depth, a = 32, a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ImageError(f"{name} contains NaN or infinite values; clean the input first.")
        if a.min() < 0 or a.max() > 1:
            raise ImageError(f"{name} has values in [{a.min():.3g}, {a.max():.3g}]; float images must lie in [0, 1].")
    else:
        raise ImageError(f"{name} has dtype {a.dtype}; use uint8, uint16 or float in [0, 1].")
    alpha = a[..., -1] if a.shape[-1] in (2, 4) else None
    return ImageData(a[..., : 1 if a.shape[-1] <= 2 else 3], alpha, depth, "NPY")


def from_pil(im: Image.Image, name: str = "image") -> ImageData:
    """A Pillow image (already opened by the caller; EXIF orientation not applied) → :class:`ImageData`."""
    _check_pixels(*im.size, name)
    notes: list[str] = []
    pixels, alpha, depth = _pil_pixels(im, name, notes)
    return ImageData(pixels, alpha, depth, im.format or "PIL", notes=notes)


def _read_npy(path: Path) -> ImageData:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ImageError(f"{path} is not a readable .npy array ({err}).") from None
    return from_array(a, str(path))


def read_image(path: str | Path, orient_pixels: bool = True) -> ImageData:
    """Decode ``path`` (any Pillow format, 16-bit PNG at full precision, or .npy); see the module docstring."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; check the path.")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes).")
    if path.suffix.lower() == ".npy":
        return _read_npy(path)
    name = str(path)
    data = path.read_bytes()
    depth16 = png_bit_depth(data, name, _check_pixels) == 16
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError(f"{name} is not an image file invdiff can read (PNG, JPEG, BMP, TIFF, WebP, …).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name} has more than {MAX_PIXELS / 1e6:.1f} MP; invdiff reads images of at most "
                             "8192×8192: downscale it first.") from None
    with im:
        _check_pixels(*im.size, name)
        fmt = im.format or path.suffix.lstrip(".").upper()
        quality, sampling = _jpeg_info(im) if fmt == "JPEG" else (None, None)
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            if depth16:
                pixels, alpha = read_png16(data, name)
                depth = 16
            else:
                im.load()
                pixels, alpha, depth = _pil_pixels(im, name, notes)
        except ImageError:
            raise
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as err:
            raise ImageError(f"{name} is truncated or corrupt ({err}); re-export it.") from None
    orientation = orientation if orientation in range(1, 9) else 1
    if orient_pixels and orientation != 1:
        pixels = orient(pixels, orientation)
        alpha = None if alpha is None else orient(alpha, orientation)
        notes.append(f"{name}: applied EXIF orientation {orientation} (pixels are in display orientation)")
    return ImageData(pixels, alpha, depth, fmt, orientation, quality, sampling, notes)


def read_mask(path: str | Path, invert: bool = False) -> torch.Tensor:
    """A binary mask file → 1×H×W float tensor, **1 = observed, 0 = missing**.

    The file must be pure black and white (grayscale, or RGB with R = G = B; no alpha): white is
    observed and black missing, the library's 1/0 convention; ``invert=True`` reads white as the
    holes (e.g. NVIDIA's irregular masks). Grey levels are an error, never thresholded silently.
    """
    m = read_image(path)
    if m.alpha is not None:
        raise ImageError(f"mask {path} has an alpha channel; save masks as black-and-white grayscale images.")
    v = m.pixels
    if v.shape[-1] == 3 and not (v == v[..., :1]).all():
        raise ImageError(f"mask {path} is a colour image; save masks as black-and-white grayscale images.")
    v = v[..., 0]
    levels = np.unique(v)
    if not np.isin(levels, (0.0, 1.0)).all():
        raise ImageError(f"mask {path} is not binary: it has {len(levels)} grey levels; use pure black (missing) "
                         "and white (observed), e.g. threshold it at 50 %.")
    observed = (v == 0.0) if invert else (v == 1.0)
    return torch.from_numpy(observed.astype(np.float32))[None]


def read_kernel(path: str | Path) -> torch.Tensor:
    """A blur kernel file (.npy 2-D array, grayscale image at full precision, or .mat) → 2-D float64, sum 1."""
    from operators.generators import load_kernel, validate_kernel

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"kernel file {path} does not exist; check the path.")
    if path.suffix.lower() == ".mat":
        return load_kernel(path, dtype=torch.float64)
    if path.suffix.lower() == ".npy":
        try:
            k = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ImageError(f"kernel {path} is not a readable .npy array ({err}).") from None
        if k.ndim != 2:
            raise ImageError(f"kernel {path} has shape {k.shape}; a blur kernel must be a 2-D array.")
    else:
        img = read_image(path)
        if img.alpha is not None or (img.pixels.shape[-1] == 3 and not (img.pixels == img.pixels[..., :1]).all()):
            raise ImageError(f"kernel image {path} has colour or alpha; save kernels as grayscale images.")
        k = img.pixels[..., 0]
    return validate_kernel(k, f"kernel {path}")


# -- python objects ↔ batches (the library API) -------------------------------------------------
@dataclass
class Kind:
    """How to give a batch back in the caller's type: container, batch axis, dtype, device, mode."""

    container: str  # "tensor", "numpy" or "pil"
    batched: bool
    dtype: Any = None
    device: Any = None
    pil_mode: str | None = None
    gray: bool = False
    plane: bool = False  # a numpy H×W array (no channel axis)


def to_batch(image) -> tuple[torch.Tensor, torch.Tensor | None, Kind]:
    """A tensor / array / PIL image → (N×C×H×W float64 pixels, N×H×W alpha or None, how to convert back)."""
    if isinstance(image, Image.Image):
        data, kind = from_pil(image), Kind("pil", False, pil_mode=image.mode)
        datas = [data]
    elif isinstance(image, np.ndarray):
        kind = Kind("numpy", image.ndim == 4, image.dtype, plane=image.ndim == 2)
        datas = [from_array(a, f"image {i}") for i, a in enumerate(image if kind.batched else [image])]
    elif isinstance(image, torch.Tensor):
        if image.dim() not in (3, 4):
            raise ImageError(f"a tensor image must be C×H×W or N×C×H×W, got shape {tuple(image.shape)}.")
        kind = Kind("tensor", image.dim() == 4, image.dtype, image.device)
        batch = image.detach().cpu() if kind.batched else image.detach().cpu()[None]
        datas = [from_array(a.permute(1, 2, 0).numpy(), f"image {i}") for i, a in enumerate(batch)]
    else:
        raise ImageError(f"image must be a torch.Tensor, numpy array or PIL image, not {type(image).__name__}.")
    kind.gray = datas[0].pixels.shape[-1] == 1
    pixels = torch.stack([torch.from_numpy(d.pixels).permute(2, 0, 1) for d in datas])
    alphas = [d.alpha for d in datas]
    alpha = torch.stack([torch.from_numpy(a) for a in alphas]) if all(a is not None for a in alphas) else None
    return pixels, alpha, kind


def from_batch(x: torch.Tensor, kind: Kind, alpha: torch.Tensor | None = None):
    """N×C×H×W floats (C = 1 or 3; alpha N×H×W appended as a last channel) → ``kind``'s type.

    Values are clipped to [0, 1] first: a noisy measurement leaves that range, and an integer
    conversion would otherwise wrap around (−0.01 → 253 in uint8).
    """
    x = x.detach().cpu().double().clamp(0, 1)
    if kind.gray and x.shape[1] == 3:
        x = (torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype)[:, None, None] * x).sum(1, keepdim=True)
    if alpha is not None:
        x = torch.cat([x, alpha.detach().cpu().double()[:, None]], dim=1)
    if kind.container == "tensor":
        out = (x * 255).round().to(kind.dtype) if kind.dtype == torch.uint8 else x.to(kind.dtype)
        out = out.to(kind.device)
        return out if kind.batched else out[0]
    a = x.permute(0, 2, 3, 1).numpy()
    if kind.container == "numpy":
        a = a if kind.batched else a[0]
        a = a[..., 0] if kind.plane and a.shape[-1] == 1 else a
        if np.issubdtype(kind.dtype, np.integer):
            return np.round(a * np.iinfo(kind.dtype).max).astype(kind.dtype)
        return a.astype(kind.dtype)
    a = a[0]
    if kind.pil_mode and kind.pil_mode.startswith("I;16") and a.shape[-1] == 1:
        return Image.fromarray(np.round(a[..., 0] * 65535).astype(np.uint16), "I;16")
    u8 = np.round(a * 255).astype(np.uint8)
    return Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8, {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[u8.shape[-1]])


# -- sizes --------------------------------------------------------------------------------------
def fit_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop N×C×H×W ``x`` to a square and resize it to ``size``² (bicubic, antialiased, clamped)."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    x = x[..., top:top + s, left:left + s]
    if s == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def fit_square_mask(m: torch.Tensor, size: int) -> torch.Tensor:
    """The crop of :func:`fit_square` for an N×H×W alpha or mask, resized with nearest neighbours (stays binary)."""
    h, w = m.shape[-2:]
    s = min(h, w)
    m = m[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return F.interpolate(m[:, None], size=(size, size), mode="nearest-exact")[:, 0]


# -- writing ------------------------------------------------------------------------------------
def atomic_write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace`` (creates parent folders)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def encode_image(pixels: np.ndarray, suffix: str, bit_depth: int = 8, alpha: np.ndarray | None = None) -> bytes:
    """H×W×C (C ∈ {1, 3}) floats in [0, 1] (+ optional alpha) → file bytes for ``suffix``."""
    suffix = suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(f"cannot write {suffix!r} files; use one of {', '.join(WRITE_SUFFIXES)}.")
    a = np.clip(np.asarray(pixels, np.float64), 0, 1)
    a = a[..., None] if a.ndim == 2 else a
    if alpha is not None and suffix != ".jpg" and suffix != ".jpeg":
        a = np.concatenate([a, np.clip(alpha, 0, 1)[..., None]], axis=-1)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, a.astype(np.float32))
        return buf.getvalue()
    if suffix == ".png" and bit_depth == 16:
        return png16_bytes(np.round(a * 65535).astype(np.uint16))
    u8 = np.round(a * 255).astype(np.uint8)
    im = Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8, {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[u8.shape[-1]])
    buf = io.BytesIO()
    im.save(buf, format="PNG" if suffix == ".png" else "JPEG", **({} if suffix == ".png" else {"quality": 95}))
    return buf.getvalue()


def write_image(path: str | Path, pixels: np.ndarray, bit_depth: int = 8, alpha: np.ndarray | None = None,
                overwrite: bool = False) -> Path:
    """Encode (format from the suffix: .png 8/16-bit, .jpg 8-bit, .npy float32) and write atomically."""
    path = Path(path)
    return atomic_write_bytes(path, encode_image(pixels, path.suffix, bit_depth, alpha), overwrite)
