"""Tiled vs whole-image network calls and solves: how closely they agree, against tile size and overlap.

For each (tile_size, overlap): ε̂ of the tiled call against the whole-image call at several
timesteps (x_t = √ᾱ x₀ + √(1−ᾱ) ε from a test image), as PSNR on the ε scale (peak 2, like an image
on [-1, 1]) and max |Δε̂|; then one short solve (same seeds) tiled vs whole, PSNR on [0, 1] —
next to the same solve with another seed, the yardstick of "close". Writes
``agreement.json``/``.md`` to ``--out``.

    # CPU, the tests' random attention-free U-Net (the numbers in README.md)
    python benchmarks/tiling/agreement.py --out benchmarks/tiling/results/cpu-random
    # GPU, the natural prior on a Kodak photo at its size
    python benchmarks/tiling/agreement.py --prior natural --device cuda --size 512x768 \\
        --image ../shared/datasets/kodak24/kodim01.png --tiles 128,256 --overlaps 0,16,32,64 \\
        --steps 20 --out $OUT/tiling-natural
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import RANDOM, get_image, get_prior, get_problem, psnr, solve, write


def eps_agreement(prior, x0: torch.Tensor, tiles: list[int], overlaps: list[int], timesteps: list[int],
                  seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=g).to(x0.device)
    rows = []
    for t in timesteps:
        a = float(prior.alphas_cumprod[t])
        x_t = a**0.5 * (2 * x0 - 1) + (1 - a) ** 0.5 * noise
        with torch.no_grad():
            whole = prior.configure(tiling={"mode": "off"}).eps(x_t, t)
            for size in tiles:
                for overlap in overlaps:
                    if overlap >= size:
                        continue
                    prior.configure(tiling={"mode": "on", "tile_size": size, "overlap": overlap})
                    plan = prior.network_plan(x_t.shape)
                    tiled = prior.eps(x_t, t)
                    rows.append({"t": t, "tile_size": size, "overlap": overlap, "tiles": plan.tiles,
                                 "psnr_eps": psnr(tiled, whole, 2.0),
                                 "max_abs_eps": float((tiled - whole).abs().max())})
    return rows


def solve_agreement(prior, x0, task: str, method: str, steps: int, size: int, overlap: int, device: str) -> dict:
    op = get_problem(task, device)
    y = op.measure(x0, [torch.Generator(device).manual_seed(1)])
    results, seconds = {}, {}
    for label, tiling, seed in [("whole", {"mode": "off"}, 0), ("tiled", {"mode": "on", "tile_size": size,
                                "overlap": overlap}, 0), ("other_seed", {"mode": "off"}, 7)]:
        prior.configure(tiling=tiling)
        start = time.perf_counter()
        results[label] = solve(method, steps, y, op, prior, x0.shape, seed, device)
        seconds[label] = time.perf_counter() - start
    return {"task": task, "method": method, "steps": steps, "tile_size": size, "overlap": overlap,
            "psnr_tiled_vs_whole": psnr(results["tiled"], results["whole"], 1.0),
            "max_abs_tiled_vs_whole": float((results["tiled"] - results["whole"]).abs().max()),
            "psnr_other_seed_vs_whole": psnr(results["other_seed"], results["whole"], 1.0),
            "psnr_whole_vs_truth": psnr(results["whole"], x0, 1.0), "psnr_tiled_vs_truth": psnr(results["tiled"], x0, 1.0),
            "seconds": seconds}


def table(record: dict) -> str:
    lines = [f"# Tiled vs whole: {record['prior']} on a {record['size']} image ({record['device']})", "",
             "ε̂ (PSNR, peak 2, and max |Δε̂|), tiled call vs whole-image call:", "",
             "| t | tile | overlap | tiles | PSNR ε̂ (dB) | max abs |", "|---|---|---|---|---|---|"]
    for r in record["eps"]:
        lines.append(f"| {r['t']} | {r['tile_size']} | {r['overlap']} | {r['tiles']} | {r['psnr_eps']:.1f} | "
                     f"{r['max_abs_eps']:.3g} |")
    s = record["solve"]
    what = f"{s['method']}-{s['steps']} on {s['task']} (σ_y 0.05), tiles {s['tile_size']}/{s['overlap']}, same seeds:"
    row = (f"| {s['psnr_tiled_vs_whole']:.2f} | {s['max_abs_tiled_vs_whole']:.3g} | "
           f"{s['psnr_other_seed_vs_whole']:.2f} | {s['psnr_whole_vs_truth']:.2f} | {s['psnr_tiled_vs_truth']:.2f} |")
    lines += ["", what, "",
              "| tiled vs whole PSNR | max abs | another seed vs whole PSNR | whole vs truth | tiled vs truth |",
              "|---|---|---|---|---|",
              row, ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", default=RANDOM, help=f"a built-in name or path, or {RANDOM} (the tests' network)")
    p.add_argument("--image", default=None, help="photo to crop (default: a smooth synthetic image)")
    p.add_argument("--size", default="96x128", help="H×W of the test image")
    p.add_argument("--tiles", default="32,48,64", help="tile sizes to try")
    p.add_argument("--overlaps", default="0,8,16,24", help="overlaps to try")
    p.add_argument("--timesteps", default="100,500,900")
    p.add_argument("--task", default="sr4", choices=["sr4", "gaussian_blur"])
    p.add_argument("--method", default="ddrm", choices=["ddrm", "dps", "repaint"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--solve-tile", default="64/16", help="tile_size/overlap of the solve comparison")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    ints = lambda s: [int(v) for v in s.split(",")]
    prior = get_prior(args.prior, args.device)
    x0 = get_image(args.image, size, args.device)
    eps = eps_agreement(prior, x0, ints(args.tiles), ints(args.overlaps), ints(args.timesteps), seed=0)
    tile, overlap = (int(v) for v in args.solve_tile.split("/"))
    solved = solve_agreement(prior, x0, args.task, args.method, args.steps, tile, overlap, args.device)
    record = {"prior": args.prior, "image": args.image or "synthetic", "size": f"{size[0]}x{size[1]}",
              "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
              "threads": torch.get_num_threads(), "eps": eps, "solve": solved}
    write(args.out, "agreement", record, table(record))


if __name__ == "__main__":
    main()
