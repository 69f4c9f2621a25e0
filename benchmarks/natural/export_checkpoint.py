"""Export the EMA of a running training's checkpoint as a bfloat16 prior, in shards that can come back.

A safety net for training on a lent GPU machine: ``invdiff train`` exports only when it ends, and a machine
given back before then takes the run with it. Run this at the end of every device call that polls a
training run, so that what comes back is always the newest EMA (``--ckpt-every`` sets how new). The JSON
is the architecture and schedule of the prior the run started from (``--init-from``), with the run's
training record (steps, images seen, seconds) taken from the checkpoint; the run's own export replaces it
when training ends normally.

    python3 benchmarks/natural/export_checkpoint.py runs/natural/checkpoint.pt "$OUT/partial/natural" \
        --like invdiff/weights/natural.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors.native import write_prior

SHARD_BYTES = 15 * 2**20  # the device tool brings back files of at most 16 MiB


def export(ckpt: Path, out: Path, like: Path) -> Path:
    """Write ``out``.json + bf16 shards from the checkpoint's EMA; the JSON follows ``like``'s architecture."""
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    meta = json.loads(like.read_text())
    for key in ("sha256", "format", "weights_encoding", "float16_layers", "quantized_from_sha256"):
        meta.pop(key, None)
    run = state["config"]
    meta["training"] = {**meta.get("training", {}), "steps": state["step"], "images_seen": state["images_seen"],
                        "train_seconds": round(state["train_seconds"], 1), "batch_size": run["batch_size"],
                        "lr": run["lr"], "ema_decay": run["ema_decay"], "weights": "EMA, stored as bfloat16",
                        "exported_from": "checkpoint (export_checkpoint.py)", **state.get("init_record", {})}
    return write_prior(out, state["ema"], meta, dtype=torch.bfloat16, shard_bytes=SHARD_BYTES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path, help="the prior's path without suffix, e.g. $OUT/partial/natural")
    ap.add_argument("--like", type=Path, default=Path("invdiff/weights/natural.json"),
                    help="a prior JSON of the same architecture (the run's --init-from)")
    args = ap.parse_args()
    if not args.checkpoint.is_file():
        print(f"export_checkpoint: error: no checkpoint at {args.checkpoint}.", file=sys.stderr)
        return 2
    path = export(args.checkpoint, args.out, args.like)
    print(f"wrote {path} ({json.loads(path.read_text())['training']['steps']} steps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
