"""Join the rows of another run of the same suite into a results folder, then rewrite its tables.

Why: a suite's columns may be computed on different machines — the classical baselines on a CPU
(they need no GPU and take long: biharmonic inpainting of a 768×512 photo is ~20 s), the diffusion
methods in a GPU call — each into its own folder. Both runs must have the same protocol: the same
suite fingerprint, or a baselines-only run that loaded no prior (fingerprint without the prior) whose
suite, metrics and tasks agree with the other run's. A method or baseline present in both is refused,
unless ``--replace``: then the folder's rows of every (task, method) pair the other run brings are dropped (a
rerun with new settings, e.g. tuned on a validation split; a rerun cut after some tasks replaces those only), and
meta.json lists what was replaced. Nothing is written unless every check passes.

    python3 benchmarks/results/join_runs.py benchmarks/results/natural OTHER_ROWS.jsonl OTHER_META.json [--replace]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.report import write_report
from invdiff.bench.store import read_rows

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


def _without(meta: dict, rows: list[dict], pairs: set[tuple[str, str]], reason: str) -> tuple[dict, list[dict]]:
    """``meta`` and ``rows`` less the (task, label) ``pairs`` (a rerun replaces them), with the replacement recorded."""
    keep = [r for r in rows if (r["task"], r["method"]) not in pairs]
    methods = {t: [e for e in entries if (t, e["label"]) not in pairs] for t, entries in meta["methods"].items()}
    left = {label for entries in methods.values() for label in (e["label"] for e in entries)}
    suite = {**meta["suite"], "methods": [m for m in meta["suite"]["methods"] if m.get("label") in left
                                          or m.get("label") not in {label for _, label in pairs}]}
    record = {"pairs": sorted([list(p) for p in pairs]), "rows_dropped": len(rows) - len(keep), "reason": reason}
    return {**meta, "methods": methods, "suite": suite, "replaced": meta.get("replaced", []) + [record]}, keep


def _write_rows(path: Path, rows: list[dict]) -> None:
    """Replace the rows file in one step (a crash leaves the old file, never half of the new)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def join(out: Path, rows_path: Path, meta_path: Path, replace: bool = False,
         reason: str = "rerun with new settings") -> int:
    meta = json.loads((out / "meta.json").read_text())
    other = json.loads(meta_path.read_text())
    rows = read_rows(out / "results.jsonl")
    differ = [k for k in SAME if _protocol(meta, k) != _protocol(other, k)]
    if meta["fingerprint"] != other["fingerprint"] and not (meta["prior"] is None or other["prior"] is None):
        differ.append("fingerprint (both runs loaded a prior)")
    if differ:
        raise SystemExit(f"join_runs: error: the two runs differ in {differ}: not the same protocol.")
    both = _labels(meta) & _labels(other)
    if both and replace:
        meta, rows = _without(meta, rows, both, reason)
    elif both:
        raise SystemExit(f"join_runs: error: both runs have rows for {sorted(both)[:3]}; pass --replace to replace "
                         "the folder's rows of those (task, method) pairs.")
    prior_run = other if meta["prior"] is None else meta
    joined = {**meta, "prior": prior_run["prior"], "fingerprint": prior_run["fingerprint"],
              "methods": {t: meta["methods"].get(t, []) + other["methods"].get(t, [])
                          for t in dict.fromkeys([*meta["methods"], *other["methods"]])},
              "runs": meta.get("runs", []) + other.get("runs", [])}
    have = {m.get("label") for m in meta["suite"]["methods"]}
    joined["suite"] = {**meta["suite"],
                       "methods": meta["suite"]["methods"] + [m for m in other["suite"]["methods"]
                                                              if m.get("label") not in have],
                       "baselines": list(dict.fromkeys(meta["suite"]["baselines"] + other["suite"]["baselines"]))}
    new_rows = read_rows(rows_path)
    _write_rows(out / "results.jsonl", rows + new_rows)
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
