"""A training pack: image folders re-encoded into one tar small enough to travel to a GPU machine.

The device tool sends at most 64 MiB per call, the repository included, while the natural-image
training data (``natural-train`` 3,168 JPEGs at 256², plus BSDS500 train+test 400 JPEGs at
481×321) is 87 MiB as stored. A pack keeps every image **at its own size** (the trainer takes random
crops, so nothing is resized or cropped away) and re-encodes it as WebP at the highest quality
whose pack fits a byte budget. Every ``val_every``-th image of each folder (sorted by path) goes to
the ``val`` split: never trained on, it gives the held-out denoising loss during training.

Layout (an uncompressed tar; the images are compressed already)::

    manifest.json     {"format": "invdiff-pack/1", "quality": Q, "images": [{"file", "source", "split",
                       "width", "height"}, ...], "sources": {folder name: original path}}
    images/<source>/<relative path>.webp

``invdiff train --data PACK.tar`` reads it directly (:func:`read_pack`).
"""

from __future__ import annotations

import io
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .data import list_images

FORMAT = "invdiff-pack/1"
QUALITIES = (95, 90, 85, 80, 75, 70, 60)


def is_pack(path: str | Path) -> bool:
    """Whether ``path`` is a pack file (a tar with our manifest), judged by its name."""
    return Path(path).is_file() and Path(path).name.endswith(".tar")


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _encode(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="WEBP", quality=quality, method=6)
    return buf.getvalue()


def _entries(folders: list[Path], val_every: int) -> list[dict]:
    entries = []
    for folder in folders:
        for i, f in enumerate(list_images(folder)):
            split = "val" if val_every and i % val_every == val_every - 1 else "train"
            entries.append({"path": f, "file": f"images/{folder.name}/{f.relative_to(folder).with_suffix('.webp')}",
                            "source": folder.name, "split": split})
    return entries


def write_pack(folders: list[str | Path], out: str | Path, budget_mib: float, val_every: int = 50,
               workers: int = 8, progress=None) -> dict:
    """Pack ``folders`` into ``out`` at the highest WebP quality in :data:`QUALITIES` that fits ``budget_mib``.

    Returns the manifest (plus ``bytes``). Raises ``ValueError`` if even the lowest quality does not fit.
    """
    folders = [Path(f) for f in folders]
    names = [f.name for f in folders]
    if len(set(names)) != len(names):
        raise ValueError(f"the folders' names must differ (they name the pack's sources): {names}.")
    entries = _entries(folders, val_every)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(lambda e: _rgb(e["path"]), entries))
    budget = int(budget_mib * 2**20)
    for quality in QUALITIES:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            blobs = list(pool.map(_encode, images, [quality] * len(images)))
        manifest = {"format": FORMAT, "quality": quality, "val_every": val_every,
                    "sources": {f.name: str(f) for f in folders},
                    "images": [{"file": e["file"], "source": e["source"], "split": e["split"],
                                "width": im.width, "height": im.height} for e, im in zip(entries, images)]}
        tar_bytes = _tar(manifest, [e["file"] for e in entries], blobs)
        if progress:
            progress(f"quality {quality}: {len(tar_bytes) / 2**20:.1f} MiB (budget {budget_mib} MiB)")
        if len(tar_bytes) <= budget:
            break
    else:
        raise ValueError(f"{len(images)} images do not fit {budget_mib} MiB even at WebP quality {QUALITIES[-1]}.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(tar_bytes)
    tmp.replace(out)
    return {**manifest, "bytes": len(tar_bytes)}


def _tar(manifest: dict, names: list[str], blobs: list[bytes]) -> bytes:
    """The pack as bytes: manifest first, then the images."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
        for name, blob in zip(names, blobs):
            _add(tar, name, blob)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def read_pack(path: str | Path, split: str = "train", workers: int = 8) -> list[np.ndarray]:
    """The pack's images of ``split`` ("train" or "val") as ``H×W×3`` uint8 arrays, in manifest order."""
    with tarfile.open(path, "r") as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ValueError(f"{path} is not an invdiff training pack (no manifest.json).")
        manifest = json.loads(member.read())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path} has pack format {manifest.get('format')!r}; this invdiff reads {FORMAT!r}.")
        wanted = [e for e in manifest["images"] if e["split"] == split]
        blobs = [tar.extractfile(e["file"]).read() for e in wanted]
    if not blobs:
        raise ValueError(f"{path} holds no images of split {split!r}.")

    def decode(blob: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(decode, blobs))
