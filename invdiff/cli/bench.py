"""``invdiff bench``: run a benchmark suite (tasks × methods × a held-out image set) into a folder."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite and write metric tables",
                       description="Run SUITE.yaml (see configs/bench/) into --out: results.jsonl (resumable), "
                                   "results.md, results.csv, meta.json and one PNG grid per task. Under torchrun "
                                   "the images are sharded over the ranks. configs/bench/samples.yaml runs with "
                                   "what ships (no --data); the others read --data or $INVDIFF_DATA.")
    p.add_argument("suite", help="suite YAML file, e.g. configs/bench/faces64.yaml")
    p.add_argument("--out", required=True, help="output folder; rerunning into it resumes where it stopped")
    p.add_argument("--data", default=None, help="dataset root (default: $INVDIFF_DATA)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images of each image set of the suite")
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
                        "speed modes (an error on the CPU)")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="with --fast: no torch.compile (bf16 autocast and channels_last only; rows say \"speed\": "
                        "\"fast-eager\"): no compilation per image shape, but each network "
                        "call is several times slower there, and slower than without --fast (eager fp32), which "
                        "compiles nothing either: for few images per shape at photo sizes, drop --fast")
    p.add_argument("--tasks", default=None, metavar="PATTERNS",
                   help="comma-separated shell patterns (e.g. 'gaussian_blur,sr*'): run only the tasks whose labels "
                        "match; the folder keeps the whole suite's protocol, so a later run resumes the rest")
    p.add_argument("--only", default=None, metavar="PATTERNS",
                   help="comma-separated shell patterns (e.g. 'dps*,measurement'): run only the methods and baselines "
                        "whose labels match; two such runs into two folders join with benchmarks/results/join_runs.py")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    text = " ".join(text.split())
    known = (ValueError, OSError, RuntimeError, KeyError, TypeError)
    return text if isinstance(err, known) else f"{type(err).__name__}: {text} (set INVDIFF_DEBUG=1 for the traceback)"


def _fail(err: BaseException, code: int) -> int:
    """One line on stderr (the traceback only with ``INVDIFF_DEBUG=1``) and the exit code."""
    if os.environ.get("INVDIFF_DEBUG"):
        raise err
    print(f"invdiff bench: error: {_one_line(err)}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Exit 2 for what is wrong before any work (suite file, data root, dataset, prior, flags, an --out folder
    of another protocol or speed mode), 1 for a failure while running, 130 on Ctrl-C; one line each."""
    from ..api import UsageError
    from ..bench import Runner, load_suite

    try:
        suite = load_suite(args.suite)
        runner = Runner(suite, args.out, data=args.data, limit=args.limit, device=args.device,
                        batch_size=args.batch_size, save_images=args.save_images, prior=args.prior,
                        lpips_weights=args.lpips_weights, progress=not args.quiet,
                        command=["invdiff", *sys.argv[1:]], fast=args.fast,
                        only=None if args.only is None else args.only.split(","), compile=args.compile,
                        tasks=None if args.tasks is None else args.tasks.split(","))
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, RuntimeError, KeyError) as err:  # the setup: nothing has run yet
        return _fail(err, 2)
    try:
        out = runner.run()
    except KeyboardInterrupt:
        print("invdiff bench: interrupted; every finished row is kept, rerun the same command to resume.",
              file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 — a run that fails mid-way ends in one line and an exit code, rows kept
        return _fail(err, 2 if isinstance(err, (UsageError, FileNotFoundError)) or "different protocol" in str(err)
                     or "ran with settings" in str(err) else 1)
    print(f"results in {out / 'results.md'}")
    return 0
