"""``invdiff train``: train a diffusion prior on a folder of images (``--conditional sr4``: an SR3 model)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..training import distributed
from ..training.trainer import TrainConfig, Trainer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a diffusion prior (or an SR3 model) on a folder of images",
                       description="Train an ε-prediction ADM U-Net on every JPEG/PNG under --data (recursively). "
                                   "With --conditional sr4 it is an SR3 model of p(HR | LR): (LR, HR) pairs are made "
                                   "on the fly with the sr4 task's ×4 bicubic operator plus σ_y ~ U[0, "
                                   "--cond-sigma-max] noise, and the bicubic-upsampled LR is concatenated to x_t.")
    p.add_argument("--data", required=True, help="folder of training images (searched recursively), or a training pack "
                                                        "(.tar, made by benchmarks/natural/make_pack.py)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, log.jsonl, sample grids, export")
    p.add_argument("--name", default="prior", help="file name of the exported prior (NAME.json + safetensors)")
    p.add_argument("--preset", default=None, help="U-Net preset (see invdiff.priors.unet.PRESETS; default faces64, "
                                                  "or faces64-sr4 with --conditional)")
    p.add_argument("--conditional", default=None, choices=["sr4"],
                   help="train an SR3-style model conditioned on this task's measurement (only sr4 so far)")
    p.add_argument("--cond-sigma-max", type=float, default=0.1,
                   help="--conditional: σ_y of each training pair ~ U[0, this] on the [-1, 1] scale (default 0.1)")
    p.add_argument("--resolution", type=int, default=64, help="image size of whole-image training (ignored with --crop)")
    p.add_argument("--crop", type=int, default=None,
                   help="train a size-agnostic prior on random CROP² crops of the images at their own sizes (a "
                        "training pack given as --data is read this way); needs a preset without attention")
    p.add_argument("--max-scale", type=float, default=2.0,
                   help="--crop: down-scaled crops cover up to this many times the crop's side (default 2)")
    p.add_argument("--full-scale-fraction", type=float, default=0.5,
                   help="--crop: share of each batch cut at the images' own scale (default 0.5)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-steps", type=int, default=500)
    p.add_argument("--lr-decay", default="none", choices=["none", "linear"],
                   help="after the warm-up: constant (none), or linear to 0 at --steps (for a continued run of known "
                        "length)")
    p.add_argument("--ema-decay", type=float, default=0.9995)
    p.add_argument("--steps", type=int, default=100_000, help="stop after this many optimiser steps in total")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and export) after this much wall time")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in fp32 (bf16 autocast is default on CUDA)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="do not torch.compile the network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-every", type=int, default=2000)
    p.add_argument("--sample-every", type=int, default=5000)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--sample-count", type=int, default=64, help="images in each sample grid")
    p.add_argument("--sample-steps", type=int, default=100, help="respaced DDPM steps for the sample grids")
    p.add_argument("--heldout", default=None, help="folder of held-out images for the denoising loss (never trained on; "
                                                               "default for a pack: its val split)")
    p.add_argument("--cache-dir", default=None, help="cache the resized image arrays here (.npy)")
    p.add_argument("--init-from", default=None,
                   help="start from these weights (invdiff JSON or built-in name); optimiser starts fresh. With "
                        "--conditional an unconditional prior of the same architecture works: the condition's input "
                        "channels start at zero")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    p.add_argument("--device", default=None, help="cuda, cpu, cuda:1 … (default: cuda if available)")
    p.add_argument("--export-dtype", default="float16", choices=["float16", "bfloat16", "float32", "int8"],
                   help="int8: per output channel with the edge layers and out. in float16, as shipped priors are")
    p.add_argument("--data-note", default="", help="training-data description for the model card")
    p.add_argument("--license", default="", help="terms of use of the weights (inherit the data's terms)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["training_data_note"] = args.data_note
    values["preset"] = args.preset or ("faces64-sr4" if args.conditional else "faces64")
    if args.cond_sigma_max < 0:
        print("invdiff train: error: --cond-sigma-max must be >= 0 (σ on the [-1, 1] scale).", file=sys.stderr)
        return 2
    cfg = TrainConfig(**values)
    trainer = Trainer(cfg, device=args.device)
    if args.resume and trainer.resume():
        print(f"resumed from {trainer.ckpt_path} at step {trainer.step}")
    path = trainer.run(progress=not args.quiet)
    if trainer.rank.main:
        print(f"exported {path} after {trainer.step} steps ({trainer.images_seen} images seen)")
    distributed.finish(trainer.rank)
    return 0
