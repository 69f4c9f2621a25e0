"""Does the natural prior generalise? x̂₀ PSNR on training crops next to held-out crops (issue 20).

A prior that memorised its ~3.6k photographs would denoise its own training crops far better than
crops of photographs it never saw. This script measures the denoising PSNR of x̂₀ = (x_t − √(1−ᾱ) ε̂)/√ᾱ
(clamped to [-1, 1], PSNR on the [0, 1] scale) at several t on fixed crops of the same size from four
sets: the pack's train split, its val split (held out during training), Kodak24 and BSD100
(evaluation sets, never trained on). Same noise seed for every set.

    python3 benchmarks/natural/heldout_denoising.py --prior natural --pack .carry/natural-pack.tar \
        --data ../shared/datasets --crop 128 --crops 96 --out benchmarks/natural/heldout_denoising.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors import load_prior
from invdiff.training.crops import fixed_crops
from invdiff.training.data import list_images
from invdiff.training.pack import read_pack

TIMESTEPS = (50, 250, 500, 750)


def folder_images(path: Path) -> list[np.ndarray]:
    out = []
    for f in list_images(path):
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def crops_of(images: list[np.ndarray], crop: int, count: int, seed: int) -> torch.Tensor:
    """``count`` seeded crops spread over the images, as N×3×crop×crop in [-1, 1]."""
    per_image = max(1, math.ceil(count / len(images)))
    arr = fixed_crops(images, crop, per_image, seed)
    pick = np.random.default_rng(seed).permutation(len(arr))[:count]
    return torch.from_numpy(arr[np.sort(pick)]).permute(0, 3, 1, 2).float().div(127.5).sub(1)


@torch.no_grad()
def x0_psnr(prior, x: torch.Tensor, seed: int = 0, chunk: int = 16) -> dict[int, float]:
    """Mean over crops of the x̂₀ PSNR (dB, [0, 1] scale) at each t."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for t in TIMESTEPS:
        a = float(prior.alphas_cumprod[t])
        eps = torch.randn(x.shape, generator=gen)
        x_t = a**0.5 * x + (1 - a) ** 0.5 * eps
        mse = torch.cat([(prior.x0(xc, t).clamp(-1, 1) - x0).square().mean(dim=(1, 2, 3)) / 4
                         for xc, x0 in zip(x_t.split(chunk), x.split(chunk))])
        out[t] = float((-10 * torch.log10(mse)).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="natural")
    ap.add_argument("--pack", required=True, help="the training pack (train and val splits)")
    ap.add_argument("--data", required=True, help="the shared datasets folder (kodak24, natural-bsds/val)")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--crops", type=int, default=96, help="crops per set")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    prior = load_prior(args.prior)
    sets = {"train (pack)": read_pack(args.pack, "train"), "val (pack, held out)": read_pack(args.pack, "val"),
            "Kodak24": folder_images(Path(args.data) / "kodak24"),
            "BSD100": folder_images(Path(args.data) / "natural-bsds/val")}
    report = {"prior": args.prior, "sha256": prior.meta.get("sha256"), "crop": args.crop, "crops": args.crops,
              "timesteps": list(TIMESTEPS), "x0_psnr_db": {}}
    for name, images in sets.items():
        report["x0_psnr_db"][name] = x0_psnr(prior, crops_of(images, args.crop, args.crops, seed=7))
        print(name, {t: round(v, 2) for t, v in report["x0_psnr_db"][name].items()}, flush=True)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
