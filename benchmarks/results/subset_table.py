"""One markdown table of a benchmark run over all its image sets at once: per task × method, the means on the images
where *every* listed method ran (so each row of a task is paired), with n.

    python3 benchmarks/results/subset_table.py RUN --methods biharmonic,wiener,bicubic,ddrm,diffpir [--md OUT.md]

Why: ``invdiff bench`` reports each image set apart (Kodak24, CBSD68, and each ∩ subset); the README wants one line
per method over the 16 images of ``gpu8``, pooled. A method that did not run a task is left out of that task's
images (shown as "–"), never averaged over other images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.store import all_rows

METRICS = ("psnr", "ssim", "lpips")


def table(rows: list[dict], methods: list[str]) -> list[str]:
    """Markdown lines: one row per method, one cell per task ("PSNR / SSIM / LPIPS (n)")."""
    by = {(r["task"], r["method"], r["image"]): r for r in rows}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    cells: dict[tuple[str, str], str] = {}
    for task in tasks:
        ran = [m for m in methods if any(t == task and mm == m for t, mm, _ in by)]
        images = sorted({i for t, m, i in by if t == task and m in ran})
        images = [i for i in images if all((task, m, i) in by for m in ran)]
        for m in methods:
            if m not in ran or not images:
                cells[(task, m)] = "–"
                continue
            parts = []
            for k, digits in zip(METRICS, (2, 3, 3)):
                values = [by[(task, m, i)].get(k) for i in images]
                parts.append("n/a" if None in values else f"{sum(values) / len(values):.{digits}f}")  # lpips: false
            cells[(task, m)] = " / ".join(parts) + f" ({len(images)})"
    lines = ["| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    lines += [f"| {m} | " + " | ".join(cells[(t, m)] for t in tasks) + " |" for m in methods]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--methods", required=True, help="comma-separated method and baseline labels, in row order")
    parser.add_argument("--md", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    rows = all_rows(args.run)
    if not rows:
        raise SystemExit(f"subset_table: error: {args.run} holds no rows.")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - {r["method"] for r in rows})
    if unknown:
        raise SystemExit(f"subset_table: error: {args.run} has no rows of {unknown}.")
    text = "\n".join(table(rows, methods)) + "\n"
    if args.md:
        args.md.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
