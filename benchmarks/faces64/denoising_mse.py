"""Held-out denoising error of a prior: MSE of x̂₀ at several noise levels on the first N held-out faces.

    python benchmarks/faces64/denoising_mse.py --prior faces64 --data ../shared/datasets/faces-utk/heldout --n 100

For each timestep t the clean images x₀ (sorted file names, 64×64 centre crop) are noised with a fixed
seed, x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε, and the prior's x̂₀(x_t, t) is compared with x₀ on [0, 1]: MSE and
PSNR, next to the MSE of the trivial estimate x_t/√ᾱ_t (clipped) for scale. Writes a JSON and a
Markdown table next to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors.registry import load_prior
from invdiff.training.data import load_image_folder, to_model_range


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prior", default="faces64")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/faces64/denoising_mse")
    args = ap.parse_args()
    prior = load_prior(args.prior)
    images = torch.from_numpy(load_image_folder(args.data, prior.resolution)[: args.n])
    x0 = to_model_range(images)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for t in (50, 100, 250, 500, 750, 900):
        eps = torch.randn(x0.shape, generator=gen)
        a = prior.alphas_cumprod[t].float()
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        with torch.no_grad():
            x0_hat = torch.cat([prior.x0(c, t) for c in x_t.split(25)]).clamp(-1, 1)
        mse = ((x0_hat - x0) / 2).square().mean().item()
        naive = (((x_t / a.sqrt()).clamp(-1, 1) - x0) / 2).square().mean().item()
        sigma = ((1 - a) / a).sqrt().item()
        rows.append({"t": t, "sigma_ve": round(sigma, 4), "mse_01": mse, "psnr_db": -10 * torch.log10(torch.tensor(mse)).item(),
                     "naive_mse_01": naive})
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"prior": args.prior, "sha256": prior.meta.get("sha256"), "images": len(x0), "data": args.data,
            "noise_seed": 0, "metric": "MSE of clipped x0_hat vs x0 on [0,1], all pixels"}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = ["| t | σ (VE, [-1,1]) | MSE x̂₀ | PSNR x̂₀ (dB) | MSE of x_t/√ᾱ |", "|---|---|---|---|---|"]
    lines += [f"| {r['t']} | {r['sigma_ve']:.3f} | {r['mse_01']:.5f} | {r['psnr_db']:.2f} | {r['naive_mse_01']:.5f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
