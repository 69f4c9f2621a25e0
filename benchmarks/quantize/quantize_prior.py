"""Store an unconditional prior's weights as int8 per output channel, and measure the held-out x̂₀ error it adds.

The GPU machine receives at most 64 MiB (tracked files included), so shipped priors are stored as
symmetric int8 with one float32 scale per output channel (``invdiff.priors.native``), half an fp16
file. This script writes the int8 copy of SOURCE to TARGET and compares the two networks on the
same noisy held-out images at several t: the x̂₀ MSE of each against the clean image (on [-1, 1]),
and its relative change (the issue's acceptance: within 1 %).

    python3 benchmarks/quantize/quantize_prior.py FP16.json invdiff/weights/faces64.json \
        --data ../shared/datasets/faces-utk/heldout --images 48 --out benchmarks/quantize/faces64.json

``--crop N`` evaluates on N×N crops at the images' own scale (size-agnostic priors such as
``natural``) instead of the prior's square resize (``--skip 100`` skips the first images, e.g.
the face table's). ``--compare-only`` measures an existing int8 TARGET against SOURCE. The first input block and the
last output block stay in float16 (``invdiff.priors.native.edge_layers``) unless ``--all-int8``; ``--float16 out.``
keeps the final output convolution too (3 × C × 3 × 3 weights, one int8 scale per output channel over C·9 of them:
for ``natural`` after its second training run this took the x̂₀ MSE change at t = 900 from +2.5 % to −1.0 % and
at t ≤ 700 from ≤ 0.28 % to ≤ 0.05 %, 24 Kodak crops; ``faces64`` was quantised without it and stays reproducible).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors import load_prior
from invdiff.priors.native import INT8, edge_layers, read_prior, weight_files, write_prior
from invdiff.training.data import list_images, load_square

TIMESTEPS = (50, 250, 500, 700, 900)


def centre_crops(files: list[Path], size: int) -> torch.Tensor:
    """``N×3×size×size`` centre crops at the images' own scale, in [0, 1]."""
    out = []
    for f in files:
        with Image.open(f) as im:
            a = np.asarray(im.convert("RGB"))
        h, w = a.shape[:2]
        top, left = (h - size) // 2, (w - size) // 2
        out.append(a[top:top + size, left:left + size])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div(255)


@torch.no_grad()
def x0_errors(priors: dict, x: torch.Tensor, seed: int = 0, chunk: int = 16) -> dict:
    """Per prior and t: mean x̂₀ MSE (clamped to [-1, 1]) on the same x_t = √ᾱ x + √(1−ᾱ) ε."""
    gen = torch.Generator().manual_seed(seed)
    x = 2 * x - 1
    report: dict = {name: {} for name in priors}
    for t in TIMESTEPS:
        eps = torch.randn(x.shape, generator=gen)
        first = next(iter(priors.values()))
        a = float(first.alphas_cumprod[t])
        x_t = a**0.5 * x + (1 - a) ** 0.5 * eps
        for name, prior in priors.items():
            mse = [(prior.x0(xc, t).clamp(-1, 1) - x0c).square().mean(dim=(1, 2, 3))
                   for xc, x0c in zip(x_t.split(chunk), x.split(chunk))]
            report[name][t] = float(torch.cat(mse).mean())
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="the float export (JSON)")
    ap.add_argument("target", help="where the int8 prior's JSON goes")
    ap.add_argument("--data", required=True, help="held-out image folder")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--skip", type=int, default=0, help="skip the first images (sorted by name)")
    ap.add_argument("--crop", type=int, default=None, help="evaluate on centre crops of this size at native scale")
    ap.add_argument("--shard-mb", type=float, default=15.0)
    ap.add_argument("--all-int8", action="store_true", help="quantise the edge layers too (see native.edge_layers)")
    ap.add_argument("--float16", nargs="*", default=[], metavar="PREFIX",
                    help="more key prefixes to keep in float16 beside the edge layers, e.g. 'out.' (the output "
                         "convolution: natural's x̂₀ MSE change at t = 900 was +2.5 %% with it in int8, −1.0 %% without)")
    ap.add_argument("--compare-only", action="store_true", help="TARGET exists already: only measure")
    ap.add_argument("--out", default=None, help="write the report (JSON) here")
    args = ap.parse_args()
    target = Path(args.target)
    if not args.compare_only:
        state, meta = read_prior(args.source)
        keep = {k: v for k, v in meta.items() if k not in ("format", "sha256")}
        keep["training"] = {**keep.get("training", {}), "weights": "EMA, stored as int8 per output channel"}
        target = write_prior(args.target, state, {**keep, "quantized_from_sha256": meta["sha256"]},
                             shard_bytes=int(args.shard_mb * 2**20), encoding=INT8,
                             keep_float=() if args.all_int8 else edge_layers(state) + tuple(args.float16))
    sizes = {name: sum(p.stat().st_size for p in weight_files(Path(path)))
             for name, path in (("float", args.source), ("int8", target))}
    priors = {"float": load_prior(args.source), "int8": load_prior(target)}
    files = list_images(Path(args.data))[args.skip: args.skip + args.images]
    if args.crop:
        x = centre_crops(files, args.crop)
    else:
        size = priors["float"].resolution
        x = torch.from_numpy(np.stack([load_square(f, size) for f in files])).permute(0, 3, 1, 2).float() / 255
    err = x0_errors(priors, x)
    rel = {t: 100 * (err["int8"][t] / err["float"][t] - 1) for t in TIMESTEPS}
    report = {"source": str(args.source), "target": str(target), "bytes": sizes, "images": len(x),
              "image_shape": list(x.shape[1:]), "x0_mse": err, "x0_mse_change_percent": rel}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
