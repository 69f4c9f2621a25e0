"""A 16-bit PNG codec: Pillow keeps only 8 bits of 16-bit colour PNGs, and writes none.

Decoding covers what the PNG specification allows at bit depth 16 — gray, gray + alpha, RGB,
RGBA, the five row filters (None, Sub, Up, Average, Paeth) and a ``tRNS`` colour key — except
Adam7 interlacing, which is refused. Chunk CRCs are checked, so truncated and corrupt files are
errors, never partly decoded images. Encoding writes filter 0 on every row.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → samples per pixel


class PNGError(ValueError):
    """A truncated, corrupt or unsupported 16-bit PNG."""


def _png_chunks(data: bytes, name: str) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise PNGError(f"{name} is truncated (the PNG ends before its IEND chunk); re-export it.")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body, crc_at = data[pos + 8:pos + 8 + length], pos + 8 + length
        if crc_at + 4 > len(data):
            raise PNGError(f"{name} is truncated (its {kind.decode('latin-1')} chunk is cut off); re-export it.")
        if zlib.crc32(kind + body) != struct.unpack(">I", data[crc_at:crc_at + 4])[0]:
            raise PNGError(f"{name} is corrupt (CRC error in its {kind.decode('latin-1')} chunk); re-export it.")
        chunks.append((kind, body))
        pos = crc_at + 4
        if kind == b"IEND":
            return chunks


def png_header(head: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's first 33 bytes, or None if not PNG."""
    if not head.startswith(PNG_SIGNATURE) or len(head) < 33 or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(rows: np.ndarray, bpp: int, name: str) -> np.ndarray:
    """Undo the PNG row filters (None, Sub, Up, Average, Paeth) of ``rows`` (H × (1 + stride) bytes)."""
    h, stride = rows.shape[0], rows.shape[1] - 1
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for r in range(h):
        kind, line = int(rows[r, 0]), rows[r, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: running sum mod 256 along each byte lane of the pixels
            cur = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:  # Up
            cur = line + prev
        elif kind in (3, 4):  # Average, Paeth: sequential in the row
            cur_b, line_b, prev_b = bytearray(stride), line.tobytes(), prev.tobytes()
            for i in range(stride):
                left = cur_b[i - bpp] if i >= bpp else 0
                up_left = prev_b[i - bpp] if i >= bpp else 0
                pred = (left + prev_b[i]) // 2 if kind == 3 else _paeth(left, prev_b[i], up_left)
                cur_b[i] = (line_b[i] + pred) & 0xFF
            cur = np.frombuffer(bytes(cur_b), np.uint8)
        else:
            raise PNGError(f"{name} is corrupt (unknown PNG filter type {kind} in row {r}); re-export it.")
        out[r], prev = cur, cur
    return out


def read_png16(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A 16-bit PNG's samples at full precision: (pixels H×W×C, alpha H×W or None), floats in [0, 1]."""
    chunks = _png_chunks(data, name)
    w, h, _, ctype, interlace = png_header(data[:33])
    if ctype not in _PNG_CHANNELS:
        raise PNGError(f"{name} has PNG colour type {ctype}, which cannot be 16-bit; the file is corrupt.")
    if interlace:
        raise PNGError(f"{name} is an interlaced 16-bit PNG, which invdiff does not decode; save it without "
                         "interlacing.")
    channels = _PNG_CHANNELS[ctype]
    try:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except zlib.error as err:
        raise PNGError(f"{name} is truncated or corrupt (its pixel data do not decompress: {err}).") from None
    stride = w * channels * 2
    if len(raw) < h * (stride + 1):
        raise PNGError(f"{name} is truncated (pixel data for {len(raw) // (stride + 1)} of {h} rows).")
    rows = np.frombuffer(raw, np.uint8)[: h * (stride + 1)].reshape(h, stride + 1)
    samples = _unfilter(rows, channels * 2, name).view(">u2").reshape(h, w, channels).astype(np.float64)
    alpha = None
    if channels in (2, 4):
        samples, alpha = samples[..., :-1], samples[..., -1] / 65535
    trns = [body for kind, body in chunks if kind == b"tRNS"]
    if trns and channels in (1, 3):  # a colour key: pixels equal to it are transparent
        key = np.frombuffer(trns[0][: 2 * channels], ">u2").astype(np.float64)
        alpha = (~(samples == key).all(-1)).astype(np.float64)
    return samples / 65535, alpha


def png16_bytes(samples: np.ndarray) -> bytes:
    """Encode an H×W×C uint16 array (C = 1, 2, 3, 4: gray, gray+alpha, RGB, RGBA) as a 16-bit PNG."""
    h, w, c = samples.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(samples, dtype=">u2").view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
