"""What ``invdiff solve`` writes and where: a plan checked before any work, then atomic writes.

Names, for an output ``OUT.png`` (a folder input writes ``FOLDER/STEM.png`` per image):

* ``OUT.measurement.png`` – the measurement y that was solved: always when the input was a clean
  image degraded here, and with ``--save-all``. For inpainting the mask is its alpha channel
  (α = 0: missing), so the file can be given back as ``--input`` to solve the same problem.
* with ``--save-all``: ``OUT.mask.png`` (white = observed, black = missing: what ``--mask``
  reads), ``OUT.kernel.png`` (16-bit, scaled so its maximum is white; ``--kernel`` normalises
  it back to sum 1), ``OUT.side_by_side.png`` ([clean |] measurement | restored, 8-bit; a
  low-resolution measurement is enlarged with nearest neighbours) and ``OUT.settings.yaml``.

For a ``.npy`` output the measurement is a ``.npy`` too (float32, mask as a last channel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, config
from .. import io as imageio
from ..api import UsageError, article


@dataclass
class Plan:
    """Every path one image's results go to (None: not written)."""

    main: Path
    measurement: Path | None = None
    mask: Path | None = None
    kernel: Path | None = None
    side_by_side: Path | None = None
    settings: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.main, self.measurement, self.mask, self.kernel, self.side_by_side, self.settings)
                if p is not None]


def _aux(main: Path, what: str, suffix: str = ".png") -> Path:
    return main.with_name(f"{main.stem}.{what}{suffix}")


def _main_paths(prepared: dict, input_path: Path, folder: bool, output: str | None) -> dict[int, Path]:
    def suffix(p: Path) -> str:
        return ".npy" if p.suffix.lower() == ".npy" else ".png"

    if folder:
        outdir = Path(output) if output else Path.cwd() / f"{input_path.resolve().name}.restored"
        if outdir.exists() and not outdir.is_dir():
            raise UsageError(f"--output {outdir} is a file, but a folder input needs an output folder.")
        return {i: outdir / f"{p.path.stem}{suffix(p.path)}" for i, p in prepared.items()}
    (i, prep), = prepared.items()
    default = f"{prep.path.stem}.restored{suffix(prep.path)}"
    if output is None:
        main = Path.cwd() / default
    else:
        main = Path(output) / default if (Path(output).is_dir() or output.endswith(os.sep)) else Path(output)
    if main.suffix.lower() not in imageio.WRITE_SUFFIXES:
        raise UsageError(f"--output {main} has an unsupported suffix; use one of {', '.join(imageio.WRITE_SUFFIXES)}.")
    return {i: main}


def plan(prepared: dict, input_path: Path, folder: bool, output: str | None, save_all: bool,
         overwrite: bool) -> dict[int, Plan]:
    """Every output path, checked for clashes, for replacing an input, and for existing files (before any work)."""
    plans = {}
    for i, main in _main_paths(prepared, input_path, folder, output).items():
        case = prepared[i].case
        p = Plan(main)
        if case.degraded or save_all:
            p.measurement = _aux(main, "measurement", ".npy" if main.suffix.lower() == ".npy" else ".png")
        if save_all:
            p.mask = _aux(main, "mask") if case.mask is not None else None
            p.kernel = _aux(main, "kernel") if case.kernel is not None else None
            p.side_by_side, p.settings = _aux(main, "side_by_side"), _aux(main, "settings", ".yaml")
        plans[i] = p
    every = [path for p in plans.values() for path in p.paths()]
    inputs = {prep.path.resolve() for prep in prepared.values()}
    seen: set[Path] = set()
    for path in every:
        resolved = path.resolve()
        if resolved in seen:
            raise UsageError(f"two outputs would be written to {path} (inputs with the same name stem?); "
                             "rename one of the inputs.")
        if resolved in inputs:
            raise UsageError(f"the output {path} would replace an input file; choose another --output.")
        seen.add(resolved)
    existing = [path for path in every if path.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} exists{more}; pass --overwrite to replace, or choose another --output. "
                         "Nothing was written.")
    return plans


def plain(obj: Any) -> Any:
    """``obj`` with tuples, tensors, numpy values and paths turned into YAML-safe python values."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return plain(obj.tolist()) if obj.numel() <= 16 else f"tensor of shape {list(obj.shape)}"
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _describe(details: dict, skip: set[str]) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in details.items() if k not in skip)


def degrade_note(prep) -> str:
    """The one line saying that a clean input was degraded here, and how (the file is announced once written)."""
    d = prep.case.details
    how = _describe(d, {"task", "reading", "reason", "input", "seed", "size"})
    return (f"{prep.path.name}: read as a clean image ({d['reason']}), {d['size']}, degraded with the {d['task']} "
            f"protocol ({how})")


def measurement_note(name: str, case, quality: int | None) -> str:
    """The one line saying how a measurement input was read: why, what the operator is, and the σ_y assumed."""
    d, _op = case.details, case.operator
    h, w = case.y.shape[-2:]
    what = {"inpaint": lambda: f"{100 * d['fraction_missing']:.1f} % of pixels to fill",
            "sr4": lambda: f"×{d['factor']} {d['kernel']}: {h}×{w} → {case.shape[1]}×{case.shape[2]}",
            "jpeg": lambda: f"quality {d['quality']} " + ("(given by --quality)" if quality is not None else
                                                          "(detected from its quantisation tables)")}
    if d["task"] in what:
        how = what[d["task"]]()
    elif "operator" in d:  # a given kernel
        how = f"{case.kernel.shape[0]}×{case.kernel.shape[1]} kernel, {d['operator']}"
    else:
        how = _describe(d, {"task", "reading", "reason", "input", "seed", "size", "sigma_y"})
    return (f"{name}: read as {article(d['task'])} measurement ({d['reason']}), {h}×{w}: {how}; σ_y {d['sigma_y']:g} "
            f"assumed (on the [-1, 1] scale; --sigma-y to change)")


def _hwc(x: torch.Tensor, gray: bool) -> np.ndarray:
    """1×C×H×W → H×W×C numpy (ITU-R 601 luma when the input was grayscale)."""
    x = x[0].detach().cpu().double()
    if gray and x.shape[0] == 3:
        x = (torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype)[:, None, None] * x).sum(0, keepdim=True)
    return x.permute(1, 2, 0).numpy()


def side_by_side(case, x: torch.Tensor) -> np.ndarray:
    """[clean |] measurement | restored, each H×W with a 2-px white gap (measurement enlarged if smaller)."""
    h, w = x.shape[-2:]
    y = case.y.cpu().double().clamp(0, 1)
    if tuple(y.shape[-2:]) != (h, w):
        y = y.repeat_interleave(h // y.shape[-2], -2).repeat_interleave(w // y.shape[-1], -1)
    panels = ([case.clean.cpu().double()] if case.clean is not None else []) + [y, x.cpu().double()]
    gap = torch.ones(1, x.shape[1], h, 2, dtype=torch.float64)
    row = [t for panel in panels for t in (panel, gap)][:-1]
    return torch.cat(row, dim=-1)[0].permute(1, 2, 0).numpy()


def write(prep, x: torch.Tensor, p: Plan, result, effective: dict, args, say=print) -> None:
    """Write every planned file of one image, each atomically."""
    case, data, over = prep.case, prep.data, args.overwrite
    depth = data.bit_depth if data.bit_depth in (8, 16) else 16
    restored = imageio.orient(_hwc(x, prep.gray), prep.keep_orientation)
    if p.main.suffix.lower() in (".jpg", ".jpeg") and depth == 16:
        say(f"{p.main}: JPEG holds 8 bits per sample; the 16-bit result is rounded to 8 bits")
    imageio.write_image(p.main, restored, depth, overwrite=over)
    mask = case.mask
    if p.measurement:
        alpha = None if mask is None else mask[0].numpy()
        imageio.write_image(p.measurement, _hwc(case.y, prep.gray), depth, alpha=alpha, overwrite=over)
        if case.degraded:
            say(f"{prep.path.name}: measurement saved to {p.measurement}")
    if p.mask:
        imageio.write_image(p.mask, mask[0].numpy()[..., None], 8, overwrite=over)
    if p.kernel:
        k = case.kernel.detach().cpu().double().numpy()
        imageio.write_image(p.kernel, (k / k.max())[..., None], 16, overwrite=over)
    if p.side_by_side:
        imageio.write_image(p.side_by_side, side_by_side(case, x), 8, overwrite=over)
    if p.settings:
        record = {"invdiff": __version__, "input": str(prep.path), "output": str(p.main), "settings": effective,
                  "image": {**case.details, "nfe": result.nfe, "batch_seconds": round(result.seconds, 3),
                            "exif_orientation": data.orientation, "bit_depth": data.bit_depth}}
        imageio.atomic_write_bytes(p.settings, config.dump(plain(record)).encode(), over)
