"""Which maintained library reads and writes 16-bit PNGs for invdiff (issue 17): correctness, install size, speed.

Candidates: pypng, imageio (its plugins: pillow, tifffile, opencv, freeimage), tifffile, OpenCV
(``imread(IMREAD_UNCHANGED)``), against our own ``invdiff/png16.py`` (when it still exists).
Correctness cases are files made by *other* encoders (libpng through OpenCV, with its adaptive row
filters; Pillow for 16-bit gray; pypng with Adam7 interlacing) plus files whose gamma / ICC /
sRGB chunks must not change the samples (invdiff documents that colour profiles are not applied).

Run (from the repository root; pypng and opencv-python-headless importable, e.g. ``pip install
--target /tmp/pngcmp pypng opencv-python-headless`` then ``PYTHONPATH=/tmp/pngcmp``)::

    python benchmarks/io/png16_readers.py > benchmarks/io/png16_readers.md
"""

from __future__ import annotations

import importlib.metadata as md
import io
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

rng = np.random.default_rng(0)


def smooth(h: int, w: int, c: int) -> np.ndarray:
    """A smooth uint16 image (so that libpng's adaptive filters pick Sub/Up/Average/Paeth rows)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = [np.sin(3 * xx + k) * np.cos(2 * yy - k) for k in range(c)]
    a = (np.stack(base, -1) * 0.5 + 0.5) * 65535 + rng.normal(0, 30, (h, w, c))
    return np.clip(a, 0, 65535).astype(np.uint16)


def with_chunks(png: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    """``png`` with extra ancillary chunks inserted right after IHDR."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return png[:33] + b"".join(chunk(k, b) for k, b in chunks) + png[33:]


# -- readers: bytes → H×W×C uint16 (C = 1..4, RGB order) -----------------------------------------
def read_pypng(data: bytes) -> np.ndarray:
    import png

    w, h, rows, info = png.Reader(bytes=data).asDirect()
    return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(h, w, info["planes"])


def read_cv2(data: bytes) -> np.ndarray:
    import cv2

    a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    a = a[..., None] if a.ndim == 2 else a
    return a[..., [2, 1, 0]] if a.shape[-1] == 3 else a[..., [2, 1, 0, 3]] if a.shape[-1] == 4 else a


def read_imageio(data: bytes) -> np.ndarray:
    import imageio.v3 as iio

    a = iio.imread(data, extension=".png")
    return a[..., None] if a.ndim == 2 else a


def read_ours(data: bytes) -> np.ndarray:
    from invdiff.png16 import read_png16

    px, alpha = read_png16(data, "x")
    a = px if alpha is None else np.concatenate([px, alpha[..., None]], -1)
    return np.round(a * 65535).astype(np.uint16)


def write_cv2(a: np.ndarray, **_) -> bytes:
    import cv2

    b = a[..., [2, 1, 0]] if a.shape[-1] == 3 else a[..., [2, 1, 0, 3]] if a.shape[-1] == 4 else a
    ok, buf = cv2.imencode(".png", b)
    if not ok:
        raise RuntimeError("OpenCV could not encode the PNG.")
    return buf.tobytes()


def write_pypng(a: np.ndarray, interlace: bool = False) -> bytes:
    import png

    h, w, c = a.shape
    buf = io.BytesIO()
    png.Writer(w, h, greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16, interlace=interlace).write(
        buf, a.reshape(h, w * c).tolist())
    return buf.getvalue()


def write_paeth(a: np.ndarray) -> bytes:
    """A 16-bit PNG whose every row uses the Paeth filter (the slowest to undo), vectorised with numpy."""
    h, w, c = a.shape
    raw = np.ascontiguousarray(a, ">u2").view(np.uint8).reshape(h, w * c * 2).astype(np.int32)
    bpp = 2 * c
    left = np.zeros_like(raw)
    left[:, bpp:] = raw[:, :-bpp]
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    upleft = np.zeros_like(raw)
    upleft[1:, bpp:] = raw[:-1, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    rows = np.concatenate([np.full((h, 1), 4, np.uint8), ((raw - pred) % 256).astype(np.uint8)], axis=1)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows.tobytes()))
            + chunk(b"IEND", b""))


def cases() -> dict[str, tuple[bytes, np.ndarray]]:
    out = {}
    for c, name in ((1, "gray"), (2, "gray+alpha"), (3, "RGB"), (4, "RGBA")):
        a = smooth(37, 53, c)
        out[f"{name}, libpng filters"] = (write_cv2(a) if c != 2 else write_pypng(a), a)
        out[f"{name}, Adam7 interlaced"] = (write_pypng(a, interlace=True), a)
    a = smooth(37, 53, 3)
    gama = (b"gAMA", struct.pack(">I", 45455))
    iccp = (b"iCCP", b"fake\x00\x00" + zlib.compress(b"\x00" * 128))
    srgb = (b"sRGB", b"\x00")
    out["RGB + gAMA"] = (with_chunks(write_cv2(a), gama), a)
    out["RGB + iCCP"] = (with_chunks(write_cv2(a), iccp), a)
    out["RGB + sRGB"] = (with_chunks(write_cv2(a), srgb), a)
    out["RGB, Paeth on every row"] = (write_paeth(a), a)
    return out


def size_of(dist: str) -> str:
    try:
        files = md.files(dist) or []
        total = sum((f.locate().stat().st_size for f in files if f.locate().exists()), 0)
        return f"{total / 1e6:.2f} MB ({md.version(dist)})"
    except md.PackageNotFoundError:
        return "not installed"


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    readers = {"pypng": read_pypng, "opencv": read_cv2, "imageio (pillow plugin)": read_imageio}
    try:
        import invdiff.png16  # noqa: F401

        readers["invdiff png16 (ours)"] = read_ours
    except ImportError:
        pass
    print("## 16-bit PNG readers: exact samples back?\n")
    print("| file | " + " | ".join(readers) + " |\n|---|" + "---|" * len(readers))
    for name, (data, a) in cases().items():
        cells = []
        for read in readers.values():
            try:
                got = read(data)
                cells.append("exact" if got.dtype == np.uint16 and np.array_equal(got, a) else
                             f"wrong ({got.dtype}, {got.shape[-1]} ch)")
            except Exception as err:  # noqa: BLE001 - a table of what each reader does
                cells.append(f"error: {type(err).__name__}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    big = smooth(512, 768, 3)
    files = {"libpng's filters": write_cv2(big), "Paeth on every row": write_paeth(big)}
    print("\n## speed: decode a 768×512 16-bit RGB PNG, best of 3 (seconds)\n")
    print("| reader | " + " | ".join(files) + " |\n|---|" + "---|" * len(files))
    for name, read in readers.items():
        cells = []
        for data in files.values():
            try:
                cells.append(f"{min(_timed(read, data) for _ in range(3)):.3f}")
            except Exception as err:  # noqa: BLE001
                cells.append(f"error: {type(err).__name__}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n## speed: encode the same image, best of 3\n\n| writer | seconds |\n|---|---|")
    for name, write in (("pypng", write_pypng), ("opencv", write_cv2)):
        print(f"| {name} | {min(_timed(write, big) for _ in range(3)):.3f} |")
    print("\n## installed size\n\n| distribution | size |\n|---|---|")
    for dist in ("pypng", "opencv-python-headless", "imageio", "tifffile"):
        print(f"| {dist} | {size_of(dist)} |")
    print("\ntifffile reads and writes TIFF only (no PNG). imageio's plugin for PNG is Pillow, which reduces 16-bit "
          "colour to 8 bits; its opencv plugin needs opencv itself and FreeImage needs a binary download.")


def _timed(fn, arg) -> float:
    t = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
