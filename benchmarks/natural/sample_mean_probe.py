"""How much PSNR does averaging K posterior samples buy? One solver, K samples per image, means of the first k.

A diffusion solver draws a *sample* of the posterior p(x | y). PSNR rewards the posterior *mean*: for exact
posterior samples E‖x̂ − x‖² = 2 · MMSE, and the mean of K samples has (1 + 1/K) · MMSE, so a single sample sits
up to 10·log10(2) ≈ 3 dB below the MMSE estimate and the mean of 4 recovers up to 2 dB of it. LPIPS moves the
other way (a mean is smoother than any sample). This script measures both on a validation suite (never test
images): per task and image, the suite's measurement (bench protocol seeds), then K solves with K sampler seeds
(the protocol's sampler seed with the sample index appended), and for k = 1, 2, 4, …, K the PSNR / LPIPS of the
mean of the first k samples — so one run of K solves gives every k.

    INVDIFF_DATA=/tmp/natval python3 benchmarks/natural/sample_mean_probe.py configs/bench/natural-val-ddrm-psnr.yaml \
        --method ddrm --samples 8 --out benchmarks/natural/sample_mean/ddrm20_val160.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.protocol import data_root, derive_seed, load_native, measure, suite_images
from invdiff.bench.report import mean_ci
from invdiff.bench.suite import load_suite
from invdiff.metrics import build_lpips, find_alexnet_weights, psnr
from invdiff.priors import load_prior
from invdiff.solvers.registry import build_solver


def ks(samples: int) -> list[int]:
    """1, 2, 4, … up to ``samples`` (and ``samples`` itself)."""
    out = [2**i for i in range(int(math.log2(samples)) + 1)]
    return out + ([samples] if out[-1] != samples else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("--method", default="ddrm")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--prior", default=None, help="default: the suite's prior")
    ap.add_argument("--tasks", default=None, help="comma-separated task labels (default: all of the suite's)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    suite = load_suite(args.suite)
    prior = load_prior(args.prior or suite.prior)
    solver = build_solver(args.method, steps=args.steps)
    weights, _ = find_alexnet_weights()
    lpips = build_lpips(weights) if weights is not None else None
    images = suite_images(suite, data_root(None))
    tasks = [t for t in suite.tasks if args.tasks is None or t.label in args.tasks.split(",")]
    rows = []
    for task in tasks:
        for image in images:
            x = load_native(image, suite.multiple_of)
            m = measure(suite, task, image, x)
            t0 = time.perf_counter()
            xs = []
            for s in range(args.samples):
                gen = torch.Generator().manual_seed(derive_seed(suite.seed, task.label, image.name, "sampler", s))
                xs.append(solver.solve(m.y, m.operator, prior, generator=gen, image_shape=x.shape).raw)
            row = {"task": task.label, "image": image.name, "seconds": time.perf_counter() - t0, "k": {}}
            for k in ks(args.samples):
                mean = torch.stack(xs[:k]).mean(0).clamp(0, 1)
                row["k"][k] = {"psnr": float(psnr(mean, x)),
                               "lpips": float(lpips(mean * 2 - 1, x * 2 - 1).mean()) if lpips is not None else None}
            rows.append(row)
            print(task.label, image.name, {k: round(v["psnr"], 2) for k, v in row["k"].items()}, flush=True)
    summary = {}
    for task in tasks:
        mine = [r for r in rows if r["task"] == task.label]
        summary[task.label] = {}
        for k in ks(args.samples):
            d = [r["k"][k]["psnr"] - r["k"][1]["psnr"] for r in mine]
            dl = [r["k"][k]["lpips"] - r["k"][1]["lpips"] for r in mine] if lpips is not None else []
            summary[task.label][k] = {"psnr": sum(r["k"][k]["psnr"] for r in mine) / len(mine),
                                      "gain_vs_1": mean_ci(d), "lpips_change_vs_1": mean_ci(dl) if dl else None}
    report = {"script": "benchmarks/natural/sample_mean_probe.py", "argv": sys.argv[1:], "suite": suite.name,
              "method": args.method, "steps": args.steps, "samples": args.samples, "prior": prior.meta.get("sha256"),
              "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
