"""Add to a results folder the rows of another run of the same tasks for (task, method) pairs it lacks.

Why: the issue-16 face run was cut (a bug stopped its motion-blur task; its time box ended before JPEG),
and a second call re-ran the missing pairs with configs/bench/faces64-issue16-rest.yaml — same images,
seeds, prior and step counts, a suite holding only those tasks, so its fingerprint differs and
join_runs.py (which joins whole methods) refuses it. Here a pair already in the folder is kept and
the other run's rows for it are dropped; everything added is listed in meta.json under "runs".

    python3 benchmarks/results/merge_task_rows.py benchmarks/results/faces64-issue16 OTHER_FOLDER [OTHER_FOLDER…]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.report import write_report


def merge(out: Path, other: Path) -> int:
    meta = json.loads((out / "meta.json").read_text())
    theirs = json.loads((other / "meta.json").read_text())
    for key in ("dataset", "resolution", "seed", "images"):
        if meta["suite"].get(key) != theirs["suite"].get(key):
            raise SystemExit(f"merge_task_rows: error: the runs differ in suite {key!r}.")
    if meta.get("prior", {}).get("sha256") != theirs.get("prior", {}).get("sha256"):
        raise SystemExit("merge_task_rows: error: the runs used different prior weights.")
    have = {(r["task"], r["method"]) for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    rows = [r for r in map(json.loads, (other / "results.jsonl").read_text().splitlines())
            if (r["task"], r["method"]) not in have]
    added = {(r["task"], r["method"]) for r in rows}
    for task, entries in theirs["methods"].items():
        known = {e["label"] for e in meta["methods"].setdefault(task, [])}
        meta["methods"][task] += [e for e in entries if (task, e["label"]) in added and e["label"] not in known]
    for task, spec in theirs.get("tasks", {}).items():
        if meta.setdefault("tasks", {}).setdefault(task, spec) != spec:
            raise SystemExit(f"merge_task_rows: error: task {task!r} has another protocol in {other}.")
    tasks = {t["label"] for t in meta["suite"]["tasks"]}
    meta["suite"]["tasks"] += [t for t in theirs["suite"]["tasks"] if t["label"] not in tasks]
    meta["runs"] = meta.get("runs", []) + [{**run, "merged_pairs": sorted(map(list, added))}
                                           for run in theirs.get("runs", [])]
    with open(out / "results.jsonl", "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    write_report(out)
    print(f"added {len(rows)} rows for {len(added)} (task, method) pairs from {other}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("others", type=Path, nargs="+")
    args = ap.parse_args()
    for other in args.others:
        merge(args.out, other)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
