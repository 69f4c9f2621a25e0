"""Store the trained faces64-sr4 weights as int8 per output channel, and measure what that changes.

Two fp16 priors (faces64 and faces64-sr4, 38.5 MB each) would push the repository past the 64 MiB
that travels to the GPU machine; int8 with per-channel scales halves the file. This script writes
the int8 copy and compares it with the fp16 export it came from, on held-out faces:

* x̂₀ of both networks on the same noisy inputs at t = 50 … 900 (PSNR between the two, dB);
* SR3 restorations with the same seeds (×4, σ_y = 0.05, ``--steps``): PSNR of each against the
  ground truth, and between the two.

    python3 benchmarks/faces64_sr4/quantize.py FP16_DIR/faces64-sr4.json invdiff/weights/faces64-sr4.json \
        --data ../shared/datasets/faces-utk/heldout --images 8 --steps 50
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.protocol import BenchImage, list_images, load_images
from invdiff.priors import load_prior
from invdiff.priors.conditional import upsample_measurement
from invdiff.priors.native import INT8, read_prior, weight_files, write_prior
from invdiff.solvers import build_solver, seeded_generators
from invdiff.tasks import make_problem


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 1.0) -> float:
    return 10 * math.log10(peak**2 / float((a.double() - b.double()).square().mean()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source", help="the fp16 export (JSON)")
    ap.add_argument("target", help="where the int8 prior's JSON goes")
    ap.add_argument("--data", required=True, help="held-out image folder")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--shard-mb", type=float, default=15.0)
    args = ap.parse_args()
    state, meta = read_prior(args.source)
    keep = {k: v for k, v in meta.items() if k not in ("format", "sha256")}
    target = write_prior(args.target, state, {**keep, "quantized_from_sha256": meta["sha256"]},
                         shard_bytes=int(args.shard_mb * 2**20), encoding=INT8)
    sizes = {name: sum(p.stat().st_size for p in weight_files(Path(path)))
             for name, path in (("fp16", args.source), ("int8", target))}

    fp16, int8 = load_prior(args.source), load_prior(target)
    files = list_images(Path(args.data))[: args.images]
    x = load_images([BenchImage(i, f.name, f) for i, f in enumerate(files)], fp16.resolution)
    gen = torch.Generator().manual_seed(0)
    x0_agreement = {}
    with torch.no_grad():
        op = make_problem("sr4", fp16.resolution, torch.Generator().manual_seed(0), sigma_y=0.05).operator
        y = op.measure(x, seeded_generators(0, len(x)))
        cond = upsample_measurement(2 * y - 1, 4)
        for t in (50, 250, 500, 750, 900):
            a = fp16.alphas_cumprod[t].item()
            x_t = a**0.5 * (2 * x - 1) + (1 - a) ** 0.5 * torch.randn(x.shape, generator=gen)
            x0_agreement[t] = psnr(fp16.x0(x_t, t, cond), int8.x0(x_t, t, cond), peak=2.0)
    solver = build_solver("sr3", steps=args.steps)
    out16 = solver.solve(y, op, fp16, seeded_generators(1, len(x))).x
    out8 = solver.solve(y, op, int8, seeded_generators(1, len(x))).x
    report = {"bytes": sizes, "images": len(x), "x0_psnr_fp16_vs_int8_db": x0_agreement,
              f"sr3_{args.steps}": {"psnr_fp16_vs_truth": psnr(out16, x), "psnr_int8_vs_truth": psnr(out8, x),
                                    "psnr_fp16_vs_int8": psnr(out16, out8)}}
    print(json.dumps(report, indent=2))
    (Path(__file__).parent / "quantization.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
