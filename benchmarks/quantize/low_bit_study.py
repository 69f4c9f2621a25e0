"""How much held-out x̂₀ error would storing a prior below 8 bits a weight add? (a study; nothing is written but JSON)

Why: all shipped weights must stay ≤ 60 MB (issue 20). The face priors take 39 MB, so at int8 the natural prior can
have at most ≈ 21 M parameters, and the shipped one (19.4 M) is level with the issue's 32 M-parameter probe rather
than above it (``benchmarks/results/natural-probe-bar/``). A wider prior fits only at fewer bits. This script
fake-quantises the shipped ``natural`` weights — every tensor that is int8 in the file (the edge layers and ``out.``
stay float16 as shipped) — to symmetric int4 with one scale per output channel or per group of ``g`` consecutive
input weights, and compares the x̂₀ MSE with the shipped int8 network's on the same noisy held-out crops
(``quantize_prior.x0_errors``: the acceptance measure of the int8 export).

    python3 benchmarks/quantize/low_bit_study.py --data ../shared/datasets/kodak24 --images 24 --crop 128 \
        --groups 0,128,64,32 --out benchmarks/quantize/natural_int4.json

``--groups 0`` is one scale per output channel. ``--int8-keep emb`` leaves the tensors whose key contains ``emb``
(the timestep embedding and each res-block's projection of it) at the shipped int8. The size column counts 4 bits a
weight plus a float16 scale per group (or per output channel), int8-kept tensors at 8 bits plus a float32 scale per
output channel, and the float16 layers at 16 bits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from quantize_prior import TIMESTEPS, centre_crops, x0_errors

from invdiff.priors import load_prior
from invdiff.priors.native import shipped_float16
from invdiff.training.data import list_images


def fake_int4(w: torch.Tensor, group: int) -> torch.Tensor:
    """``w`` through symmetric int4 (−7 … 7) and back: one scale per output channel (``group`` 0) or per ``group``
    consecutive weights of an output channel's flattened inputs (the last group may be shorter)."""
    flat = w.detach().float().flatten(1)
    n = flat.shape[1]
    g = n if group <= 0 else group
    pad = (-n) % g
    blocks = torch.nn.functional.pad(flat, (0, pad)).view(flat.shape[0], -1, g)
    amax = blocks.abs().amax(dim=2, keepdim=True)
    scale = torch.where(amax > 0, amax / 7.0, torch.ones_like(amax))
    q = (blocks / scale).round().clamp(-7, 7) * scale
    return q.view(flat.shape[0], -1)[:, :n].view_as(w).to(w.dtype)


def quantised_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """The tensors stored as int8 in the shipped file: floating, ≥ 2 dims, not an edge layer nor ``out.``."""
    keep = shipped_float16(state)
    return [k for k, v in state.items() if v.is_floating_point() and v.dim() >= 2 and not k.startswith(keep)]


def size_mb(state: dict[str, torch.Tensor], keys: list[str], group: int, int8: tuple[str, ...] = ()) -> float:
    """Stored size at 4 bits a quantised weight + a float16 scale per group, int8-kept ones (``keys`` containing a
    string of ``int8``) at 8 bits + a float32 scale per output channel; other tensors at 16 bits."""
    bits = 0
    for k, v in state.items():
        if k in keys and any(s in k for s in int8):
            bits += v.numel() * 8 + v.shape[0] * 32
        elif k in keys:
            per_row = v[0].numel()
            groups = 1 if group <= 0 else -(-per_row // group)
            bits += v.numel() * 4 + v.shape[0] * groups * 16
        else:
            bits += v.numel() * 16
    return bits / 8 / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="natural")
    ap.add_argument("--data", required=True, help="held-out image folder")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--groups", default="0,128,64,32", help="int4 group sizes to try (0: per output channel)")
    ap.add_argument("--int8-keep", default="", help="comma-separated key substrings left at int8 (e.g. emb)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    int8 = tuple(s for s in args.int8_keep.split(",") if s)
    files = list_images(Path(args.data))[: args.images]
    if not files:
        raise SystemExit(f"low_bit_study: no images in {args.data}.")
    x = centre_crops(files, args.crop)
    shipped = load_prior(args.prior)
    state = {k: v.clone() for k, v in shipped.net.state_dict().items()}
    keys = quantised_keys(state)
    priors, sizes = {"int8 (shipped)": shipped}, {}
    for group in (int(g) for g in args.groups.split(",")):
        name = ("int4 per channel" if group <= 0 else f"int4 groups of {group}") + \
            (f", int8 where the key has {'/'.join(int8)}" if int8 else "")
        four = [k for k in keys if not any(s in k for s in int8)]
        variant = load_prior(args.prior)
        variant.net.load_state_dict({k: fake_int4(v, group) if k in four else v for k, v in state.items()})
        priors[name], sizes[name] = variant, round(size_mb(state, keys, group, int8), 2)
    err = x0_errors(priors, x)
    ref = err["int8 (shipped)"]
    change = {name: {t: round(100 * (e[t] / ref[t] - 1), 3) for t in TIMESTEPS} for name, e in err.items()}
    params = sum(v.numel() for v in state.values())
    report = {"script": "benchmarks/quantize/low_bit_study.py", "prior": args.prior, "parameters": params,
              "quantised_parameters": sum(state[k].numel() for k in keys), "images": len(x),
              "crop": args.crop, "data": str(args.data), "int8_keep": list(int8), "x0_mse": err,
              "x0_mse_change_percent_vs_int8": change, "size_mb": sizes}
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
