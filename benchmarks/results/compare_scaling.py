"""Compare the one-GPU and two-GPU tables of the scaling suite: same rows? how much faster?

    python3 benchmarks/results/compare_scaling.py ONE_GPU_DIR TWO_GPU_DIR T0 T1 T2   # epoch seconds: before, between, after

Prints JSON: rows in each, whether the keys match, the largest per-row metric difference, the
wall seconds of each command (process start, model loading and report included) and their ratio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from compare_rows import pair_table, shared_rows


def main() -> None:
    one, two = (Path(p) for p in sys.argv[1:3])
    t0, t1, t2 = (float(s) for s in sys.argv[3:6])
    wall_one, wall_two = t1 - t0, t2 - t1
    rows_one, rows_two, keys = shared_rows(one, two)
    table = pair_table(rows_one, rows_two, keys)
    diff = {m: max((e[m]["max_abs_diff"] for e in table if m in e), default=None) for m in ("psnr", "ssim", "lpips")}
    print(json.dumps({
        "rows_one_gpu": len(rows_one), "rows_two_gpus": len(rows_two), "same_keys": rows_one.keys() == rows_two.keys(),
        "max_abs_metric_difference": diff, "wall_seconds_one_gpu": wall_one, "wall_seconds_two_gpus": wall_two,
        "speed_up_wall": wall_one / wall_two,
        "solver_seconds_per_image": {e["method"]: e["seconds"] for e in table if "seconds" in e},
    }, indent=2))


if __name__ == "__main__":
    main()
