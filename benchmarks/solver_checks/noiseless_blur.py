"""Noiseless 64² Gaussian blur (σ = 2, 15×15, reflect boundary) with DDRM and RePaint on held-out faces.

Issue 14, item 1: with σ_y = 0 every singular value s > 0 used to be treated as measured and
ȳ = Uᵀy′/s was formed down to s ≈ 1e-13, so float32 rounding was amplified ~1e13 (≈ 4.9 dB).
Writes one line per (method, image) and the mean PSNR to stdout.

    PYTHONPATH=. python benchmarks/solver_checks/noiseless_blur.py [--images 4] [--first 100] [--methods ddrm,repaint]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from invdiff.bench.protocol import BenchImage, list_images, load_images
from invdiff.metrics import psnr
from invdiff.priors.registry import load_prior
from invdiff.solvers import build_solver, seeded_generators
from invdiff.tasks import make_problem

HELDOUT = Path(os.environ.get("INVDIFF_DATA", "/work/shared/datasets")) / "faces-utk/heldout"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--first", type=int, default=100, help="index of the first image (sorted names); 100+ = validation")
    ap.add_argument("--methods", default="ddrm,repaint")
    ap.add_argument("--sigma-y", type=float, default=0.0)
    ap.add_argument("--repaint", default="250,10,10", help="steps,jump_length,resamples")
    ap.add_argument("--data", default=str(HELDOUT))
    args = ap.parse_args()
    files = list_images(Path(args.data))[args.first:args.first + args.images]
    x = load_images([BenchImage(i, f.name, f) for i, f in enumerate(files)], 64)
    prior = load_prior("faces64")
    op = make_problem("gaussian_blur", 64, torch.Generator().manual_seed(0), sigma_y=args.sigma_y).operator
    y = op.measure(x, torch.Generator().manual_seed(1))
    steps, jump, res = (int(v) for v in args.repaint.split(","))
    settings = {"ddrm": {}, "repaint": {"steps": steps, "jump_length": jump, "resamples": res}}
    torch.set_grad_enabled(False)
    for method in args.methods.split(","):
        solver = build_solver(method, **settings.get(method, {}))
        t0 = time.perf_counter()
        out = solver.solve(y, op, prior, seeded_generators(0, len(x)), image_shape=tuple(x.shape))
        scores = [float(psnr(out.x[i:i + 1], x[i:i + 1])) for i in range(len(x))]
        for f, s in zip(files, scores):
            print(f"{method} {f.name} {s:.2f} dB")
        print(f"{method} σ_y={args.sigma_y} mean PSNR {sum(scores) / len(scores):.2f} dB over {len(x)} images "
              f"({time.perf_counter() - t0:.0f} s, {out.settings})", flush=True)


if __name__ == "__main__":
    main()
