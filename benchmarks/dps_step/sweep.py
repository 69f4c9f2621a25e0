"""DPS step-size sweep on the validation split of the held-out faces (issue 14, item 2).

Validation = held-out images 100–199 in sorted file-name order; the face suite's table uses 0–99, so
nothing here is tuned on the table's images. For each (task, steps, ζ) the script restores the same
images with the same seeds and prints mean PSNR and the share of values the raw sample puts outside
[0, 1] (inside the hole for inpainting): saturated colour shows up there before it shows in PSNR.

    PYTHONPATH=. python benchmarks/dps_step/sweep.py --tasks inpaint_box,gaussian_blur \
        --zetas 0.15,0.3,0.5,1.0 --steps 100 --images 4 >> benchmarks/dps_step/results.txt

ζ is the step on ∇‖y − A x̂₀‖ per original timestep (invdiff/solvers/dps.py): with ``--steps N`` each
step applies ζ · 1000/N, so runs at different N are comparable.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from invdiff.bench.protocol import BenchImage, list_images, load_images
from invdiff.metrics import psnr
from invdiff.priors.registry import load_prior
from invdiff.solvers import DPS, seeded_generators
from invdiff.tasks import make_problem

HELDOUT = Path(os.environ.get("INVDIFF_DATA", "/work/shared/datasets")) / "faces-utk/heldout"
TASKS = {"inpaint_box": ("inpaint", {"mask_kind": "box"}), "sr4": ("sr4", {}),
         "gaussian_blur": ("gaussian_blur", {}), "motion_blur": ("motion_blur", {}),
         "inpaint_random": ("inpaint", {"mask_kind": "random", "missing": 0.92})}


def clipped_share(raw: torch.Tensor, op) -> float:
    """Share of values outside [0, 1] in the raw sample: in the hole for inpainting, else everywhere."""
    out = (raw < 0) | (raw > 1)
    mask = getattr(op, "mask", None)
    if mask is None:
        return float(out.float().mean())
    hole = (mask == 0).expand_as(raw)
    return float(out[hole].float().mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="inpaint_box")
    ap.add_argument("--zetas", default="0.3,0.5")
    ap.add_argument("--steps", default="100")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--first", type=int, default=100, help="first image index (validation split: 100–199)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.first < 100:
        raise SystemExit("images 0–99 are the benchmark table's; tune on 100–199.")
    files = list_images(HELDOUT)[args.first:args.first + args.images]
    x = load_images([BenchImage(i, f.name, f) for i, f in enumerate(files)], 64).to(args.device)
    prior = load_prior("faces64", device=args.device)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} CPU ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, device {args.device}), images {args.first}–{args.first + len(x) - 1} of {HELDOUT}", flush=True)
    for label in args.tasks.split(","):
        task, params = TASKS[label]
        op = make_problem(task, 64, torch.Generator().manual_seed(1000), sigma_y=0.05, **params).operator
        y = op.measure(x.cpu(), torch.Generator().manual_seed(2000)).to(args.device)  # one operator for the batch
        for steps in (int(s) for s in args.steps.split(",")):
            for zeta in (float(z) for z in args.zetas.split(",")):
                t0 = time.perf_counter()
                res = DPS(steps=steps, zeta=zeta).solve(y, op, prior, seeded_generators(0, len(x), args.device),
                                                        image_shape=tuple(x.shape))
                out, raw = res.x.cpu(), res.raw.cpu()
                scores = [float(psnr(out[i:i + 1], x[i:i + 1].cpu())) for i in range(len(x))]
                clips = [clipped_share(raw[i:i + 1], op) for i in range(len(x))]
                print(f"{label:14s} steps={steps:4d} zeta={zeta:<5g} PSNR {sum(scores) / len(scores):6.2f} dB  "
                      f"clipped {100 * sum(clips) / len(clips):5.2f} %  per image "
                      f"{' '.join(f'{s:.2f}' for s in scores)}  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
