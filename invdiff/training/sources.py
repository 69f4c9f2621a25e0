"""Where the trainer's images come from: an image folder or a training pack, whole images or random crops.

* a folder, no ``crop``: every image centre-cropped and resized to ``resolution``² (the face priors);
* a folder or a pack (:mod:`invdiff.training.pack`) with ``crop``: random crops at the images' own
  sizes, some down-scaled (:class:`~invdiff.training.crops.CropBatches`) — a size-agnostic prior.

The held-out set is ``heldout`` (a folder) when given; for a pack without it, fixed crops of the
pack's ``val`` split (images never trained on).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from .crops import CropBatches, fixed_crops
from .data import UInt8Batches, list_images, load_image_folder
from .pack import is_pack, read_pack

#: held-out crops per validation image (crop mode)
HELDOUT_CROPS_PER_IMAGE = 4


class Batches(Protocol):
    def next(self) -> torch.Tensor: ...


def _native_images(path: str) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for f in list_images(path):
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    return out


def training_data(cfg, device: torch.device, generator: torch.Generator) -> tuple[Batches, torch.Tensor | None, int]:
    """(batches, held-out uint8 N×H×W×3 on ``device`` or None, number of training images) for a TrainConfig."""
    pack = is_pack(cfg.data)
    if pack and not cfg.crop:
        raise ValueError(f"{cfg.data} is a training pack: it is read in crop mode, give --crop (e.g. 64).")
    if cfg.crop:
        images = read_pack(cfg.data, "train") if pack else _native_images(cfg.data)
        batches: Batches = CropBatches(images, cfg.crop, cfg.batch_size, device, generator, cfg.max_scale,
                                       cfg.full_scale_fraction)
        count = len(images)
        if cfg.heldout:
            val = _native_images(cfg.heldout)
        else:
            val = read_pack(cfg.data, "val") if pack else None
        held = None if val is None else fixed_crops(val, cfg.crop, HELDOUT_CROPS_PER_IMAGE)[: cfg.heldout_count]
    else:
        array = load_image_folder(cfg.data, cfg.resolution, cfg.cache_dir)
        batches, count = UInt8Batches(array, cfg.batch_size, device, generator), len(array)
        held = load_image_folder(cfg.heldout, cfg.resolution, cfg.cache_dir)[: cfg.heldout_count] if cfg.heldout \
            else None
    return batches, (None if held is None else torch.from_numpy(held).to(device)), count
