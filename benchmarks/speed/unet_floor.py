"""Time the network floor: one forward and one forward+backward (to the input, as DPS needs) of a U-Net preset.

Modes: eager fp32, and the fast path (bf16 autocast + channels_last + torch.compile(mode="reduce-overhead")).
Also checks the fast path against fp32 eager on the same random input (relative L2 of outputs and input
gradients). Random weights, but the zero-initialised output convolutions are re-initialised so nothing is
timed or compared on zeros. Writes JSON to $OUT (or ./out).

    python benchmarks/speed/unet_floor.py --preset adm-ffhq256 --size 256 --batch 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root holds invdiff/
from invdiff.priors.unet import ADMUNet, preset


def randomize_zeroed(model: torch.nn.Module) -> None:
    """Give the zero-initialised residual/output convs default random weights."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and not m.weight.any():
            m.reset_parameters()


def time_ms(fn, reps: int = 50, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="adm-ffhq256")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(0)  # benchmark script only: weights' values do not matter, shapes do
    dev = torch.device("cuda")
    net = ADMUNet(preset(args.preset)).to(dev).eval()
    randomize_zeroed(net)
    gen = torch.Generator(dev).manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen, device=dev)
    t = torch.full((args.batch,), 500, device=dev)

    def fwd(model, inp):
        with torch.no_grad():
            return model(inp, t)

    def fwd_bwd(model, inp):
        inp = inp.detach().requires_grad_(True)
        out = model(inp, t)
        (g,) = torch.autograd.grad(out.float().square().sum(), inp)
        return out.detach(), g

    results = {"preset": args.preset, "size": args.size, "batch": args.batch, "device": torch.cuda.get_device_name(),
               "torch": torch.__version__}
    ref_out = fwd(net, x).float()
    _, ref_grad = fwd_bwd(net, x)
    results["eager_fp32_forward_ms"] = time_ms(lambda: fwd(net, x))
    results["eager_fp32_forward_backward_ms"] = time_ms(lambda: fwd_bwd(net, x))

    fast = net.to(memory_format=torch.channels_last)
    compiled = torch.compile(fast, mode="reduce-overhead")
    xc = x.to(memory_format=torch.channels_last)

    def fast_fwd():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return fwd(compiled, xc)

    def fast_fwd_bwd():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return fwd_bwd(compiled, xc)

    out = fast_fwd().float()
    _, grad = fast_fwd_bwd()
    results["fast_bf16_compiled_forward_ms"] = time_ms(fast_fwd)
    results["fast_bf16_compiled_forward_backward_ms"] = time_ms(fast_fwd_bwd)
    results["fast_vs_fp32_output_rel_l2"] = ((out - ref_out).norm() / ref_out.norm()).item()
    results["fast_vs_fp32_grad_rel_l2"] = ((grad.float() - ref_grad).norm() / ref_grad.norm()).item()
    out_dir = Path(os.environ.get("OUT", "out"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"unet_floor_{args.preset}_b{args.batch}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
