"""What the trainer measures and shows: held-out denoising losses and sample grids."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from .data import to_model_range


def with_condition(x_t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """The network input: ``x_t``, or ``cat([x_t, c])`` for a conditional model (SR3's layout)."""
    return x_t if cond is None else torch.cat([x_t, cond.to(x_t.dtype)], dim=1)


@torch.no_grad()
def heldout_losses(model: torch.nn.Module, images: torch.Tensor, abar: torch.Tensor, ts=(50, 250, 500, 750),
                   condition=None) -> dict:
    """ε-MSE and x̂₀-MSE (on [-1, 1]) at fixed timesteps with fixed noise (seed 1234) on held-out images.

    ``condition(x0, generator)`` (conditional models) makes the condition from the same generator first.
    """
    gen = torch.Generator().manual_seed(1234)
    out = {}
    for t_val in ts:
        eps_all, x0_all = [], []
        for chunk in images.split(128):
            x0 = to_model_range(chunk)
            cond = None if condition is None else condition(x0, gen)
            eps = torch.randn(x0.shape, generator=gen).to(x0.device)
            a = abar[t_val]
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
            t = torch.full((len(x0),), t_val, device=x0.device)
            eps_hat = model(with_condition(x_t, cond), t).float()
            x0_hat = (x_t - (1 - a).sqrt() * eps_hat) / a.sqrt()
            eps_all.append((eps_hat - eps).square().mean(dim=(1, 2, 3)))
            x0_all.append((x0_hat.clamp(-1, 1) - x0).square().mean(dim=(1, 2, 3)))
        out[f"eps_mse_t{t_val}"] = torch.cat(eps_all).mean().item()
        out[f"x0_mse_t{t_val}"] = torch.cat(x0_all).mean().item()
    return out


def save_grid(x: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """Save N×3×H×W images in [-1, 1] as one PNG grid."""
    from PIL import Image

    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    n, c, h, w = x.shape
    rows = math.ceil(n / nrow)
    grid = torch.zeros(c, rows * h, nrow * w, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = x[i]
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp)
    os.replace(tmp, path)
