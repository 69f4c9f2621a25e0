"""Paired difference of two methods of one benchmark run, per task: method A − method B on the images both ran.

    python3 benchmarks/results/paired_methods.py RUN A B [--md OUT.md]

RUN is an ``invdiff bench`` folder (rows of ``results.jsonl`` and its shards); A and B are method labels, e.g.
``dps`` and ``dps-100``. For PSNR, SSIM and LPIPS: the mean of the per-image differences with its 95 % Student-t
interval, and how many images A is better on (higher PSNR/SSIM, lower LPIPS).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.report import mean_ci
from invdiff.bench.store import all_rows

METRICS = (("psnr", 1), ("ssim", 1), ("lpips", -1))  # (metric, +1 when higher is better)


def paired(rows: list[dict], a: str, b: str) -> list[dict]:
    """Per task: n, and per metric (mean difference A − B, 95 % half-width, images where A is better)."""
    by = {(r["task"], r["method"], r["image"]): r for r in rows}
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        images = sorted(i for (t, m, i) in by if t == task and m == a and (task, b, i) in by)
        if not images:
            continue
        rec = {"task": task, "n": len(images)}
        for metric, sign in METRICS:
            d = np.array([by[(task, a, i)][metric] - by[(task, b, i)][metric] for i in images
                          if by[(task, a, i)].get(metric) is not None])
            mean, half = mean_ci(d)  # the tables' interval
            rec[metric] = (mean, half, int((sign * d > 0).sum()))
        out.append(rec)
    return out


def markdown(records: list[dict], a: str, b: str) -> str:
    lines = [f"Paired per-image difference **{a} − {b}** (mean ± 95 % t-interval; \"better\": images where {a} wins)",
             "", "| task | n | Δ PSNR (dB) | better | Δ SSIM | better | Δ LPIPS | better |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        cells = [f"{r[m][0]:+.3f} ± {r[m][1]:.3f} | {r[m][2]}" if m != "psnr" else f"{r[m][0]:+.2f} ± {r[m][1]:.2f} | {r[m][2]}"
                 for m, _ in METRICS]
        lines.append(f"| {r['task']} | {r['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args()
    records = paired(all_rows(args.run), args.a, args.b)
    if not records:
        print(f"paired_methods: error: no image has rows of both {args.a!r} and {args.b!r} in {args.run}.",
              file=sys.stderr)
        return 2
    text = markdown(records, args.a, args.b)
    print(text)
    if args.md:
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
