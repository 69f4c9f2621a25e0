"""Join the rows of another run of the same suite into a results folder, then rewrite its tables.

Why: a suite's columns may be computed on different machines — the classical baselines on a CPU
(they need no GPU and take long: biharmonic inpainting of a 768×512 photo is ~20 s), the diffusion
methods in a GPU call — each into its own folder. Both runs must have the same protocol: the same
suite fingerprint, or a baselines-only run that loaded no prior (fingerprint without the prior) whose
suite, metrics and tasks agree with the other run's. A method or baseline present in both is refused,
unless ``--replace``: then the folder's rows of every label the other run brings are dropped first (a
rerun with new settings, e.g. tuned on a validation split), and meta.json lists what was replaced.

    python3 benchmarks/results/join_runs.py benchmarks/results/natural OTHER_ROWS.jsonl OTHER_META.json [--replace]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.report import write_report

SAME = ("metrics", "tasks", "protocol")


def _protocol(meta: dict, key: str):
    """``meta[key]``, less where the LPIPS file was found (its sha256 stays and must agree)."""
    value = meta.get(key)
    if key == "metrics" and isinstance(value, dict) and isinstance(value.get("lpips"), dict):
        lpips = {k: v for k, v in value["lpips"].items() if k not in ("backbone", "backbone_found_by")}
        value = {**value, "lpips": lpips}
    return value


def _labels(meta: dict) -> set[tuple[str, str]]:
    return {(task, e["label"]) for task, entries in meta["methods"].items() for e in entries}


def drop_labels(out: Path, meta: dict, labels: set[str], reason: str) -> dict:
    """Remove the rows and meta entries of ``labels`` from the folder ``out``; returns the updated meta."""
    path = out / "results.jsonl"
    lines = path.read_text().splitlines()
    keep = [line for line in lines if line.strip() and json.loads(line)["method"] not in labels]
    path.write_text("".join(line + "\n" for line in keep))
    dropped = len([line for line in lines if line.strip()]) - len(keep)
    methods = {t: [e for e in entries if e["label"] not in labels] for t, entries in meta["methods"].items()}
    suite = {**meta["suite"], "methods": [m for m in meta["suite"]["methods"] if m.get("label") not in labels]}
    record = {"labels": sorted(labels), "rows_dropped": dropped, "reason": reason}
    return {**meta, "methods": methods, "suite": suite, "replaced": meta.get("replaced", []) + [record]}


def join(out: Path, rows_path: Path, meta_path: Path, replace: bool = False,
         reason: str = "rerun with new settings") -> int:
    meta = json.loads((out / "meta.json").read_text())
    other = json.loads(meta_path.read_text())
    if replace:
        brought = {label for _, label in _labels(other)}
        meta = drop_labels(out, meta, brought & {label for _, label in _labels(meta)}, reason)
    differ = [k for k in SAME if _protocol(meta, k) != _protocol(other, k)]
    if meta["fingerprint"] != other["fingerprint"] and not (meta["prior"] is None or other["prior"] is None):
        differ.append("fingerprint (both runs loaded a prior)")
    if differ:
        raise SystemExit(f"join_runs: error: the two runs differ in {differ}: not the same protocol.")
    both = _labels(meta) & _labels(other)
    if both:
        raise SystemExit(f"join_runs: error: both runs have rows for {sorted(both)[:3]} …")
    prior_run = other if meta["prior"] is None else meta
    joined = {**meta, "prior": prior_run["prior"], "fingerprint": prior_run["fingerprint"],
              "methods": {t: meta["methods"].get(t, []) + other["methods"].get(t, [])
                          for t in dict.fromkeys([*meta["methods"], *other["methods"]])},
              "runs": meta.get("runs", []) + other.get("runs", [])}
    joined["suite"] = {**meta["suite"], "methods": meta["suite"]["methods"] + other["suite"]["methods"],
                       "baselines": meta["suite"]["baselines"] + other["suite"]["baselines"]}
    new_rows = rows_path.read_text().splitlines()
    with open(out / "results.jsonl", "a") as f:
        f.writelines(line + "\n" for line in new_rows if line.strip())
    (out / "meta.json").write_text(json.dumps(joined, indent=2, default=str) + "\n")
    paths = write_report(out)
    print(f"joined {len(new_rows)} rows into {out}: {', '.join(str(p) for p in paths.values())}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the results folder to join into")
    ap.add_argument("rows", type=Path, help="the other run's rows (JSONL)")
    ap.add_argument("meta", type=Path, help="the other run's meta.json")
    ap.add_argument("--replace", action="store_true", help="drop the folder's rows of the labels the other run brings")
    ap.add_argument("--reason", default="rerun with new settings", help="why (recorded in meta.json with --replace)")
    args = ap.parse_args()
    return join(args.out, args.rows, args.meta, args.replace, args.reason)


if __name__ == "__main__":
    raise SystemExit(main())
