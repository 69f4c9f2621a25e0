"""Image folders for training: recursive listing, deterministic resize/crop, a uint8 cache.

A folder of JPEG/PNG files (any depth) becomes an ``N×H×W×3`` uint8 array: each image is
centre-cropped to a square and resized with an antialiased bicubic filter. The order is the
sorted relative path, so the same folder always gives the same array; the cache file records
the list of files it was built from and is rebuilt when that list changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(root: str | Path) -> list[Path]:
    """All image files under ``root`` (recursively), sorted by relative path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no JPEG/PNG images found under {root}.")
    return files


def load_square(path: Path, size: int) -> np.ndarray:
    """One image as ``size×size×3`` uint8: centre square crop, then antialiased bicubic resize."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != size:
            im = im.resize((size, size), Image.BICUBIC, reducing_gap=None)
        return np.asarray(im, dtype=np.uint8)


def _fingerprint(files: list[Path], root: Path, size: int) -> str:
    digest = hashlib.sha256(str(size).encode())
    for f in files:
        digest.update(str(f.relative_to(root)).encode())
        digest.update(str(f.stat().st_size).encode())
    return digest.hexdigest()[:16]


def load_image_folder(root: str | Path, size: int, cache_dir: str | Path | None = None, workers: int = 8) -> np.ndarray:
    """The folder as an ``N×size×size×3`` uint8 array, read through an optional ``.npy`` cache."""
    root = Path(root)
    files = list_images(root)
    key = _fingerprint(files, root, size)
    cache = Path(cache_dir) / f"{root.name}-{size}-{key}.npy" if cache_dir else None
    if cache is not None and cache.exists():
        return np.load(cache)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = np.stack(list(pool.map(lambda f: load_square(f, size), files)))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, images)
        os.replace(tmp, cache)
        cache.with_suffix(".json").write_text(json.dumps({"root": str(root), "size": size, "count": len(files)}))
    return images


def to_model_range(batch_uint8: torch.Tensor) -> torch.Tensor:
    """``N×H×W×3`` uint8 → ``N×3×H×W`` float in [-1, 1] (the prior's range)."""
    return batch_uint8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


class UInt8Batches:
    """Random mini-batches with horizontal flips from a uint8 array kept on the training device."""

    def __init__(self, images: np.ndarray, batch_size: int, device: torch.device, generator: torch.Generator,
                 flip: bool = True) -> None:
        if len(images) < batch_size:
            raise ValueError(f"batch size {batch_size} exceeds the {len(images)} training images.")
        self.images = torch.from_numpy(images).to(device)
        self.batch_size, self.flip, self.generator = batch_size, flip, generator

    def next(self) -> torch.Tensor:
        idx = torch.randint(len(self.images), (self.batch_size,), generator=self.generator)
        x = to_model_range(self.images[idx.to(self.images.device)])
        if self.flip:
            flip = torch.rand(self.batch_size, generator=self.generator) < 0.5
            x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
        return x
