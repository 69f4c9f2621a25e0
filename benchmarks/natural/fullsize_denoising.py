"""Does a prior's denoising gain on crops hold on whole photographs? x̂₀ PSNR of two or more priors at three sizes.

``heldout_denoising.py`` measures x̂₀ on 128² crops. The solvers, though, run the network on the whole photograph
(480×320 on the validation split), where a convolutional prior sees far more context than in training and its
windowed attention many more windows. This script measures, on the natural validation split's images
(``configs/bench/natural-tune.yaml``: 6 BSD100 images outside CBSD68, never a test or training image), the x̂₀ PSNR
(clamped to [-1, 1], [0, 1] scale) of each prior at each t on

* the whole image (480×320, the size the validation sweep solves at),
* its centre 128² crop and its centre 64² crop (the training crop sizes),

with the same noise for every prior (one seeded draw per image, size and t), and the paired difference of each
prior against the first, per size and t (mean ± 95 % t-interval over the images).

    python3 benchmarks/natural/fullsize_denoising.py --priors natural .carry/natural-r3/natural-r3.json \
        --data ../shared/datasets --out benchmarks/natural/arms-s7/fullsize_denoising.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.report import mean_ci
from invdiff.priors import load_prior

REPO = Path(__file__).resolve().parents[2]
TIMESTEPS = (50, 250, 500, 750)
SIZES = ("whole", "crop128", "crop64")


def validation_images(data: Path, suite: Path) -> list[tuple[str, torch.Tensor]]:
    """The validation split's images, cut to 480×320 (H×W 320×480 or its transpose), as 1×3×H×W in [-1, 1]."""
    raw = yaml.safe_load(suite.read_text())
    (split,) = raw["sets"].values()
    out = []
    for name in split["images"]:
        with Image.open(data / split["dataset"] / name) as im:
            arr = np.asarray(im.convert("RGB"))
        h, w = arr.shape[0] // 16 * 16, arr.shape[1] // 16 * 16
        out.append((name, torch.from_numpy(arr[:h, :w].copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1)))
    return out


def centre(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def views(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"whole": x, "crop128": centre(x, 128), "crop64": centre(x, 64)}


@torch.no_grad()
def x0_psnr(prior, x: torch.Tensor, t: int, seed: int) -> float:
    """x̂₀ PSNR (dB, [0, 1] scale) of one image at step ``t`` under the noise drawn from ``seed``."""
    a = float(prior.alphas_cumprod[t])
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    x_t = a**0.5 * x + (1 - a) ** 0.5 * eps
    mse = (prior.x0(x_t, t).clamp(-1, 1) - x).square().mean() / 4
    return float(-10 * torch.log10(mse))


def measure(prior, images: list[tuple[str, torch.Tensor]]) -> dict[str, dict[int, list[float]]]:
    """Per size and t, the x̂₀ PSNR of every image (seeds depend on the image's index, the size and t only)."""
    out: dict[str, dict[int, list[float]]] = {s: {t: [] for t in TIMESTEPS} for s in SIZES}
    for i, (_, x) in enumerate(images):
        for j, (size, v) in enumerate(views(x).items()):
            for t in TIMESTEPS:
                out[size][t].append(x0_psnr(prior, v, t, seed=1000 * i + 10 * j + TIMESTEPS.index(t)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--priors", nargs="+", required=True, help="built-in names or exported prior JSON paths; "
                    "differences are against the first")
    ap.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    ap.add_argument("--suite", type=Path, default=REPO / "configs" / "bench" / "natural-tune.yaml")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    images = validation_images(args.data, args.suite)
    per_prior = {}
    for name in args.priors:
        prior = load_prior(name)
        per_prior[name] = {"sha256": prior.meta.get("sha256"), "x0_psnr_db": measure(prior, images)}
        means = {s: {t: round(float(np.mean(v)), 2) for t, v in d.items()} for s, d in per_prior[name]["x0_psnr_db"].items()}
        print(name, json.dumps(means), flush=True)
    base = args.priors[0]
    diffs = {}
    for name in args.priors[1:]:
        diffs[name] = {}
        for s in SIZES:
            diffs[name][s] = {}
            for t in TIMESTEPS:
                d = np.subtract(per_prior[name]["x0_psnr_db"][s][t], per_prior[base]["x0_psnr_db"][s][t])
                mean, half = mean_ci(list(d))
                diffs[name][s][t] = {"diff": mean, "ci95": half, "better": int((d > 0).sum())}
        print(f"{name} − {base}:", json.dumps({s: {t: f"{v['diff']:+.2f} ± {v['ci95']:.2f} ({v['better']}/{len(images)})"
                                                   for t, v in d.items()} for s, d in diffs[name].items()}), flush=True)
    report = {"script": "benchmarks/natural/fullsize_denoising.py", "suite": str(args.suite.relative_to(REPO))
              if args.suite.is_relative_to(REPO) else str(args.suite), "images": [n for n, _ in images],
              "shape_hw": list(images[0][1].shape[-2:]), "timesteps": list(TIMESTEPS), "priors": per_prior,
              "paired_vs_first": diffs}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
