"""Any image size for a prior's network: reflection padding to its stride, and blended overlapping tiles.

**Padding.** A U-Net with L levels halves the image L−1 times, so it takes H and W that are
multiples of its stride m = 2^(L−1) (``ADMUNet.downsampling_factor``: 8 for ``faces64`` and for
``(1, 2, 2, 4)``). Any other size is padded by reflection at the bottom and right to the next
multiple, and the network's output is cropped back to H×W. Reflection keeps the border looking like
the image (a zero or constant border is a feature the network would react to). The smallest image
the network takes is m×m: the bottleneck is then 1×1, and reflection can add at most m−1 rows.

**Tiles.** One network call on a large image may not fit in memory. Then the (padded) image is cut
into overlapping tiles of one size, the network runs on chunks of tiles, and its outputs are blended

    f(x)(p) ≈ Σ_k w_k(p) f(x|tile k)(p) / Σ_k w_k(p),

w_k a separable raised-cosine (Hann) ramp rising over the first ``overlap`` pixels of tile k and
falling over its last ones, on the sides that face another tile (:func:`hann_ramp`: the quarter of
the overlap nearest a tile's edge, where its receptive field is cut, weighs nothing). Only the
network call is tiled: the solver's operator, SVD and noise stay on the whole image, so a tiled
solve is the whole-image solve with a slightly different network output at every step. Tiles start every
``tile_size − overlap`` pixels and the last row/column is shifted inward to end at the border
(overlapping its neighbour more), so all tiles have one size — one compiled graph — and none is
padded. Starts are multiples of the stride: each tile sees the whole image's down-sampling grid.

Tiled and whole outputs differ for two reasons: near a tile's border the network's receptive field
is cut (its convolutions see zero padding), which the ramp weighs little or nothing — a local
network whose receptive field fits in the weight-free quarter is reproduced exactly; and GroupNorm
normalises over the tile instead of the image, which dominates for the ADM U-Net and shrinks as
tiles grow. ``tests/priors/test_tiling.py`` and ``benchmarks/tiling/`` measure the agreement.

A network with attention computes every pixel from the whole feature map, so a tile's output is not
the whole image's: such a prior runs whole at any size but is never cut into tiles (an error says
so). Under autograd (DPS) each chunk is checkpointed — its activations are recomputed in the
backward pass instead of being held for all chunks at once — so memory stays that of one chunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

#: When the network runs on tiles: "auto" above the pixel budget, "off" never, "on" always.
TILE_MODES = ("auto", "off", "on")

NetFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


class ImageSizeError(ValueError):
    """An image the prior's network cannot take (too small), or a tiling it cannot do."""


@dataclass(frozen=True)
class TileConfig:
    """When and how a prior's network runs on tiles (see the module docstring).

    * ``mode``: "auto" tiles only an image whose padded H·W exceeds ``max_pixels`` (so whether an
      image is tiled never depends on the batch it is in), and runs a batch in chunks of at most
      ``max_pixels`` pixels (whole images, or tiles); "off" runs the whole batch in one call;
      "on" always tiles (when a tile is smaller than the image).
    * ``tile_size``: side of a tile in pixels, a multiple of the network's stride. An image not
      larger than a tile along one axis is not cut along it.
    * ``overlap``: pixels shared by neighbouring tiles and blended by the ramp (a multiple of the
      stride, below ``tile_size``); it should cover what the network sees around a pixel.
    * ``max_pixels``: the budget of one network call in pixels (batch × H × W): ``auto``'s threshold
      for one image, and the size of a chunk when ``tile_batch`` is None. The default 2²¹ (a
      1448² image) keeps a 768×512 photo whole, tiles a 4000×3000 one.
    * ``tile_batch``: images or tiles per network call; None: as many as ``max_pixels`` allows,
      at least one.
    """

    mode: str = "auto"
    tile_size: int = 512
    overlap: int = 64
    max_pixels: int = 2**21
    tile_batch: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in TILE_MODES:
            raise ValueError(f"tile mode must be one of {TILE_MODES}, not {self.mode!r}.")
        if not 0 <= int(self.overlap) < int(self.tile_size):
            raise ValueError(f"tiles need 0 ≤ overlap < tile_size, got overlap {self.overlap}, "
                             f"tile_size {self.tile_size}.")
        if int(self.max_pixels) < 1 or (self.tile_batch is not None and int(self.tile_batch) < 1):
            raise ValueError(f"max_pixels and tile_batch must be ≥ 1, got {self.max_pixels} and {self.tile_batch}.")

    @classmethod
    def from_dict(cls, d: dict) -> TileConfig:
        from .unet import check_known_fields

        check_known_fields(cls, d, "tiling")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def check_stride(self, stride: int) -> None:
        """Tiles and their steps must be multiples of the network's stride (so each tile is a valid input)."""
        if self.tile_size % stride or self.overlap % stride:
            raise ImageSizeError(f"tile_size ({self.tile_size}) and overlap ({self.overlap}) must be multiples of "
                                 f"the network's stride {stride}.")


@dataclass(frozen=True)
class TilePlan:
    """How one network call on an N×C×H×W batch runs: padding, tile grid and chunks.

    ``rows``/``cols`` are the tiles' top/left corners in the padded image; ``chunk`` counts the
    (image, tile) pairs evaluated per network call.
    """

    batch: int
    size: tuple[int, int]
    padded: tuple[int, int]
    tile: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    overlap: int
    chunk: int

    @property
    def tiles(self) -> int:
        """Tiles per image."""
        return len(self.rows) * len(self.cols)

    @property
    def calls(self) -> int:
        """Network calls per evaluation of the whole batch."""
        return math.ceil(self.batch * self.tiles / self.chunk)

    @property
    def whole(self) -> bool:
        """One call on the whole (padded) batch: no tiles, no chunks."""
        return self.tiles == 1 and self.chunk >= self.batch


def network_stride(net: nn.Module) -> int:
    """The factor H and W must be multiples of: ``net.downsampling_factor`` (ADM), diffusers' block count, else 1."""
    if hasattr(net, "downsampling_factor"):
        return int(net.downsampling_factor)
    config = getattr(getattr(net, "unet", None), "config", None)
    if config is not None and hasattr(config, "down_block_types"):  # diffusers UNet2DModel: all blocks but the last
        return 2 ** (len(config.down_block_types) - 1)
    return 1


def attention_layers(net: nn.Module) -> list[str]:
    """Names of the network's global attention modules (ADM ``AttentionBlock``, diffusers ``Attention``, …).

    Windowed attention (``AttentionBlock.window > 0``) is local, like a convolution: not listed.
    """
    return [name for name, m in net.named_modules()
            if "attention" in type(m).__name__.lower() and not getattr(m, "window", 0)]


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Tile corners along one axis: every ``tile − overlap`` pixels, the last shifted to end at ``length``."""
    if length <= tile:
        return (0,)
    return (*range(0, length - tile, tile - overlap), length - tile)


def make_plan(shape: tuple[int, ...], stride: int, config: TileConfig, attention: list[str],
              name: str = "prior") -> TilePlan:
    """The :class:`TilePlan` of one network call on a batch of ``shape`` (N×C×H×W)."""
    n, (h, w) = int(shape[0]), (int(shape[-2]), int(shape[-1]))
    if h < stride or w < stride:
        raise ImageSizeError(f"a {h}×{w} image is smaller than the {stride}×{stride} that the network of prior "
                             f"{name!r} takes (it halves the image {int(math.log2(stride))} times).")
    hp, wp = math.ceil(h / stride) * stride, math.ceil(w / stride) * stride
    if config.mode == "off":
        return TilePlan(n, (h, w), (hp, wp), (hp, wp), (0,), (0,), 0, n)
    if config.mode == "auto" and hp * wp <= config.max_pixels:  # each image whole; the batch in chunks
        th, tw = hp, wp
    else:
        config.check_stride(stride)
        th, tw = min(config.tile_size, hp), min(config.tile_size, wp)
    rows, cols = tile_starts(hp, th, config.overlap), tile_starts(wp, tw, config.overlap)
    if len(rows) * len(cols) > 1 and attention:
        raise ImageSizeError(
            f"prior {name!r} has attention layers ({attention[0]}, …): each output pixel depends on the whole "
            f"image, so it cannot run on tiles; run it whole (tile mode 'off') or use an attention-free prior "
            f"such as natural.")
    entries = n * len(rows) * len(cols)
    most = config.tile_batch or max(1, config.max_pixels // (th * tw))
    chunk = math.ceil(entries / math.ceil(entries / most))  # even chunks: the last one is at most one short
    return TilePlan(n, (h, w), (hp, wp), (th, tw), rows, cols, config.overlap, chunk)


def hann_ramp(size: int, overlap: int, rise: bool, fall: bool, device: torch.device,
              dtype: torch.dtype) -> torch.Tensor:
    """1-D blending weights of a tile: 0 → 1 over its first ``overlap`` pixels (``rise``), 1, then 1 → 0 (``fall``).

    A ramp is ``sin²(π/2 · u)``, u going from 0 to 1 across the middle half of the overlap at pixel
    centres; the outer quarter (the ``overlap // 4`` pixels nearest the tile's edge, where the
    network's receptive field is cut most) weighs 0 and the inner quarter 1. A rise and the
    neighbour's fall over the same pixels sum to 1 (sin² + cos²), so no pixel is left without weight.
    Sides on the image border get no ramp: no other tile covers them, and the whole image has the
    same border there.
    """
    w = torch.ones(size, device=device, dtype=torch.float64)
    if overlap == 0:
        return w.to(dtype)
    margin = overlap // 4
    i = torch.arange(size, device=device, dtype=torch.float64)
    u = ((i - margin + 0.5) / (overlap - 2 * margin)).clamp(0.0, 1.0)
    ramp = torch.sin(0.5 * math.pi * u) ** 2
    if rise:
        w = w * ramp
    if fall:
        w = w * ramp.flip(0)
    return w.to(dtype)


def reflect_pad(x: torch.Tensor, padded: tuple[int, int]) -> torch.Tensor:
    """Pad N×C×H×W to ``padded`` by reflection at the bottom and right (a no-op at that size)."""
    dh, dw = padded[0] - x.shape[-2], padded[1] - x.shape[-1]
    return x if dh == dw == 0 else F.pad(x, (0, dw, 0, dh), mode="reflect")


def _spatial(y: torch.Tensor | None, x: torch.Tensor) -> bool:
    """Whether the extra input ``y`` is an image-like condition (cut like x) rather than per-sample labels."""
    return y is not None and y.dim() == 4 and y.shape[0] == x.shape[0] and y.shape[-2:] == x.shape[-2:]


def run_network(fn: NetFn, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, plan: TilePlan,
                fixed_chunks: bool = False) -> torch.Tensor:
    """``fn(x, t, y)`` at any size: padded, tiled and blended as ``plan`` says, cropped back to x's H×W.

    ``t`` holds one timestep per image; ``y`` is None, per-image labels (N,) or an N×C×H×W condition
    (padded and cut exactly like x). ``fixed_chunks`` repeats a tile to fill the last chunk, so a
    compiled network with static shapes sees one shape only.
    """
    spatial = _spatial(y, x)
    xp = reflect_pad(x, plan.padded)
    yp = reflect_pad(y, plan.padded) if spatial else y
    if plan.whole:
        out = fn(xp, t, yp)
    else:
        out = _blend_tiles(fn, xp, t, yp, spatial, plan, fixed_chunks)
    return out[..., : plan.size[0], : plan.size[1]]


def _blend_tiles(fn: NetFn, xp: torch.Tensor, t: torch.Tensor, yp: torch.Tensor | None, spatial: bool,
                 plan: TilePlan, fixed_chunks: bool) -> torch.Tensor:
    """Σ_k w_k f(tile k) / Σ_k w_k over the plan's tiles, evaluated ``plan.chunk`` tiles per call."""
    (th, tw), overlap = plan.tile, plan.overlap

    def weight(k: int, starts: tuple[int, ...], size: int) -> torch.Tensor:
        """Ramps on the sides facing another tile (k is the tile's index along this axis)."""
        return hann_ramp(size, overlap, k > 0, k < len(starts) - 1, xp.device, xp.dtype)

    weights = {(r, c): weight(i, plan.rows, th)[:, None] * weight(j, plan.cols, tw)[None, :]
               for i, r in enumerate(plan.rows) for j, c in enumerate(plan.cols)}
    total = torch.zeros(plan.padded, device=xp.device, dtype=xp.dtype)
    for (r, c), w in weights.items():
        total[r : r + th, c : c + tw] += w
    entries = [(n, r, c) for r in plan.rows for c in plan.cols for n in range(plan.batch)]
    t = t.expand(plan.batch) if t.dim() == 0 else t
    # under autograd, recompute each chunk in the backward pass instead of holding every chunk's activations
    remat = torch.is_grad_enabled() and xp.requires_grad and plan.calls > 1
    acc = None
    for start in range(0, len(entries), plan.chunk):
        part = entries[start : start + plan.chunk]
        run = part + part[:1] * (plan.chunk - len(part)) if fixed_chunks else part
        xs = torch.stack([xp[n, :, r : r + th, c : c + tw] for n, r, c in run])
        ts = t[[n for n, _, _ in run]]
        if spatial:
            ys = torch.stack([yp[n, :, r : r + th, c : c + tw] for n, r, c in run])
        else:
            ys = None if yp is None else yp[[n for n, _, _ in run]]
        out = checkpoint(fn, xs, ts, ys, use_reentrant=False) if remat else fn(xs, ts, ys)
        if acc is None:
            acc = xp.new_zeros((plan.batch, out.shape[1], *plan.padded))
        for j, (n, r, c) in enumerate(part):
            acc[n, :, r : r + th, c : c + tw] += weights[r, c] * out[j]
    return acc / total
