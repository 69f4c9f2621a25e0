"""Make a continued training run's export the shipped prior, its run appended to the prior's training record.

A run continued from the shipped weights (``invdiff train --init-from natural``) exports a prior of its own name
(e.g. ``runs/natural-r3/natural-r3.json``, int8 as shipped). Shipping it means: the same weight bytes under the
shipped name (the shards' sha256 in the JSON still holds), and a card whose ``training`` keeps every run that led
to the weights — the totals (steps, crops seen, seconds) summed and the new run listed after the earlier ones with
its own batch, crop, learning-rate schedule, device and the sha256 it started from. A run that did not start from
the shipped weights is refused: its record would not describe the weights.

    python3 benchmarks/natural/ship_run.py runs/natural-r3/natural-r3.json --session 2026-11-26 \
        --device "2 x NVIDIA H100 80GB HBM3" [--to invdiff/weights/natural.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors.native import weight_files

RUN_KEYS = ("steps", "images_seen", "lr", "lr_decay", "crop", "train_seconds")


def run_record(training: dict, session: str, device: str) -> dict:
    """The new run's line in ``training["runs"]``, from its export's ``training``."""
    run = {"session": session, **{k: training[k] for k in RUN_KEYS if k in training}}
    run["batch_size"] = f"{training['batch_size']} per GPU x {training.get('gpus', 1)}"
    run["device"] = device
    run["init"] = f"{training['init_from']} sha256 {training['init_sha256']}"
    return run


def merged_training(old: dict, new: dict, session: str, device: str) -> dict:
    """``old``'s record with ``new``'s run appended; totals summed, per-run settings that differ left to the runs."""
    runs = [*(dict(r) for r in old["runs"]), run_record(new, session, device)]
    merged = {**old, "data": new["data"], "runs": runs}
    for key in ("steps", "images_seen"):
        merged[key] = sum(r[key] for r in runs)
    merged["train_seconds"] = round(sum(r["train_seconds"] for r in runs), 1)
    for key in ("crop", "lr", "batch_size", "device", "gpus"):
        if key in old and len({json.dumps(r.get(key, old[key])) for r in runs}) > 1:
            for r in runs[:-1]:  # the earlier runs trained with the old card's value
                r.setdefault(key, old[key])
            merged[key] = "see runs"
    if merged.get("crop") == "see runs":
        merged["data"] = re.sub(r"random \d+² crops", "random crops (their size: see runs)", merged["data"])
    merged["weights"] = new.get("weights", old.get("weights"))
    return merged


def ship(export: Path, target: Path, session: str, device: str) -> Path:
    """Copy ``export``'s weights over ``target``'s (same name scheme) and write the merged JSON; returns ``target``.

    Every file is written beside its destination first and moved into place only once all are written, so a
    missing or unreadable export leaves the shipped prior as it was.
    """
    try:
        new, old = json.loads(export.read_text()), json.loads(target.read_text())
        sources = weight_files(export)
    except FileNotFoundError as err:
        why = f"no such file: {err.filename}" if err.filename else str(err)
        raise SystemExit(f"ship_run: error: {why}") from None
    if new["training"].get("init_sha256") != old["sha256"]:
        raise SystemExit(f"ship_run: error: {export.name} did not start from {target.name}'s weights "
                         f"(sha256 {old['sha256'][:12]}…), so its training record would not describe them.")
    meta = {**new, "name": old["name"], "training": merged_training(old["training"], new["training"], session, device)}
    meta.pop("quantized_from_sha256", None)
    stem = target.with_suffix("")
    staged = {}  # final path → its copy beside it
    for src in sources:
        final = stem.parent / f"{stem.name}{src.name[len(export.stem):]}"  # "-00001-of-00002.safetensors" or ".safetensors"
        staged[final] = final.with_name(final.name + ".tmp")
        shutil.copyfile(src, staged[final])
    staged[target] = target.with_name(target.name + ".tmp")
    staged[target].write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    for stale in weight_files(target):
        if stale not in staged:
            stale.unlink()
    for final, tmp in staged.items():
        os.replace(tmp, final)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export", type=Path, help="the continued run's export (NAME.json beside its weights)")
    ap.add_argument("--to", type=Path, default=Path("invdiff/weights/natural.json"), help="the shipped prior's JSON")
    ap.add_argument("--session", required=True, help="when the run trained (the card's runs list)")
    ap.add_argument("--device", required=True, help="what it trained on, e.g. '2 x NVIDIA H100 80GB HBM3'")
    args = ap.parse_args()
    print(ship(args.export, args.to, args.session, args.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
