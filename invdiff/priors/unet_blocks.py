"""Building blocks of the ADM U-Net (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs").

Module and parameter names follow the released guided-diffusion checkpoints exactly
(``in_layers.{0,2}``, ``emb_layers.1``, ``out_layers.{0,3}``, ``skip_connection``, ``norm``, ``qkv``,
``proj_out``, ``op``, ``conv``) so those state dicts load with ``strict=True``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups, computed in float32 for half-precision inputs (as in ADM).

    Inputs of float32 or float64 are normalised in their own precision (a float64 network is what
    finite-difference gradient checks need).
    """

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = x if x.dtype == torch.float64 else x.float()
        return super().forward(wide).to(x.dtype)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters: residual branches start as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: ``[cos(t·f), sin(t·f)]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepBlock(nn.Module):
    """A module whose forward also takes the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class TimestepEmbedSequential(nn.Sequential):
    """Sequential container that passes the embedding to the children that take one."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


class Upsample(nn.Module):
    """Nearest-neighbour ×2 upsampling, optionally followed by a 3×3 conv (key ``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """×2 downsampling by a strided 3×3 conv or a 2×2 average pool (key ``op``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1)
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResBlock(TimestepBlock):
    """Residual block with timestep conditioning (scale-shift norm or additive) and optional up/down."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        use_scale_shift_norm: bool = True,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[:-1](x)
            h, x = self.h_upd(h), self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Spatial self-attention over all positions (1-D convs ``qkv`` / ``proj_out`` as in ADM).

    ``legacy_order`` selects how the ``3·C`` qkv channels split: per head ``[q, k, v]``
    (guided-diffusion's default ``QKVAttentionLegacy``) or ``[q | k | v]`` then heads
    (``use_new_attention_order``). The two orders load the same weights but compute different
    functions, which is why the head count and order must come from a preset.
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1, legacy_order: bool = True,
                 window: int = 0):
        super().__init__()
        self.window = int(window)
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"{channels} channels do not split into heads of {num_head_channels} channels.")
            self.num_heads = channels // num_head_channels
        if channels % self.num_heads:
            raise ValueError(f"{channels} channels do not split into {self.num_heads} heads.")
        self.legacy_order = legacy_order
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.window and max(x.shape[-2:]) > self.window:
            return windowed(self._attend, x, self.window)
        return self._attend(x)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        x_flat = x.reshape(b, c, hgt * wid)
        qkv = self.qkv(self.norm(x_flat))  # b × 3c × T
        heads, ch = self.num_heads, c // self.num_heads
        if self.legacy_order:
            q, k, v = qkv.reshape(b, heads, 3 * ch, -1).split(ch, dim=2)
        else:
            q, k, v = (t.reshape(b, heads, ch, -1) for t in qkv.chunk(3, dim=1))
        # scaled_dot_product_attention wants (..., T, ch); its 1/sqrt(ch) scale equals ADM's.
        h = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        h = h.transpose(-1, -2).reshape(b, c, -1)
        return (x_flat + self.proj_out(h)).reshape(b, c, hgt, wid)


def window_starts(length: int, window: int) -> list[int]:
    """Window corners along one axis: every ``window``, the last shifted inward to end at ``length``."""
    if length <= window:
        return [0]
    return [*range(0, length - window, window), length - window]


def windowed(block, x: torch.Tensor, window: int) -> torch.Tensor:
    """``block`` applied to each ``window``² window of ``x`` separately; overlaps (last row/column) averaged.

    Why: a prior trained on 64² crops has an 8×8 bottleneck, so its attention only ever saw 64 tokens
    at once. Attending over all 6,144 bottleneck tokens of a 768×512 photo is a different function;
    attending in 8×8 windows is the trained one, and keeps the network local (so it may run on tiles).

    How: one gather of the window rows and one of the window columns (``index_select``) lays the windows
    side by side, and two ``index_add`` put the outputs back, so the graph has the same few operations
    however many windows there are. A slice and an in-place add per window (96 each at 768×512) made a
    chain that ``torch.compile`` fused into nested masked loads, and its code generation took minutes.
    A pixel's overlap count is (windows over its row) × (windows over its column).
    """
    b, c, h, w = x.shape
    wh, ww = min(window, h), min(window, w)
    rows, cols = _window_index(h, window, x.device), _window_index(w, window, x.device)
    nr, nc = rows.numel() // wh, cols.numel() // ww
    tiles = x.index_select(2, rows).index_select(3, cols)  # b × c × nr·wh × nc·ww
    tiles = tiles.view(b, c, nr, wh, nc, ww).permute(0, 2, 4, 1, 3, 5).reshape(b * nr * nc, c, wh, ww)
    out = block(tiles).view(b, nr, nc, c, wh, ww).permute(0, 3, 1, 4, 2, 5).reshape(b, c, nr * wh, nc * ww)
    total = x.new_zeros(b, c, h, nc * ww).index_add_(2, rows, out)
    total = x.new_zeros(b, c, h, w).index_add_(3, cols, total)
    count_r = x.new_zeros(h).index_add_(0, rows, x.new_ones(rows.numel()))
    count_c = x.new_zeros(w).index_add_(0, cols, x.new_ones(cols.numel()))
    return total / (count_r[:, None] * count_c[None, :])


def _window_index(length: int, window: int, device: torch.device) -> torch.Tensor:
    """The positions of every window along one axis, window after window (``window_starts`` + 0 … size − 1).

    Built with ``arange`` on the device (no host-to-device copy, so no synchronisation in a solver's loop): the
    regular windows cover ``0 … ⌊length / window⌋·window − 1``, and a last window shifted inward, if any, ends at
    ``length``.
    """
    if length <= window:
        return torch.arange(length, device=device)
    regular = torch.arange(length // window * window, device=device)
    if length % window == 0:
        return regular
    return torch.cat([regular, torch.arange(length - window, length, device=device)])
