"""Plot the training curve (loss vs step, held-out ε-MSE) from a `invdiff train` log.jsonl.

    python benchmarks/faces64/plot_curve.py benchmarks/faces64/train_log.jsonl benchmarks/faces64/train_curve.png
(needs matplotlib, which is not an invdiff dependency: pip install matplotlib)
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(log_path: str, png_path: str) -> None:
    with open(log_path) as f:
        rows = [json.loads(line) for line in f]
    train = [r for r in rows if "loss" in r]
    held = [r for r in rows if "heldout" in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1)
    ax1.set(xlabel="step", ylabel="training loss (ε-MSE, mean of 100 steps)", yscale="log", title="faces64 training loss")
    for key in sorted({k for r in held for k in r["heldout"] if k.startswith("x0_mse")}):
        ax2.plot([r["step"] for r in held], [r["heldout"][key] for r in held], marker="o", label=key.replace("x0_mse_", ""))
    ax2.set(xlabel="step", ylabel="held-out x̂₀ MSE on [-1,1] (256 faces)", yscale="log", title="held-out denoising")
    ax2.legend(title="timestep", fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
