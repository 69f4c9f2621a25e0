"""Random crops for a size-agnostic (patch) prior, cut on the training device.

A fully convolutional prior trained on small random crops sees the same per-pixel statistics as
a 768×512 photograph restored at its own size, and ~3.6k photographs give millions of distinct
crops, where a whole-image prior would memorise them. Each batch mixes crops at the images' own
scale with down-scaled ones: a sub-batch takes a square of side ``round(crop · s)`` and resizes
it to ``crop`` with an antialiased filter, s = 1 for a ``full_scale_fraction`` of the sub-batches
and s ~ U[1, ``max_scale``] for the rest, so the prior also knows the sharper statistics of
photographs seen from further away. Horizontal flips with probability ½.

Images of different sizes are kept as one uint8 tensor per distinct shape, on the device; an
image is picked with probability proportional to its area, so a large photo gives more crops.
All random numbers come from one CPU ``torch.Generator`` (the data order), which makes a run
reproducible and resumable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class CropBatches:
    """Random ``crop``² crops (N×3×crop×crop in [-1, 1]) from uint8 images of any sizes."""

    def __init__(self, images: list[np.ndarray], crop: int, batch_size: int, device: torch.device,
                 generator: torch.Generator, max_scale: float = 2.0, full_scale_fraction: float = 0.5,
                 sub_batches: int = 4) -> None:
        smallest = min(min(im.shape[:2]) for im in images)
        if crop > smallest:
            raise ValueError(f"crop {crop} exceeds the smallest training image side ({smallest} px).")
        if max_scale < 1:
            raise ValueError(f"max_scale must be >= 1 (got {max_scale}).")
        shapes = sorted({im.shape for im in images})
        self.groups = [torch.from_numpy(np.stack([im for im in images if im.shape == s])).to(device) for s in shapes]
        self.weights = torch.tensor([float(g.shape[0] * g.shape[1] * g.shape[2]) for g in self.groups])
        self.crop, self.batch_size, self.generator = crop, batch_size, generator
        self.max_scale = min(max_scale, smallest / crop)
        self.full_scale_fraction, self.sub_batches = full_scale_fraction, max(1, min(sub_batches, batch_size))
        self.count = len(images)

    def _scale(self, k: int) -> float:
        """s for sub-batch k: the first ⌈fraction·K⌉ are at full scale, the others s ~ U[1, max_scale]."""
        if k < math.ceil(self.full_scale_fraction * self.sub_batches) or self.max_scale == 1:
            return 1.0
        return 1.0 + (self.max_scale - 1.0) * torch.rand((), generator=self.generator).item()

    def _cut(self, n: int, side: int) -> torch.Tensor:
        """``n`` random side² crops (N×side×side×3 uint8) from one shape group, picked by area."""
        gi = torch.multinomial(self.weights, 1, generator=self.generator).item()
        group = self.groups[gi]
        _, h, w, _ = group.shape
        idx = torch.randint(group.shape[0], (n,), generator=self.generator)
        top = torch.randint(h - side + 1, (n,), generator=self.generator)
        left = torch.randint(w - side + 1, (n,), generator=self.generator)
        ar = torch.arange(side)
        rows, cols = (top[:, None] + ar), (left[:, None] + ar)
        dev = group.device
        return group[idx.to(dev)[:, None, None], rows.to(dev)[:, :, None], cols.to(dev)[:, None, :]]

    def next(self) -> torch.Tensor:
        sizes = [len(c) for c in torch.arange(self.batch_size).chunk(self.sub_batches)]
        parts = []
        for k, n in enumerate(sizes):
            side = round(self.crop * self._scale(k))
            x = self._cut(n, side).permute(0, 3, 1, 2).float()
            if side != self.crop:
                x = F.interpolate(x, size=(self.crop, self.crop), mode="bicubic", antialias=True, align_corners=False)
            parts.append(x)
        x = torch.cat(parts).div_(127.5).sub_(1.0).clamp_(-1, 1)
        flip = (torch.rand(self.batch_size, generator=self.generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x.contiguous(memory_format=torch.channels_last)


def fixed_crops(images: list[np.ndarray], crop: int, per_image: int, seed: int = 1234) -> np.ndarray:
    """``per_image`` crops of each image at its own scale, at seeded positions: a fixed held-out set (N×c×c×3)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for im in images:
        h, w = im.shape[:2]
        for _ in range(per_image):
            top = int(torch.randint(h - crop + 1, (), generator=gen))
            left = int(torch.randint(w - crop + 1, (), generator=gen))
            out.append(im[top:top + crop, left:left + crop])
    return np.stack(out)
