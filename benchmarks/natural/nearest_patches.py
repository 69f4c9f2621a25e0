"""Has the natural prior memorised its training crops? Samples against their nearest training patches (issue 20).

A prior that memorised would give samples that sit much closer to some training patch than a photograph it never
saw does. This script takes the 64 EMA samples of the training run's grid (64×64 each, 100-step DDPM, seed 0) and, as
the reference, 64 crops of the pack's *val* images (held out from training), and finds for each the nearest 64×64
patch of the training split: every patch at a stride of ``--stride`` px, at the images' own scale and down-scaled by
2 (training saw crops down-scaled by s ∈ [1, 2]). It prints the RMSE (on [0, 1]) to the nearest patch for both sets
and writes a picture: each sample above its nearest training patch.

    python3 benchmarks/natural/nearest_patches.py --pack .carry/natural-pack.tar \
        --samples benchmarks/natural/samples_final.png --out benchmarks/natural/nearest_patches
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.training.pack import read_pack

P = 64


def grid_tiles(path: Path) -> torch.Tensor:
    """The P×P tiles of a sample grid PNG, N×3×P×P in [0, 1] (row-major)."""
    a = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
    _, h, w = a.shape
    return torch.stack([a[:, r:r + P, c:c + P] for r in range(0, h, P) for c in range(0, w, P)])


def val_crops(images: list[np.ndarray], count: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in range(count):
        im = images[k % len(images)]
        h, w = im.shape[:2]
        t, l = (int(torch.randint(h - P + 1, (), generator=gen)), int(torch.randint(w - P + 1, (), generator=gen)))
        out.append(torch.from_numpy(np.ascontiguousarray(im[t:t + P, l:l + P])).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def patches(im: np.ndarray, stride: int) -> torch.Tensor:
    """Every P×P patch at ``stride`` of the image and of its half-size version, M×(3·P·P) in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float() / 255
    half = F.interpolate(x, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    out = []
    for v in (x, half):
        if min(v.shape[-2:]) >= P:
            out.append(F.unfold(v, P, stride=stride)[0].T)
    return torch.cat(out)


def nearest(queries: torch.Tensor, train: list[np.ndarray], stride: int) -> tuple[torch.Tensor, list]:
    """Per query: the smallest RMSE to any training patch, and that patch (3×P×P)."""
    q = queries.flatten(1)
    q2 = q.square().sum(1)
    best = torch.full((len(q),), float("inf"))
    best_patch: list = [None] * len(q)
    for im in train:
        m = patches(im, stride)
        d = (q2[:, None] + m.square().sum(1)[None] - 2 * q @ m.T).clamp_min(0)  # squared distances
        v, i = d.min(1)
        better = v < best
        for j in torch.nonzero(better).flatten().tolist():
            best[j] = v[j]
            best_patch[j] = m[i[j]].reshape(3, P, P).clone()
    return (best / q.shape[1]).sqrt(), best_patch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--samples", type=Path, default=Path("benchmarks/natural/samples_final.png"))
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/natural/nearest_patches"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    samples = grid_tiles(args.samples)
    held = val_crops(read_pack(args.pack, "val"), len(samples))
    train = read_pack(args.pack, "train")
    d, match = nearest(torch.cat([samples, held]), train, args.stride)
    ds, dh = d[:len(samples)], d[len(samples):]
    report = {"training_images": len(train), "stride": args.stride, "scales": [1, 0.5],
              "samples": len(samples), "heldout_crops": len(held),
              "rmse_to_nearest": {name: {"median": float(v.median()), "min": float(v.min()), "p10": float(v.quantile(0.1))}
                                  for name, v in (("samples", ds), ("heldout_val_crops", dh))}}
    print(json.dumps(report, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    order = torch.argsort(ds)[:16]  # the 16 samples closest to a training patch: where memorising would show
    rows = [torch.cat([samples[i] for i in order], -1), torch.cat([match[i] for i in order], -1)]
    pic = (torch.cat(rows, -2).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pic).save(args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
