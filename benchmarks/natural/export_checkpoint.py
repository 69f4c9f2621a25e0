"""Export the EMA of a running training's checkpoint as a bfloat16 (or int8) prior, in shards that can come back.

A safety net for training on a lent GPU machine: ``invdiff train`` exports only when it ends, and a machine
given back before then takes the run with it. Run this at the end of every device call that polls a
training run, so that what comes back is always the newest EMA (``--ckpt-every`` sets how new). The JSON
is the architecture and schedule of the prior the run started from (``--like``, its ``--init-from``; without it,
the checkpoint's own preset), with the run's
training record (steps, images seen, seconds) taken from the checkpoint; the run's own export replaces it
when training ends normally.

    python3 benchmarks/natural/export_checkpoint.py runs/natural/checkpoint.pt "$OUT/partial/natural" \
        [--like invdiff/weights/natural.json] [--int8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors.native import INT8, SHIPPED_INT8, shipped_float16, write_prior
from invdiff.priors.unet import preset
from invdiff.training.trainer import TrainConfig, prior_meta

SHARD_BYTES = 15 * 2**20  # the device tool brings back files of at most 16 MiB


def export(ckpt: Path, out: Path, like: Path | None = None, int8: bool = False) -> Path:
    """Write ``out``.json + shards from the checkpoint's EMA, bfloat16 or (``int8``) as shipped priors are stored.

    The JSON follows ``like`` (a prior of the same architecture, e.g. the run's ``--init-from``); without it, the
    checkpoint's own configuration (its preset at its training resolution: a run from random init, e.g. a new preset).
    """
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    run = state["config"]
    if like is not None:
        meta = json.loads(like.read_text())
    elif run.get("conditional"):
        raise SystemExit("export_checkpoint: a conditional run's checkpoint needs --like (its input channels).")
    else:
        cfg = TrainConfig(**run)
        meta = {**prior_meta(cfg, preset(cfg.preset, image_size=cfg.resolution)), "license": cfg.license}
    for key in ("sha256", "format", "weights_encoding", "float16_layers", "quantized_from_sha256"):
        meta.pop(key, None)
    stored = SHIPPED_INT8 if int8 else "bfloat16"
    meta["training"] = {**meta.get("training", {}), "steps": state["step"], "images_seen": state["images_seen"],
                        "train_seconds": round(state["train_seconds"], 1), "batch_size": run["batch_size"],
                        "lr": run["lr"], "ema_decay": run["ema_decay"], "weights": f"EMA, stored as {stored}",
                        "exported_from": "checkpoint (export_checkpoint.py)", **state.get("init_record", {})}
    if int8:
        return write_prior(out, state["ema"], meta, shard_bytes=SHARD_BYTES, encoding=INT8,
                           keep_float=shipped_float16(state["ema"]))
    return write_prior(out, state["ema"], meta, dtype=torch.bfloat16, shard_bytes=SHARD_BYTES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path, help="the prior's path without suffix, e.g. $OUT/partial/natural")
    ap.add_argument("--like", type=Path, default=None,
                    help="a prior JSON of the same architecture (the run's --init-from; default: the checkpoint's "
                         "own preset and resolution)")
    ap.add_argument("--int8", action="store_true", help="store as shipped priors are (a wider prior fits 64 MiB)")
    args = ap.parse_args()
    if not args.checkpoint.is_file():
        print(f"export_checkpoint: error: no checkpoint at {args.checkpoint}.", file=sys.stderr)
        return 2
    path = export(args.checkpoint, args.out, args.like, args.int8)
    print(f"wrote {path} ({json.loads(path.read_text())['training']['steps']} steps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
