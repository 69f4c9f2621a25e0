"""``invdiff bench``: run a benchmark suite (tasks × methods × a held-out image set) into a folder."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite and write metric tables",
                       description="Run SUITE.yaml (see configs/bench/) into --out: results.jsonl (resumable), "
                                   "results.md, results.csv, meta.json and one PNG grid per task. Under torchrun "
                                   "the images are sharded over the ranks.")
    p.add_argument("suite", help="suite YAML file, e.g. configs/bench/faces64.yaml")
    p.add_argument("--out", required=True, help="output folder; rerunning into it resumes where it stopped")
    p.add_argument("--data", default=None, help="dataset root (default: $INVDIFF_DATA)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images of the suite")
    p.add_argument("--device", default=None, help="cuda, cpu, cuda:1 … (default: cuda if available; "
                                                  "under torchrun each rank takes its local GPU)")
    p.add_argument("--batch-size", type=int, default=None, help="images solved at once (default: the suite's)")
    p.add_argument("--save-images", action="store_true", help="also dump every restored image as PNG")
    p.add_argument("--prior", default=None, help="override the suite's prior (built-in name or path)")
    p.add_argument("--lpips-weights", default=None,
                   help="AlexNet features file for LPIPS (default: $INVDIFF_LPIPS_ALEXNET, ../shared, torch hub)")
    p.add_argument("--fast", action="store_true",
                   help="CUDA only: run the priors in bf16 autocast with channels_last and "
                        "torch.compile(mode='reduce-overhead') (CUDA graphs), and draw the sampler noise from CUDA "
                        "generators with the protocol's seeds (measurements stay identical); results then differ "
                        "slightly from the default fp32 path, the first batch of each task × method compiles for "
                        "a minute or more (untimed), rows say \"speed\": \"fast\", and a folder never mixes "
                        "the two modes (an error on the CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..api import UsageError
    from ..bench import load_suite, run_suite

    suite = load_suite(args.suite)
    try:
        out = run_suite(suite, args.out, data=args.data, limit=args.limit, device=args.device,
                        batch_size=args.batch_size, save_images=args.save_images, prior=args.prior,
                        lpips_weights=args.lpips_weights, progress=not args.quiet,
                        command=["invdiff", *sys.argv[1:]], fast=args.fast)
    except UsageError as err:  # --fast on the CPU, or a folder of the other speed mode: one line
        print(f"invdiff bench: error: {err}", file=sys.stderr)
        return 2
    print(f"results in {out / 'results.md'}")
    return 0
