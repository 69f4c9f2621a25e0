"""Does DPS's best ζ grow with the image size? A check on held-out natural crops (validation split, CPU).

DPS moves x by ζ ∇‖y − A x̂₀‖ per original timestep. ∇‖r‖ = −(∂x̂₀/∂x)ᵀ Aᵀ r / ‖r‖ has a norm of order one whatever
the number n of pixel values, so its per-pixel size falls as 1/√n: by that argument a ζ tuned on 64² faces would be
√(n/12,288) times too weak per pixel at n values (≈ 9.8× at 768×512). The measurement (size_scaling.txt) says the
best ζ grows less than that. This script measures PSNR and LPIPS of DPS-N with the natural
prior on centre crops of the natural pack's *val* split (held out from training, never an evaluation set) at two
sizes and several ζ, Gaussian blur (61×61, σ = 3) with σ_y = 0.05, and prints one table.

    python benchmarks/dps_step/size_scaling.py --pack .carry/natural-pack.tar --images 2 --steps 50 \
        > benchmarks/dps_step/size_scaling.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import invdiff
import operators
from invdiff.metrics import Metrics
from invdiff.solvers import DPS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "natural"))
from make_val_crops import val_centre_crops


def crops(pack: str, count: int, size: int, min_side: int) -> torch.Tensor:
    """Centre ``size``² crops of the first ``count`` val images with sides ≥ ``min_side`` (the same images at
    every size), N×3×size×size in [0, 1]."""
    found = val_centre_crops(pack, size, count, min_side)
    return torch.stack([torch.from_numpy(c).permute(2, 0, 1).float() / 255 for _, c in found])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--zetas", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    prior = invdiff.load_prior("natural")
    metrics = Metrics(lpips=True)
    print(f"DPS-{args.steps}, natural prior, Gaussian blur 61×61 σ=3, σ_y = 0.05, {args.images} val crops per size; "
          "PSNR dB / LPIPS (mean)")
    print("| size | n (values) | ζ | PSNR | LPIPS | s |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        x = crops(args.pack, args.images, size, max(args.sizes))
        op = operators.GaussianBlur(sigma=3.0, size=61, channels=3, noise=0.05)
        y = op.measure(x, torch.Generator().manual_seed(1))
        for zeta in args.zetas:
            t0 = time.time()
            gens = [torch.Generator().manual_seed(2 + i) for i in range(len(x))]
            res = DPS(steps=args.steps, zeta=zeta).solve(y, op, prior, gens, image_shape=x.shape)
            m = metrics(res.x, x)
            lp = [v for v in m["lpips"] if v is not None]
            print(f"| {size}² | {x[0].numel():,} | {zeta:g} | {np.mean(m['psnr']):.2f} | "
                  f"{np.mean(lp) if lp else float('nan'):.3f} | {time.time() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
