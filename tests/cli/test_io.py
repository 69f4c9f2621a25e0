"""invdiff.io: decoding decisions (16-bit, modes, EXIF, limits, corrupt files), masks, kernels, atomic writes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from invdiff import io as imageio

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _filtered_png16(a: np.ndarray, filters: list[int]) -> bytes:
    """A 16-bit PNG whose row r uses PNG filter ``filters[r % len(filters)]`` (an independent encoder)."""
    h, w, c = a.shape
    raw, bpp = a.astype(">u2").view(np.uint8).reshape(h, -1).astype(int), 2 * c
    out, prev = bytearray(), np.zeros(raw.shape[1], int)
    for r in range(h):
        kind, cur = filters[r % len(filters)], raw[r]
        left = np.concatenate([np.zeros(bpp, int), cur[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, int), prev[:-bpp]])
        if kind == 0:
            pred = np.zeros_like(cur)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - up_left
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - up_left)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, up_left))
        out += bytes([kind]) + bytes(((cur - pred) % 256).astype(np.uint8))
        prev = cur

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_decodes_every_filter_at_full_precision(tmp_path, channels):
    a = np.random.default_rng(channels).integers(0, 65536, (10, 7, channels), dtype=np.uint16)
    path = tmp_path / "a.png"
    path.write_bytes(_filtered_png16(a, [0, 1, 2, 3, 4]))
    data = imageio.read_image(path)
    colour = a[..., :1] if channels <= 2 else a[..., :3]
    assert data.bit_depth == 16
    assert np.array_equal(np.round(data.pixels * 65535).astype(np.uint16), colour)
    if channels in (2, 4):
        assert np.array_equal(np.round(data.alpha * 65535).astype(np.uint16), a[..., -1])
    # Pillow alone keeps 8 bits of a 16-bit colour PNG: the low byte would be lost.
    if channels == 3:
        assert np.abs(np.asarray(Image.open(path), float) / 255 - data.pixels).max() > 1 / 65535


def test_16bit_png_write_read_round_trip(tmp_path):
    x = np.random.default_rng(0).random((9, 11, 3))
    path = imageio.write_image(tmp_path / "x.png", x, bit_depth=16)
    back = imageio.read_image(path)
    assert back.bit_depth == 16 and np.abs(back.pixels - x).max() <= 0.5 / 65535 + 1e-12


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_interlaced_is_decoded(tmp_path, channels):
    """Adam7-interlaced 16-bit PNGs (written here by Pillow for gray, else by pypng's encoder)."""
    import png

    a = np.random.default_rng(channels).integers(0, 65536, (13, 9, channels), dtype=np.uint16)
    buf = tmp_path / "i.png"
    with open(buf, "wb") as f:
        png.Writer(9, 13, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16, interlace=True).write(
            f, a.reshape(13, -1).tolist())
    data = imageio.read_image(buf)
    colour = a[..., :1] if channels <= 2 else a[..., :3]
    assert data.bit_depth == 16 and np.array_equal(np.round(data.pixels * 65535).astype(np.uint16), colour)


def test_16bit_png_gamma_and_icc_chunks_leave_the_samples_alone(tmp_path):
    a = np.random.default_rng(0).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    plain = imageio.png16_bytes(a)
    extra = _chunk(b"gAMA", struct.pack(">I", 45455)) + _chunk(b"sRGB", b"\x00") + \
        _chunk(b"iCCP", b"profile\x00\x00" + zlib.compress(b"\x00" * 64))
    (tmp_path / "g.png").write_bytes(plain[:33] + extra + plain[33:])
    data = imageio.read_image(tmp_path / "g.png")
    assert np.array_equal(np.round(data.pixels * 65535).astype(np.uint16), a)


def test_16bit_png_colour_key_becomes_alpha(tmp_path):
    a = np.random.default_rng(0).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    a[2, 3] = (1, 2, 3)
    plain = imageio.png16_bytes(a)
    trns = _chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))
    at = plain.index(b"IDAT") - 4
    (tmp_path / "k.png").write_bytes(plain[:at] + trns + plain[at:])
    data = imageio.read_image(tmp_path / "k.png")
    assert data.alpha is not None and data.alpha[2, 3] == 0 and (data.alpha == 0).sum() == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    a = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(tmp_path / "e.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "e.png")), float) / 255
    data = imageio.read_image(tmp_path / "e.png")
    assert data.orientation == orientation and np.array_equal(data.pixels, expected)
    assert np.array_equal(imageio.read_image(tmp_path / "e.png", orient_pixels=False).pixels, a / 255)


def test_modes_palette_gray_alpha_and_bilevel(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    data = imageio.read_image(tmp_path / "p.png")
    assert data.pixels.shape == (6, 6, 3) and data.alpha is not None and (data.alpha == 0).any()
    Image.fromarray(rgb[..., 0]).save(tmp_path / "l.png")
    assert imageio.read_image(tmp_path / "l.png").pixels.shape == (6, 6, 1)
    Image.fromarray(rgb[..., 0] > 128).save(tmp_path / "b.png")
    assert set(np.unique(imageio.read_image(tmp_path / "b.png").pixels)) <= {0.0, 1.0}


def test_jpeg_quality_is_read_from_the_tables(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "q.jpg", quality=37)
    data = imageio.read_image(tmp_path / "q.jpg")
    assert (data.format, data.jpeg_quality, data.jpeg_subsampling) == ("JPEG", 37, "4:2:0")


@pytest.mark.parametrize("case", ["empty", "text", "truncated_png", "truncated_png16", "truncated_jpeg", "crc",
                                  "crc_png16"])
def test_bad_files_raise_one_sentence(tmp_path, case):
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = tmp_path / ("x.jpg" if "jpeg" in case else "x.png")
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("not an image\n")
    elif case == "truncated_png16":
        path.write_bytes(imageio.png16_bytes(rgb.astype(np.uint16) * 257)[:200])
    elif case == "crc_png16":
        data = imageio.png16_bytes(rgb.astype(np.uint16) * 257)
        path.write_bytes(data[:60] + bytes([data[60] ^ 1]) + data[61:])
    else:
        Image.fromarray(rgb).save(path)
        data = path.read_bytes()
        if case == "crc":
            path.write_bytes(data[:40] + bytes([data[40] ^ 1]) + data[41:])
        else:
            path.write_bytes(data[: len(data) // 2])
    with pytest.raises(imageio.ImageError) as err:
        imageio.read_image(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_huge_image_is_refused_before_decoding(tmp_path):
    Image.new("1", (8193, 8192)).save(tmp_path / "huge.png")
    with pytest.raises(imageio.ImageError, match="8192×8192"):
        imageio.read_image(tmp_path / "huge.png")


def test_mask_reading_is_strict(tmp_path):
    m = np.full((8, 8), 255, np.uint8)
    m[2:4, 2:4] = 0
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = imageio.read_mask(tmp_path / "m.png")
    assert mask.shape == (1, 8, 8) and float(mask.sum()) == 60
    assert float(imageio.read_mask(tmp_path / "m.png", invert=True).sum()) == 4
    m[0, 0] = 128
    Image.fromarray(m).save(tmp_path / "grey.png")
    with pytest.raises(imageio.ImageError, match="not binary"):
        imageio.read_mask(tmp_path / "grey.png")


def test_kernel_reading(tmp_path):
    np.save(tmp_path / "k3.npy", np.ones((3, 3, 3)))
    with pytest.raises(imageio.ImageError, match="2-D"):
        imageio.read_kernel(tmp_path / "k3.npy")
    k = np.random.default_rng(0).random((5, 5))
    imageio.write_image(tmp_path / "k.png", (k / k.max())[..., None], 16)
    back = imageio.read_kernel(tmp_path / "k.png")
    assert torch.allclose(back, torch.from_numpy(k / k.sum()), atol=1e-5)


def test_writes_are_atomic_and_never_overwrite_silently(tmp_path):
    path = imageio.write_image(tmp_path / "o.png", np.zeros((4, 4, 3)))
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        imageio.write_image(path, np.ones((4, 4, 3)))
    assert path.read_bytes() == before
    imageio.write_image(path, np.ones((4, 4, 3)), overwrite=True)
    assert path.read_bytes() != before and [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_fit_square_crops_the_centre_then_resizes():
    x = torch.zeros(1, 1, 10, 20)
    x[..., 5:15] = 1.0  # the centre square is all ones
    assert torch.allclose(imageio.fit_square(x, 4), torch.ones(1, 1, 4, 4))
