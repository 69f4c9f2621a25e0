"""CPU time of one network call of a `natural`-shaped prior at the sample photo's size (data/samples/README.md).

The network is the shape issue 20 names for ``natural`` (ADM U-Net, 32 M parameters, channels
96 × (1, 2, 2, 3), 2 res blocks, scale-shift norm, res-block up/down, no attention resolutions),
with random weights: time depends on the shape only. Prints wall and process-CPU seconds per call
(CPU seconds / threads ≈ the wall time on an idle machine) and the DDRM-20 estimate.

    python benchmarks/io/sample_size_cpu.py 192x288 256x384
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.priors import ADMUNet, UNetConfig


def main(sizes: list[str]) -> None:
    torch.manual_seed(0)
    cfg = UNetConfig(image_size=64, model_channels=96, out_channels=3, num_res_blocks=2, attention_resolutions=(),
                     channel_mult=(1, 2, 2, 3), num_heads=4, num_head_channels=32, resblock_updown=True,
                     use_scale_shift_norm=True, dropout=0.0)
    net = ADMUNet(cfg).eval()
    threads = torch.get_num_threads()
    print(f"{sum(p.numel() for p in net.parameters()) / 1e6:.1f} M parameters, {threads} threads")
    for size in sizes:
        h, w = map(int, size.split("x"))
        x, t = torch.randn(1, 3, h, w), torch.tensor([500])
        with torch.no_grad():
            net(x, t)  # warm-up
            wall, cpu, n = time.perf_counter(), time.process_time(), 2
            for _ in range(n):
                net(x, t)
            wall, cpu = (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n
        print(f"{h}×{w}: {wall:.2f} s wall, {cpu:.2f} CPU-s per call; DDRM-20 ≈ {20 * wall:.0f} s wall here, "
              f"≈ {20 * cpu / threads:.0f} s on an idle machine")


if __name__ == "__main__":
    main(sys.argv[1:] or ["192x288", "256x384"])
