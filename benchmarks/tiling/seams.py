"""Seams of a tiled solve: gradient energy across tile borders against elsewhere (target: within 10 %).

A restored image x̂ (tiled solve) is differentiated between neighbouring pixels, d = x̂[p] − x̂[p − 1]
along rows and columns. Two ratios, each pooled over both axes and over the images:

* **edge ratio** = mean d² across the pixel boundaries where a tile starts or ends (inside the image)
  ÷ mean d² across every boundary outside the overlap bands — a hard seam shows here;
* **band ratio** = mean d² inside the overlap bands ÷ outside — blending two different predictions
  could blur (ratio < 1) or add texture (> 1) there.

Content varies over a photo, so the same lines are also measured on the whole-image solve (same
seeds) when it fits: ``edge ratio (tiled) ÷ edge ratio (whole)`` cancels what the picture itself has
on those lines. A control run with ``overlap 0`` (tiles abut, no blending) shows that the measure
sees a seam when there is one. Writes ``seams.json``/``.md`` to ``--out``.

    # CPU, the tests' random attention-free U-Net (README.md's numbers)
    python benchmarks/tiling/seams.py --out benchmarks/tiling/results/cpu-random
    # GPU, the natural prior on Kodak photos at 512×768 with 256-px tiles
    python benchmarks/tiling/seams.py --prior natural --device cuda --size 512x768 --tile-size 256 --overlap 64 \\
        --steps 20 --images ../shared/datasets/kodak24/kodim01.png,../shared/datasets/kodak24/kodim05.png \\
        --out $OUT/tiling-natural
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch
from common import RANDOM, get_image, get_prior, get_problem, psnr, solve, write


def boundary_sets(plan, length: int, starts: tuple[int, ...], tile: int) -> tuple[set[int], set[int]]:
    """(tile-edge boundaries, boundaries inside overlap bands) along one axis; boundary b sits between b−1 and b."""
    edges = {s for s in starts[1:]} | {s + tile for s in starts[:-1]}
    bands = {b for a, s in itertools.pairwise(starts) for b in range(s, a + tile + 1)}
    inside = lambda bs: {b for b in bs if 0 < b < length}
    return inside(edges), inside(bands)


def energies(x: torch.Tensor, plan) -> dict[str, tuple[float, int]]:
    """Sum of d² and count per class (edge, band, elsewhere), both axes pooled."""
    h, w = x.shape[-2:]
    acc = {"edge": [0.0, 0], "band": [0.0, 0], "else": [0.0, 0]}
    axes = [(x.diff(dim=-1).square().mean(dim=(0, 1, 2)), w, plan.cols, plan.tile[1]),  # d² per column boundary
            (x.diff(dim=-2).square().mean(dim=(0, 1, 3)), h, plan.rows, plan.tile[0])]  # per row boundary
    for d2, length, starts, tile in axes:
        edges, bands = boundary_sets(plan, length, starts, tile)
        for b in range(1, length):
            value = float(d2[b - 1])
            for key in ("edge" if b in edges else None, "band" if b in bands else "else"):
                if key is not None:
                    acc[key][0] += value
                    acc[key][1] += 1
    return {k: (s, n) for k, (s, n) in acc.items()}


def ratios(all_energies: list[dict]) -> dict[str, float]:
    mean = lambda k: sum(e[k][0] for e in all_energies) / max(1, sum(e[k][1] for e in all_energies))
    return {"edge_ratio": mean("edge") / mean("else"), "band_ratio": mean("band") / mean("else"),
            "lines_edge": sum(e["edge"][1] for e in all_energies), "lines_else": sum(e["else"][1] for e in all_energies)}


def collect(runs: dict, grids: tuple[str, ...], found: dict, quality: dict, count: int) -> dict:
    """Ratios per run on its own grid's lines (the whole-image run on each grid's), and relative to the whole run."""
    result = {}
    for label in runs:
        for g in grids if label == "whole" else (label,):
            r = ratios(found[label, g]) | {"psnr_vs_truth": sum(quality[label]) / count}
            if "whole" in runs and label != "whole":
                whole = ratios(found["whole", g])
                r |= {f"{k}_vs_whole": r[k] / whole[k] for k in ("edge_ratio", "band_ratio")}
            result[f"{label} (lines of {g})" if label == "whole" else label] = r
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", default=RANDOM, help=f"a built-in name or path, or {RANDOM} (the tests' network)")
    p.add_argument("--images", default="", help="comma-separated photos (default: --count synthetic images)")
    p.add_argument("--count", type=int, default=2, help="synthetic images when --images is empty")
    p.add_argument("--size", default="96x128", help="H×W crop")
    p.add_argument("--tile-size", type=int, default=48)
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--task", default="sr4", choices=["sr4", "gaussian_blur"])
    p.add_argument("--method", default="ddrm", choices=["ddrm", "dps", "repaint"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--t", type=int, default=200, help="timestep of the network-output measurement")
    p.add_argument("--no-whole", action="store_true", help="skip the whole-image reference (too large to fit)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    prior = get_prior(args.prior, args.device)
    paths = [s for s in args.images.split(",") if s] or [None] * args.count
    runs = {"tiled": {"mode": "on", "tile_size": args.tile_size, "overlap": args.overlap},
            "hard_tiles": {"mode": "on", "tile_size": args.tile_size, "overlap": 0}}
    if not args.no_whole:
        runs["whole"] = {"mode": "off"}
    grids = ("tiled", "hard_tiles")  # a run is measured on the lines of each tiled run's grid
    found: dict[tuple[str, str], list] = {(k, g): [] for k in runs for g in grids}
    quality: dict[str, list] = {k: [] for k in runs}
    for i, path in enumerate(paths):
        x0 = get_image(path, size, args.device, seed=i)
        op = get_problem(args.task, args.device)
        y = op.measure(x0, [torch.Generator(args.device).manual_seed(100 + i)])
        plans = {g: prior.configure(tiling=runs[g]).network_plan(x0.shape) for g in grids}
        for label, tiling in runs.items():
            prior.configure(tiling=tiling)
            x = solve(args.method, args.steps, y, op, prior, x0.shape, seed=i, device=args.device)
            quality[label].append(psnr(x, x0, 1.0))
            for g in grids:
                found[label, g].append(energies(x, plans[g]))
    result = collect(runs, grids, found, quality, len(paths))
    net_found = {(k, g): [] for k in runs for g in grids}
    for i, path in enumerate(paths):  # the network's own output: x̂₀ at t = args.t of a noisy image
        x0 = get_image(path, size, args.device, seed=i)
        a = float(prior.alphas_cumprod[args.t])
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(200 + i)).to(args.device)
        x_t = a**0.5 * (2 * x0 - 1) + (1 - a) ** 0.5 * noise
        for label, tiling in runs.items():
            with torch.no_grad():
                x0_hat = prior.configure(tiling=tiling).x0(x_t, args.t)
            for g in grids:
                net_found[label, g].append(energies(x0_hat, plans[g]))
    network = collect(runs, grids, net_found, {k: [float("nan")] for k in runs}, 1)
    plan = plans["tiled"]
    record = {"prior": args.prior, "images": [p or "synthetic" for p in paths], "size": args.size,
              "tile_size": args.tile_size, "overlap": args.overlap, "task": args.task, "method": args.method,
              "steps": args.steps, "grid": {"rows": plan.rows, "cols": plan.cols, "tile": plan.tile},
              "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu", "result": result,
              "network_t": args.t, "network": network}
    write(args.out, "seams", record, table(record))


def table(record: dict) -> str:
    title = (f"# Seams: {record['method']}-{record['steps']} on {record['task']}, {record['prior']}, "
             f"{len(record['images'])} image(s) of {record['size']}, tiles {record['tile_size']}/{record['overlap']} "
             f"({record['device']})")
    what = "Gradient energy across tile edges and in overlap bands ÷ elsewhere (1 = no seam; target within 10 %)"
    lines = [title, "", f"{what}, restored images:", "", *rows(record["result"]), "",
             f"{what}, the network's x̂₀ at t = {record['network_t']} (no solve):", "", *rows(record["network"]), ""]
    return "\n".join(lines)


def rows(result: dict) -> list[str]:
    lines = ["| run | edge ratio | band ratio | edge ÷ whole's | band ÷ whole's | PSNR vs truth |",
             "|---|---|---|---|---|---|"]
    for label, r in result.items():
        rel = lambda k, r=r: f"{r[k]:.3f}" if k in r else "—"
        lines.append(f"| {label} | {r['edge_ratio']:.3f} | {r['band_ratio']:.3f} | {rel('edge_ratio_vs_whole')} | "
                     f"{rel('band_ratio_vs_whole')} | {r['psnr_vs_truth']:.2f} |".replace("nan", "—"))
    return lines


if __name__ == "__main__":
    main()
