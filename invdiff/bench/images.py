"""Per-image PNG dumps and the per-task comparison grid (ground truth | measurement | each method).

Dumps live at ``OUT/images/<task>/<column>/<image>.png`` with the columns ``_truth`` and
``_measured`` (the measurement at image size, nearest-neighbour where it is smaller) next to one
folder per method. They are written before the row that they belong to, atomically, so a resumed
run never shows a half-written picture.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

IMAGES = "images"
DISPLAY_NAMES = {"_truth": "truth", "_measured": "measured"}


def file_name(image_name: str) -> str:
    """A flat PNG file name for an image's relative path (``a/b.jpg`` → ``a__b.png``)."""
    return Path(image_name.replace("/", "__")).with_suffix(".png").name


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``1×C×H×W`` (or ``C×H×W``) in [0, 1] → ``H×W×C`` uint8."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save(out: Path, task: str, column: str, image_name: str, x: torch.Tensor) -> Path:
    """Write one picture atomically and return its path."""
    path = Path(out) / IMAGES / task / column / file_name(image_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    arr = to_uint8(x)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def _tile(im: Image.Image, cell: int, crop: bool) -> Image.Image:
    """A ``cell×cell`` grid cell: the centre ``cell×cell`` crop at full resolution (``crop``, images larger than
    the cell), else the whole image resized by nearest-neighbour."""
    im = im.convert("RGB")
    w, h = im.size
    if crop and min(w, h) >= cell:
        left, top = (w - cell) // 2, (h - cell) // 2
        return im.crop((left, top, left + cell, top + cell))
    return im.resize((cell, cell), Image.NEAREST)


def grid(out: Path, task: str, columns: list[str], image_names: list[str], cell: int = 96,
         crop: bool = False) -> Path | None:
    """``OUT/grid_<task>.png``: one row per image, one column per entry of ``columns``; ``None`` if nothing exists.

    Images of any size share a grid: each cell is a centre crop (``crop``) or a resized copy (see :func:`_tile`).
    """
    root = Path(out) / IMAGES / task
    names = [n for n in image_names if (root / "_truth" / file_name(n)).is_file()]
    if not names:
        return None
    pad, header = 2, 14
    canvas = Image.new("RGB", (len(columns) * (cell + pad) + pad, header + len(names) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for c, column in enumerate(columns):
        x0 = pad + c * (cell + pad)
        draw.text((x0 + 1, 1), DISPLAY_NAMES.get(column, column)[: cell // 6], fill="black", font=font)
        for r, name in enumerate(names):
            path = root / column / file_name(name)
            if not path.is_file():
                continue
            with Image.open(path) as im:
                tile = _tile(im, cell, crop)
            canvas.paste(tile, (x0, header + pad + r * (cell + pad)))
    target = Path(out) / f"grid_{task}.png"
    tmp = target.with_name(f".{target.name}.tmp")
    canvas.save(tmp, format="PNG")
    os.replace(tmp, target)
    return target
