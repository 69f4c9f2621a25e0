"""Where a prior's first network calls go at a photo size, and what each speed mode costs per call there.

Issue 20: compiling the fast mode's two graphs (forward; forward + backward to the input) at 768×512 took
720 s on an H200 (`solvers_natural768.json`, ``floor_fast_b1.first_calls_s``), against 154 s for a larger
network at 256², and the natural suite's runs spent most of their leases compiling. This script times, for
each speed mode in ``--variants``, the first forward call (what a new shape costs: compilation, cuDNN's plan
building), the steady forward, the first forward + backward and the steady forward + backward, all through
the prior as the solvers call it, and for compiled modes the compiler's own breakdown
(``torch._dynamo.utils.compile_times``) after each first call. Results are written after every variant, so
a time box that cuts the run keeps what finished.

Variants (bf16 = autocast bf16; cl = channels_last):

* ``eager-fp32``         as ``load_prior`` gives the prior (cuDNN TF32 convolutions by PyTorch's default)
* ``eager-bf16``         bf16, contiguous, no compile
* ``eager-bf16-cl``      bf16 + channels_last, no compile (``invdiff bench --fast --no-compile``)
* ``eager-bf16-bench``   bf16, contiguous, ``torch.backends.cudnn.benchmark = True``
* ``eager-bf16-cl-bench`` bf16 + channels_last, cuDNN benchmark
* ``compiled``           the fast mode: bf16 + channels_last + ``torch.compile(mode="reduce-overhead")``
* ``compiled-dynamic``   the same with ``dynamic=True``: one shape-generic graph, compiled once for every shape

    python3 benchmarks/speed/compile_probe.py --size 512x768 --out $OUT/compile_probe_768.json   # GPU
    python3 benchmarks/speed/compile_probe.py --size 512x768,320x480 --variants compiled,compiled-dynamic \
        --out $OUT/compile_probe_shapes.json       # does a second shape compile again? (static: yes)
    python3 benchmarks/speed/compile_probe.py --device cpu --size 24x40 --variants eager-fp32,eager-bf16 \\
        --reps 1 --out /tmp/probe.json                                                             # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root holds invdiff/
sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed_workload as wl
from solvers import sync, time_ms

from invdiff.bench.sizes import size_problem

VARIANTS: dict[str, dict] = {
    "eager-fp32": {"speed": {}, "cudnn_benchmark": False},
    "eager-bf16": {"speed": {"dtype": "bf16"}, "cudnn_benchmark": False},
    "eager-bf16-cl": {"speed": {"dtype": "bf16", "channels_last": True}, "cudnn_benchmark": False},
    "eager-bf16-bench": {"speed": {"dtype": "bf16"}, "cudnn_benchmark": True},
    "eager-bf16-cl-bench": {"speed": {"dtype": "bf16", "channels_last": True}, "cudnn_benchmark": True},
    "compiled": {"speed": {"dtype": "bf16", "channels_last": True, "compile": "reduce-overhead"},
                 "cudnn_benchmark": False},
    "compiled-dynamic": {"speed": {"dtype": "bf16", "channels_last": True, "compile": "reduce-overhead",
                                   "dynamic": True}, "cudnn_benchmark": False},
}


def timed_first(fn, device: torch.device) -> float:
    """Wall seconds of one call, synchronised (a new shape's first call: compile, cuDNN plans, allocation)."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def calls(prior, hw: wl.HW, device: torch.device):
    """The forward (no grad) and forward + backward-to-the-input calls, as ``solvers.py``'s floor makes them."""
    x = torch.randn(1, 3, *hw, generator=torch.Generator(device).manual_seed(0), device=device)
    t = torch.full((1,), 500, device=device)

    def forward():
        with torch.no_grad():
            return prior.eps(x, t)

    def forward_backward():
        x_in = x.detach().requires_grad_(True)
        return torch.autograd.grad(prior.x0(x_in, t).square().sum(), x_in)[0]

    return forward, forward_backward


def compile_breakdown() -> str | None:
    """The compiler's cumulative seconds per phase in this process (None where dynamo recorded nothing)."""
    text = torch._dynamo.utils.compile_times(repr="str", aggregate=True)
    lines = text.strip().splitlines() if isinstance(text, str) else []
    return "\n".join(lines) if len(lines) > 2 else None  # two lines: the table's header, no phase timed


def probe_variant(name: str, prior, sizes: list[wl.HW], device: torch.device, reps: int, rows: list, save) -> None:
    """Append one row per size to ``rows``: the variant's timings at each size in turn, in one process (a later
    size's first call shows whether the mode compiles again for it), calling ``save()`` after each timing."""
    spec = VARIANTS[name]
    torch._dynamo.reset()
    torch.backends.cudnn.benchmark = spec["cudnn_benchmark"]
    prior.configure(**{"dtype": "fp32", "channels_last": False, "compile": False, **spec["speed"]})
    for hw in sizes:
        row = {"variant": name, "size": list(hw), **spec}
        rows.append(row)
        measure_size(prior, hw, device, reps, row, save)
    if device.type == "cuda":
        rows[-1]["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20


def measure_size(prior, hw: wl.HW, device: torch.device, reps: int, row: dict, save) -> None:
    forward, forward_backward = calls(prior, hw, device)
    steps = [("forward_first_s", lambda: timed_first(forward, device)),
             ("forward_ms", lambda: time_ms(forward, device, reps, warmup=3)),
             ("after_forward_compile_times", compile_breakdown),
             ("forward_backward_first_s", lambda: timed_first(forward_backward, device)),
             ("forward_backward_ms", lambda: time_ms(forward_backward, device, reps, warmup=3)),
             ("after_both_compile_times", compile_breakdown)]
    for key, measure in steps:
        row[key] = measure()
        save()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="natural", help="prior name or path (invdiff.priors.load_prior)")
    ap.add_argument("--size", type=lambda text: [wl.parse_size(p) for p in text.split(",")], default=[(512, 768)],
                    help="HxW, or several comma-separated, timed in turn in one process per variant (default 512x768)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--reps", type=int, default=20, help="calls per steady timing")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", type=Path, required=True, help="JSON file, rewritten after every variant")
    args = ap.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}.")
    device = torch.device(args.device)
    prior = wl.shipped_prior(args.prior, device, args.size[0])
    problems = [size_problem(prior, *hw) for hw in args.size[1:]]
    if any(problems):
        ap.error(next(p for p in problems if p))
    report = {"prior": args.prior, "sizes": [list(hw) for hw in args.size], "torch": torch.__version__,
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "cpus": len(__import__("os").sched_getaffinity(0)), "variants": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        args.out.write_text(json.dumps(report, indent=1) + "\n")

    for name in names:
        start = len(report["variants"])
        probe_variant(name, prior, args.size, device, args.reps, report["variants"], save)
        save()
        for row in report["variants"][start:]:
            print(json.dumps({k: v for k, v in row.items() if "compile_times" not in k}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
