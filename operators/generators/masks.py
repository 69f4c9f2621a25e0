"""Inpainting mask generators.

Convention everywhere: a mask is a float tensor of shape ``1×H×W`` holding 0/1, **1 = observed,
0 = missing** (to be filled). It broadcasts over colour channels and a batch axis. Every random
family draws only from the explicit ``generator`` (a ``torch.Generator``; seed 0 is a seed), so a
seed fixes the mask. Deterministic families (expand, alternating lines, super-resolve) take no
generator. :func:`fill_fraction` and :func:`mask_summary` report how much is to be filled.

Families
--------
* ``box``        – DPS protocol: a 128×128 hole at 256², scaled with resolution (32×32 at 64²),
  placed uniformly with a margin of 1/16 of the side (16 px at 256²), or centred.
* ``random``     – a fixed fraction of pixels missing (DPS: 92 %), same pixels in every channel.
* ``irregular``  – a mask image drawn from a folder (e.g. NVIDIA's irregular masks), with an
  explicit polarity ``hole_is="white"|"black"``.
* ``free_form``  – our procedural strokes: poly-lines of round-capped thick segments, added until
  the hole ratio reaches a target drawn from ``hole_range``.
* RePaint families (Lugmayr et al. 2022): ``wide`` / ``narrow`` (thick / thin strokes — our own
  stroke presets, not LaMa's generator, so their statistics differ from RePaint's files),
  ``half`` (one half missing, side drawn), ``expand`` (only a centre crop kept), ``lines``
  (every other row missing), ``super_resolve`` (one pixel kept per 2×2 block).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Size = int | tuple[int, int]
MASK_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


# -- helpers ------------------------------------------------------------------------------------
def _hw(size: Size, name: str = "size", minimum: int = 1) -> tuple[int, int]:
    """``(H, W)`` from an int or a pair of ints, each at least ``minimum``."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if not (isinstance(h, int) and isinstance(w, int) and h >= minimum and w >= minimum):
        raise ValueError(f"{name} must be an int or (H, W) pair of ints >= {minimum}, got {size!r}.")
    return h, w


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; "
            "pass torch.Generator().manual_seed(seed)."
        )


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform [0, 1) float64 numbers from ``generator``, returned on the CPU."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64).cpu()


def _randint(generator: torch.Generator, low: int, high: int) -> int:
    """One integer uniform in ``[low, high]`` (inclusive)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator, device=generator.device).item())


def _from_hole(hole: torch.Tensor) -> torch.Tensor:
    """Boolean ``H×W`` hole map → float ``1×H×W`` mask with 1 = observed."""
    return (~hole).to(torch.float32)[None]


def fill_fraction(mask: torch.Tensor) -> float:
    """Fraction of pixels to fill (mask value 0) in a ``…×H×W`` 0/1 mask."""
    return float((mask == 0).float().mean())


def mask_summary(mask: torch.Tensor) -> str:
    """One line for logs: size and percentage of pixels to fill."""
    h, w = mask.shape[-2:]
    return f"mask {h}×{w}: {100 * fill_fraction(mask):.1f}% of pixels to fill (1 = observed, 0 = missing)"


def invert_mask(mask: torch.Tensor) -> torch.Tensor:
    """Swap observed and missing (``1 − mask``); the mask must hold only 0 and 1."""
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("invert_mask expects a binary 0/1 mask; threshold it first.")
    return 1.0 - mask


# -- DPS families -------------------------------------------------------------------------------
def box_mask(
    size: Size,
    generator: torch.Generator,
    box: Size | None = None,
    margin: Size | None = None,
    centred: bool = False,
) -> torch.Tensor:
    """One rectangular hole (DPS box inpainting).

    ``box`` defaults to half of each side (128×128 at 256², 32×32 at 64²) and ``margin`` to 1/16
    of each side (16 px at 256², as DPS); the top-left corner is uniform over the positions that
    keep the hole at least ``margin`` from every border. ``centred=True`` puts it in the middle
    (the generator is then not used).
    """
    _check_generator(generator)
    h, w = _hw(size)
    bh, bw = _hw(box, "box") if box is not None else (h // 2, w // 2)
    mh, mw = _hw(margin, "margin", minimum=0) if margin is not None else (h // 16, w // 16)
    if bh + 2 * mh > h or bw + 2 * mw > w:
        raise ValueError(
            f"a {bh}×{bw} box with margin {mh}×{mw} does not fit in {h}×{w}; shrink box or margin."
        )
    if centred:
        top, left = (h - bh) // 2, (w - bw) // 2
    else:
        top, left = _randint(generator, mh, h - mh - bh), _randint(generator, mw, w - mw - bw)
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[top : top + bh, left : left + bw] = True
    return _from_hole(hole)


def random_mask(size: Size, generator: torch.Generator, missing: float = 0.92) -> torch.Tensor:
    """Exactly ``round(missing·H·W)`` pixels missing, drawn without replacement (DPS: 92 %)."""
    _check_generator(generator)
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"missing is a fraction of pixels in [0, 1], got {missing}.")
    h, w = _hw(size)
    n_missing = round(missing * h * w)
    order = torch.randperm(h * w, generator=generator, device=generator.device).cpu()
    hole = torch.zeros(h * w, dtype=torch.bool)
    hole[order[:n_missing]] = True
    return _from_hole(hole.view(h, w))


# -- mask files ---------------------------------------------------------------------------------
def load_mask_file(path: str | Path, hole_is: str, size: Size | None = None) -> torch.Tensor:
    """Read a mask image whose holes are ``hole_is`` (``"white"`` or ``"black"``; no default).

    The image is thresholded at half its value range, converted to 1 = observed, then (if
    ``size`` is given) resized with nearest-neighbour so it stays binary. NVIDIA's irregular
    masks are white = hole.
    """
    if hole_is not in ("white", "black"):
        raise ValueError(
            f'hole_is must be "white" or "black" (the colour of the holes in the file), got {hole_is!r}.'
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} does not exist; check the path.")
    with Image.open(path) as im:
        if im.mode in ("1", "L", "I;16", "I"):
            a = np.asarray(im, dtype=np.float64)
            top = {"1": 1.0, "L": 255.0, "I;16": 65535.0}.get(im.mode, max(float(a.max()), 1.0))
        elif im.mode == "RGB":
            rgb = np.asarray(im, dtype=np.float64)
            if not (rgb == rgb[..., :1]).all():
                raise ValueError(f"mask {path} is a colour image; save masks as grayscale (equal R, G, B).")
            a, top = rgb[..., 0], 255.0
        else:
            raise ValueError(f"mask {path} has image mode {im.mode}; save it as 8-bit grayscale ('L').")
    white = torch.from_numpy(a > top / 2)
    mask = _from_hole(white if hole_is == "white" else ~white)
    if size is not None:
        mask = F.interpolate(mask[None], size=_hw(size), mode="nearest-exact")[0]
    return mask


def list_mask_files(folder: str | Path) -> list[Path]:
    """Mask images in ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"mask folder {folder} does not exist; check the path.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MASK_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"mask folder {folder} holds no images ({', '.join(MASK_SUFFIXES)}).")
    return files


def irregular_mask(size: Size, generator: torch.Generator, folder: str | Path, hole_is: str) -> torch.Tensor:
    """A mask file from ``folder``, chosen uniformly by ``generator``, resized to ``size``.

    e.g. ``irregular_mask(64, g, "shared/masks/nvidia-irregular/10-20", hole_is="white")``.
    """
    _check_generator(generator)
    files = list_mask_files(folder)
    return load_mask_file(files[_randint(generator, 0, len(files) - 1)], hole_is=hole_is, size=size)


# -- procedural strokes -------------------------------------------------------------------------
def _capsule(
    hole: np.ndarray, p0: np.ndarray, p1: np.ndarray, radius: float
) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels (centres at integer coordinates) within ``radius`` of segment p0→p1 not yet in ``hole``.

    Returns the bounding window and the boolean map of new hole pixels inside it (NumPy: this
    inner loop runs per segment, and tiny torch ops are slow under thread contention).
    """
    h, w = hole.shape
    lo, hi = np.minimum(p0, p1) - radius, np.maximum(p0, p1) + radius
    r0, r1 = max(int(np.floor(lo[0])), 0), min(int(np.ceil(hi[0])) + 1, h)
    c0, c1 = max(int(np.floor(lo[1])), 0), min(int(np.ceil(hi[1])) + 1, w)
    rows = np.arange(r0, r1, dtype=np.float64)[:, None] - p0[0]
    cols = np.arange(c0, c1, dtype=np.float64)[None, :] - p0[1]
    d = p1 - p0
    t = np.clip((rows * d[0] + cols * d[1]) / max(float(d @ d), 1e-12), 0.0, 1.0)
    inside = (rows - t * d[0]) ** 2 + (cols - t * d[1]) ** 2 <= radius**2
    window = (slice(r0, r1), slice(c0, c1))
    return window, inside & ~hole[window]


def free_form_mask(
    size: Size,
    generator: torch.Generator,
    hole_range: tuple[float, float] = (0.1, 0.3),
    width: tuple[float, float] = (0.03, 0.08),
    length: tuple[float, float] = (0.05, 0.2),
    vertices: tuple[int, int] = (3, 8),
    max_turn: float = math.pi / 2,
    max_segments: int = 2000,
) -> torch.Tensor:
    """Random thick poly-line strokes until the hole ratio reaches a target in ``hole_range``.

    Our own model: the target ratio ρ* is uniform in ``hole_range``. Each stroke starts at a
    uniform point with a uniform heading and a width uniform in ``width`` (fraction of the
    shorter side); it has a uniform number of vertices in ``vertices``; each segment turns the
    heading by up to ``±max_turn`` and has a length uniform in ``length`` (fraction of the shorter
    side), clipped to the image. Segments are round-capped, so strokes look brushed. A segment
    that would push the ratio above ``hole_range[1]`` is skipped and a fresh stroke is started;
    drawing stops as soon as the ratio reaches ρ*, so the final ratio lies in ``hole_range``.
    """
    _check_generator(generator)
    h, w = _hw(size)
    lo, hi = hole_range
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"hole_range must satisfy 0 <= low <= high <= 1, got {hole_range}.")
    side, total = min(h, w), h * w
    target = lo + (hi - lo) * float(_rand(generator))
    hole = np.zeros((h, w), dtype=bool)
    filled, budget = 0, max_segments
    while filled < target * total:
        u = _rand(generator, 4).numpy()
        point = np.array([u[0] * (h - 1), u[1] * (w - 1)])
        heading = 2 * math.pi * u[2]
        radius = max(0.5, 0.5 * side * (width[0] + (width[1] - width[0]) * u[3]))
        for _ in range(_randint(generator, *vertices)):
            budget -= 1
            if budget < 0:
                raise RuntimeError(
                    f"free_form_mask reached only {filled / total:.3f} hole ratio after {max_segments} "
                    f"segments; widen hole_range {hole_range} or the stroke width."
                )
            v = _rand(generator, 2).numpy()
            heading += max_turn * (2 * v[0] - 1)
            step = side * (length[0] + (length[1] - length[0]) * v[1])
            nxt = np.clip(point + step * np.array([math.sin(heading), math.cos(heading)]), 0, [h - 1, w - 1])
            window, new = _capsule(hole, point, nxt, radius)
            if filled + int(new.sum()) > hi * total:
                break  # this segment overshoots: abandon the stroke, start another
            hole[window] |= new
            filled += int(new.sum())
            point = nxt
            if filled >= target * total:
                break
    return _from_hole(torch.from_numpy(hole))


def wide_mask(size: Size, generator: torch.Generator) -> torch.Tensor:
    """RePaint-style "wide" mask: few thick strokes (width 8–20 % of the side), 20–40 % missing."""
    return free_form_mask(
        size, generator, hole_range=(0.2, 0.4), width=(0.08, 0.2), length=(0.1, 0.3), vertices=(2, 5)
    )


def narrow_mask(size: Size, generator: torch.Generator) -> torch.Tensor:
    """RePaint-style "narrow" mask: many thin strokes (width 1.5–4 % of the side), 10–30 % missing."""
    return free_form_mask(
        size, generator, hole_range=(0.1, 0.3), width=(0.015, 0.04), length=(0.05, 0.2), vertices=(4, 10)
    )


# -- RePaint's deterministic-shape families -----------------------------------------------------
HALF_SIDES = ("left", "right", "top", "bottom")


def half_mask(size: Size, generator: torch.Generator, side: str | None = None) -> torch.Tensor:
    """The ``side`` half is missing (``None``: drawn uniformly from left/right/top/bottom)."""
    _check_generator(generator)
    if side is None:
        side = HALF_SIDES[_randint(generator, 0, 3)]
    if side not in HALF_SIDES:
        raise ValueError(f"side must be one of {HALF_SIDES} or None, got {side!r}.")
    h, w = _hw(size)
    hole = torch.zeros(h, w, dtype=torch.bool)
    region = {
        "left": (slice(None), slice(0, w // 2)),
        "right": (slice(None), slice(w - w // 2, w)),
        "top": (slice(0, h // 2), slice(None)),
        "bottom": (slice(h - h // 2, h), slice(None)),
    }[side]
    hole[region] = True
    return _from_hole(hole)


def expand_mask(size: Size, keep: float = 0.25) -> torch.Tensor:
    """Only a centred crop of ``keep`` × each side is observed (RePaint "expand": 64² of 256²)."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep is the kept fraction of each side in (0, 1], got {keep}.")
    h, w = _hw(size)
    kh, kw = max(1, round(keep * h)), max(1, round(keep * w))
    top, left = (h - kh) // 2, (w - kw) // 2
    hole = torch.ones(h, w, dtype=torch.bool)
    hole[top : top + kh, left : left + kw] = False
    return _from_hole(hole)


def alternating_lines_mask(size: Size, phase: int = 1) -> torch.Tensor:
    """Every other row missing: rows ``i`` with ``i % 2 == phase`` (default: odd rows)."""
    if phase not in (0, 1):
        raise ValueError(f"phase is 0 (even rows missing) or 1 (odd rows missing), got {phase!r}.")
    h, w = _hw(size)
    hole = (torch.arange(h) % 2 == phase)[:, None].expand(h, w).clone()
    return _from_hole(hole)


def super_resolve_mask(size: Size, factor: int = 2) -> torch.Tensor:
    """Keep the top-left pixel of each ``factor×factor`` block (RePaint 2× super-resolve)."""
    if not (isinstance(factor, int) and factor >= 1):
        raise ValueError(f"factor must be a positive int, got {factor!r}.")
    h, w = _hw(size)
    keep = (torch.arange(h) % factor == 0)[:, None] & (torch.arange(w) % factor == 0)[None, :]
    return _from_hole(~keep)


# -- dispatcher ---------------------------------------------------------------------------------
MASK_KINDS: dict[str, Callable[..., torch.Tensor]] = {
    "box": box_mask,
    "random": random_mask,
    "irregular": irregular_mask,
    "free_form": free_form_mask,
    "wide": wide_mask,
    "narrow": narrow_mask,
    "half": half_mask,
    "expand": expand_mask,
    "lines": alternating_lines_mask,
    "super_resolve": super_resolve_mask,
}


def make_mask(kind: str, size: Size, generator: torch.Generator, **params) -> torch.Tensor:
    """Build a ``1×H×W`` mask of family ``kind`` (see :data:`MASK_KINDS`) with its ``params``.

    ``generator`` is required even for deterministic kinds, so config-driven callers need no
    special case; those kinds ignore it.
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {sorted(MASK_KINDS)}.")
    fn = MASK_KINDS[kind]
    sig = inspect.signature(fn)
    takes_generator = "generator" in sig.parameters
    args = {"size": size, **({"generator": generator} if takes_generator else {}), **params}
    try:
        sig.bind(**args)
    except TypeError as err:
        allowed = [p for p in sig.parameters if p not in ("size", "generator")]
        raise ValueError(
            f"mask kind {kind!r} takes parameters {allowed}, got {sorted(params)}: {err}."
        ) from None
    if takes_generator:
        _check_generator(generator)
    return fn(**args)
