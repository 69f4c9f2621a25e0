"""16-bit PNGs at full precision through pypng (Pillow keeps only 8 bits of 16-bit colour, and writes none).

Errors are :class:`invdiff.io.ImageError` with one sentence: truncated files, CRC errors and bad
zlib streams are never partly decoded. A ``tRNS`` colour key becomes alpha; ``gAMA``, ``iCCP`` and
``sRGB`` are not applied (samples as stored), like every other colour profile in :mod:`invdiff.io`.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import png  # pypng


class ImageError(ValueError):
    """A file that exists but cannot be used as an image (bad data); :mod:`invdiff.io` re-exports it."""


# Why pypng (benchmarks/io/png16_readers.md, measured on this project's shared 2-core CPU): it decodes every
# 16-bit case exactly — gray, gray + alpha, RGB, RGBA, all five row filters, Adam7 interlacing, tRNS colour
# keys, with gAMA / iCCP / sRGB left unapplied — in 0.19 MB of pure Python without dependencies. OpenCV's
# imread(IMREAD_UNCHANGED) is ~20× faster (0.03–0.05 s vs 0.5–1.1 s for a 768×512 16-bit RGB PNG; our old
# codec: 0.04–1.2 s) but installs 160 MB and returns gray + alpha as 4 channels; imageio's PNG plugin is
# Pillow (8 bits of 16-bit colour; its FreeImage plugin needs a binary download); tifffile reads no PNG.
def png_bit_depth(data: bytes, name: str, check_size: Callable[[int, int, str], None]) -> int | None:
    """The bit depth in a PNG's header, after ``check_size(width, height, name)``; None if not a PNG."""
    if not data.startswith(png.signature):
        return None
    reader = png.Reader(bytes=data)
    try:
        reader.preamble()
    except (png.Error, EOFError, zlib.error, struct.error) as err:
        raise ImageError(f"{name} is truncated or corrupt ({err}); re-export it.") from None
    check_size(reader.width, reader.height, name)
    return reader.bitdepth


def read_png16(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A 16-bit PNG's samples at full precision: (pixels H×W×C, alpha H×W or None), floats in [0, 1]."""
    try:
        w, h, rows, info = png.Reader(bytes=data).asDirect()  # a tRNS colour key becomes an alpha channel
        samples = np.array([np.asarray(row, np.uint16) for row in rows], np.float64)
    except (png.Error, EOFError, zlib.error, struct.error, ValueError) as err:
        raise ImageError(f"{name} is truncated or corrupt ({' '.join(str(err).split())}); re-export it.") from None
    if samples.shape[0] != h:
        raise ImageError(f"{name} is truncated (pixel data for {samples.shape[0]} of {h} rows); re-export it.")
    samples = samples.reshape(h, w, info["planes"]) / 65535
    if info["alpha"]:
        return samples[..., :-1], samples[..., -1]
    return samples, None


def png16_bytes(samples: np.ndarray) -> bytes:
    """Encode an H×W×C uint16 array (C = 1, 2, 3, 4: gray, gray + alpha, RGB, RGBA) as a 16-bit PNG."""
    h, w, c = samples.shape
    buf = io.BytesIO()
    png.Writer(w, h, greyscale=c <= 2, alpha=c in (2, 4), bitdepth=16).write(
        buf, np.ascontiguousarray(samples, np.uint16).reshape(h, w * c))
    return buf.getvalue()
