"""Time the SVD views ``V(V_t(x))`` of the natural suite's linear tasks, with and without the factor cache.

RePaint's spectral merge calls ``V_t`` and ``V`` twice per step (2,410 steps for a 768×512 photo), so what
these views cost besides their matrix products shows in its seconds per image. For each linear task of
``configs/bench/natural.yaml`` (as the suite builds it: ``invdiff.tasks.make_problem`` with the suite's
parameters, seed 0) this times ``V(V_t(x))`` of one 1×3×H×W float32 image: the median over ``--reps``
calls, the device synchronised around each, once as the code runs (``cached``: each cached numpy factor,
and motion blur's FFT index arrays, converted to the device once by ``operators._linalg.as_torch``) and
once with every one converted afresh at each call (``uncached``: the behaviour before the cache), the two
modes alternating call by call. The suite's 61×61 blur kernels need sides of at least 61.

    python3 benchmarks/speed/svd_views.py                                   # cuda if present, 512x768
    python3 benchmarks/speed/svd_views.py --device cpu --size 64x96 --reps 2 --out views.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]  # invdiff/, operators/ and speed_workload.py from anywhere
from speed_workload import parse_size

from invdiff.tasks import make_problem
from operators import _fft, _linalg

SUITE = ROOT / "configs" / "bench" / "natural.yaml"


def _fresh(a: np.ndarray, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The conversion before the cache: a new tensor at every call."""
    return torch.tensor(a, device=like.device, dtype=like.dtype if dtype is None else dtype)


@contextlib.contextmanager
def uncached() -> Iterator[None]:
    """The separable factors and the FFT index arrays are converted afresh at every call inside the block."""
    saved = _linalg.as_torch, _fft.as_torch
    _linalg.as_torch = _fft.as_torch = _fresh
    try:
        yield
    finally:
        _linalg.as_torch, _fft.as_torch = saved


def linear_tasks(hw: tuple[int, int]) -> dict:
    """The suite's tasks whose operator is linear (all but JPEG), built as the suite builds them."""
    out = {}
    for name, spec in yaml.safe_load(SUITE.read_text())["tasks"].items():
        params = dict(spec)
        task, sigma_y = params.pop("task"), params.pop("sigma_y")
        op = make_problem(task, hw, torch.Generator().manual_seed(0), sigma_y=sigma_y, **params).operator
        if op.linear:
            out[name] = op
    return out


def time_views(op, x: torch.Tensor, reps: int) -> dict[str, float]:
    """Median ms of ``V(V_t(x))`` cached and uncached (alternating, after one warm-up call of each)."""
    def once() -> float:
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        op.V(op.V_t(x), x.shape)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        return (time.perf_counter() - t0) * 1e3

    cached, fresh = [], []
    for i in range(reps + 1):
        c = once()
        with uncached():
            f = once()
        if i:  # the first pair warms up (the factors' SVDs, the allocator, the kernels)
            cached.append(c)
            fresh.append(f)
    return {"cached_ms": statistics.median(cached), "uncached_ms": statistics.median(fresh)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=parse_size, default=(512, 768), help="HxW (default 512x768)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--reps", type=int, default=20, help="timed calls per mode (median reported)")
    p.add_argument("--out", type=Path, help="JSON file (default: stdout)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    x = torch.rand(1, 3, *args.size, generator=torch.Generator().manual_seed(0)).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    report = {"device": name, "torch": torch.__version__, "size": list(args.size), "reps": args.reps,
              "tasks": {task: time_views(op, x, args.reps) for task, op in linear_tasks(args.size).items()}}
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return report


if __name__ == "__main__":
    main()
