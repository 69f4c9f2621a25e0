"""GPU check of tiling: the fast mode on tiles, DPS through checkpointed tiles, peak memory, a 4000×3000 image.

Runs on the natural prior (``--prior natural``) or, before its weights exist, on its architecture with
random weights (``--prior random-natural``: ADM U-Net 64 ch × (1, 2, 2, 4), 2 res blocks, res-block
up/down, scale-shift norm, no attention). Measures, writing ``gpu_check.json``/``.md`` to ``--out``:

1. tiled ε̂ in each speed mode (eager fp32; bf16 + channels_last; + compile default; + reduce-overhead)
   against eager fp32 tiled ε̂, and the input gradient (DPS) through checkpointed tile chunks in the
   same modes — relative L2 distances; a mode that fails is recorded with its error;
2. peak memory and time of one ε̂ call and of one ε̂ + input-gradient call (DPS) at several sizes,
   whole and tiled (``--tile-size``/``--overlap``, chunks bounded by ``--max-pixels``);
3. DDRM-``--steps`` ×4 SR of a 4000×3000 image (a 1000×750 measurement) in fast mode with tiles:
   seconds, peak memory, NFE.

    python benchmarks/tiling/gpu_check.py --prior random-natural --out $OUT/tiling-gpu
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import torch
from common import get_image, get_prior, solve

from operators import SuperResolution

MODES = {
    "eager-fp32": {},
    "bf16-cl": {"dtype": "bf16", "channels_last": True},
    "bf16-cl-compile": {"dtype": "bf16", "channels_last": True, "compile": True},
    "bf16-cl-reduce-overhead": {"dtype": "bf16", "channels_last": True, "compile": "reduce-overhead"},
}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def eps_and_grad(prior, x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    x_in = x.clone().requires_grad_(True)
    x0 = prior.x0(x_in, t)
    (g,) = torch.autograd.grad(x0.float().square().sum(), x_in)
    with torch.no_grad():
        eps = prior.eps(x, t)
    return eps, g


def modes_check(prior, tiling: dict, device: str) -> dict:
    x = 2 * get_image(None, (768, 1024), device) - 1
    prior.configure(tiling={**tiling, "tile_batch": 2})  # 6 tiles in 3 calls: the gradient goes through checkpoints
    assert prior.network_plan(x.shape).calls > 1
    ref_eps, ref_grad = eps_and_grad(prior, x, 500)
    out = {}
    for name, speed in MODES.items():
        try:
            prior.configure(**speed)
            for _ in range(2):  # compile / record, then the measured call
                eps, g = eps_and_grad(prior, x, 500)
            out[name] = {"eps_rel_l2": rel(eps, ref_eps), "grad_rel_l2": rel(g, ref_grad)}
        except Exception as err:  # noqa: BLE001 - a mode that cannot run tiles is a finding, not a crash of the check
            out[name] = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc(limit=3)}
    prior.configure()
    return out


def memory_check(prior, sizes: list[tuple[int, int]], tiling: dict, device: str) -> list[dict]:
    rows = []
    for h, w in sizes:
        for label, tiles in (("whole", {"mode": "off"}), ("tiled", tiling)):
            prior.configure(dtype="bf16", channels_last=True, tiling=tiles)
            x = torch.randn(1, 3, h, w, device=device)
            for what in ("eps", "eps+grad"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                try:
                    start = time.perf_counter()
                    if what == "eps":
                        with torch.no_grad():
                            prior.eps(x, 500)
                    else:
                        eps_and_grad(prior, x, 500)
                    torch.cuda.synchronize()
                    rows.append({"size": f"{h}x{w}", "run": label, "call": what, "seconds": time.perf_counter() - start,
                                 "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                                 "tiles": prior.network_plan(x.shape).tiles})
                except torch.OutOfMemoryError:
                    rows.append({"size": f"{h}x{w}", "run": label, "call": what, "error": "out of memory"})
    prior.configure()
    return rows


def big_image(prior, steps: int, tiling: dict, device: str) -> dict:
    prior.configure(dtype="bf16", channels_last=True, tiling=tiling)
    x = get_image(None, (3000, 4000), device)
    op = SuperResolution(4, noise=0.05).to(device)
    y = op.measure(x, [torch.Generator(device).manual_seed(0)])
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = solve("ddrm", steps, y, op, prior, x.shape, device=device)
    torch.cuda.synchronize()
    return {"size": "3000x4000", "method": f"ddrm-{steps}", "seconds": time.perf_counter() - start,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "tiles": prior.network_plan(x.shape).tiles,
            "finite": bool(torch.isfinite(out).all())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", default="random-natural")
    p.add_argument("--tile-size", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--max-pixels", type=int, default=2**21)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    device = "cuda"
    prior = get_prior(args.prior, device)
    tiling = {"mode": "on", "tile_size": args.tile_size, "overlap": args.overlap, "max_pixels": args.max_pixels}
    record = {"prior": args.prior, "device": torch.cuda.get_device_name(), "tiling": tiling,
              "modes": modes_check(prior, tiling, device),
              "memory": memory_check(prior, [(512, 768), (1024, 1536), (2048, 2048), (3000, 4000)], tiling, device),
              "big_image": big_image(prior, args.steps, {**tiling, "mode": "auto"}, device)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
