"""Compare two benchmark folders row by row, on the (task, method, image) keys they share.

    python3 benchmarks/results/compare_rows.py A_DIR B_DIR [--md FILE]

For each task × method present in both: the number of shared images, the mean PSNR / SSIM / LPIPS
and seconds per image in A and in B, the paired difference B − A (mean ± 95 % Student-t interval,
the same interval as the tables) and the largest absolute per-image difference. Prints JSON; with
``--md`` also writes a Markdown table. Used for the grid run (the first images re-solved: B should
equal A up to GPU rounding) and for the fast path (``--fast`` rows vs the fp32 table).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.report import mean_ci
from invdiff.bench.store import all_rows, row_key

METRICS = ("psnr", "ssim", "lpips", "seconds")


def shared_rows(a: Path, b: Path) -> tuple[dict, dict, list]:
    """Rows of each folder by key (results.jsonl and any shards) and the sorted keys in both."""
    rows_a = {row_key(r): r for r in all_rows(a)}
    rows_b = {row_key(r): r for r in all_rows(b)}
    return rows_a, rows_b, sorted(rows_a.keys() & rows_b.keys())


def compare(a: Path, b: Path) -> list[dict]:
    """The per task × method comparison of two folders (see the module docstring)."""
    return pair_table(*shared_rows(a, b))


def pair_table(rows_a: dict, rows_b: dict, keys: list) -> list[dict]:
    """Group the shared ``keys`` by task × method and compare each metric of A and B on them."""
    groups: dict[tuple[str, str], list] = {}
    for k in keys:
        groups.setdefault((rows_a[k]["task"], rows_a[k]["method"]), []).append(k)
    table = []
    for (task, method), group in groups.items():
        entry = {"task": task, "method": method, "images": len(group)}
        for m in METRICS:
            pairs = [(rows_a[k].get(m), rows_b[k].get(m)) for k in group]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            if not pairs:
                continue
            diff = [y - x for x, y in pairs]
            diff_mean, diff_ci95 = mean_ci(diff)
            entry[m] = {"a": mean_ci([x for x, _ in pairs])[0], "b": mean_ci([y for _, y in pairs])[0],
                        "diff": diff_mean, "diff_ci95": diff_ci95, "max_abs_diff": max(abs(d) for d in diff)}
        table.append(entry)
    return table


def markdown(table: list[dict], a: Path, b: Path) -> str:
    lines = [f"A = `{a}`, B = `{b}`; Δ = B − A per image, mean ± 95 % interval; max |Δ| over the images.", "",
             ("| task | method | n | PSNR A | PSNR B | ΔPSNR | SSIM A | SSIM B | ΔSSIM | LPIPS A | LPIPS B | ΔLPIPS "
              "| max abs ΔPSNR | s/img A | s/img B |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(e: dict, m: str, key: str, fmt: str) -> str:
        return format(e[m][key], fmt) if m in e else "n/a"

    def delta(e: dict, m: str, fmt: str) -> str:
        return f"{e[m]['diff']:+{fmt}} ± {e[m]['diff_ci95']:{fmt}}" if m in e else "n/a"

    for e in table:
        lines.append(f"| {e['task']} | {e['method']} | {e['images']} | {cell(e, 'psnr', 'a', '.2f')} | "
                     f"{cell(e, 'psnr', 'b', '.2f')} | {delta(e, 'psnr', '.2f')} | {cell(e, 'ssim', 'a', '.3f')} | "
                     f"{cell(e, 'ssim', 'b', '.3f')} | {delta(e, 'ssim', '.3f')} | {cell(e, 'lpips', 'a', '.3f')} | "
                     f"{cell(e, 'lpips', 'b', '.3f')} | {delta(e, 'lpips', '.3f')} | "
                     f"{cell(e, 'psnr', 'max_abs_diff', '.3g')} | {cell(e, 'seconds', 'a', '.3g')} | "
                     f"{cell(e, 'seconds', 'b', '.3g')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--md", type=Path, help="also write the comparison as a Markdown table here")
    args = p.parse_args(argv)
    table = compare(args.a, args.b)
    if not table:
        raise SystemExit(f"{args.a} and {args.b} share no (task, method, image) row.")
    print(json.dumps(table, indent=1))
    if args.md:
        args.md.write_text(markdown(table, args.a, args.b))


if __name__ == "__main__":
    main()
