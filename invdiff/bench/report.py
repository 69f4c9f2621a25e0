"""Tables from the rows: ``results.csv`` and ``results.md`` (mean ± 95 % interval per task × method) and grids.

A suite of several image sets, or with methods restricted to a subset, gets one table per
:class:`~invdiff.bench.scopes.Scope` (a set, or a set ∩ a subset): every table is paired — all its
methods on the same images. The grid cells are centre crops of ``grid_cell`` px at full resolution
(smaller images are shown whole, enlarged by nearest-neighbour).

The interval is Student's t: ``mean ± t₀.₉₇₅,ₙ₋₁ · s / √n`` over the images (s the sample standard
deviation), i.e. the uncertainty of the mean over this image set. NFE is per image; seconds per
image is the solve time divided by the batch size; peak GPU memory is the largest
``torch.cuda.max_memory_allocated`` over the batches (empty on the CPU).
"""

from __future__ import annotations

import csv
import math
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from . import images as imgio
from .meta import read_meta
from .scopes import Scope, grid_names, method_subsets, scopes, set_labels, set_of_name
from .store import RESULTS, read_rows

METRICS = ("psnr", "ssim", "lpips")
CSV_FIELDS = ["images", "task", "method", "kind", "n", "psnr_mean", "psnr_ci95", "ssim_mean", "ssim_ci95", "lpips_mean",
              "lpips_ci95", "nfe", "backprop", "seconds_per_image", "peak_gpu_mem_mb"]


def mean_ci(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % Student-t interval); the half-width is NaN for fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size < 2:
        return float(v.mean()), math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def aggregate(rows: list[dict[str, Any]], order: list[tuple[str, str, str]], scope: str = "all") -> list[dict[str, Any]]:
    """One summary per (task, method) in ``order`` (``(task, method, kind)`` triples) that has rows."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_key.setdefault((r["task"], r["method"]), []).append(r)
    table = []
    for task, method, kind in order:
        group = by_key.get((task, method), [])
        if not group:
            continue
        summary: dict[str, Any] = {"images": scope, "task": task, "method": method, "kind": kind, "n": len(group)}
        for m in METRICS:
            vals = [r[m] for r in group if r.get(m) is not None]
            mean, ci = mean_ci(vals) if len(vals) == len(group) else (math.nan, math.nan)
            summary[f"{m}_mean"], summary[f"{m}_ci95"] = mean, ci
        summary["nfe"] = float(np.mean([r["nfe"] for r in group]))
        summary["backprop"] = any(r["backprop"] for r in group)
        summary["seconds_per_image"] = float(np.mean([r["seconds"] for r in group]))
        peaks = [r["peak_mem_mb"] for r in group if r.get("peak_mem_mb") is not None]
        summary["peak_gpu_mem_mb"] = max(peaks) if peaks else math.nan
        table.append(summary)
    return table


def write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for s in table:
            w.writerow({k: ("" if isinstance(s[k], float) and math.isnan(s[k]) else s[k]) for k in CSV_FIELDS})


def _pm(mean: float, ci: float, digits: int) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" + ("" if math.isnan(ci) else f" ± {ci:.{digits}f}")


def _task_header(label: str, info: dict) -> str:
    params = ", ".join(f"{k}={v}" for k, v in info.get("params", {}).items())
    return f"### {label} — {info['task']}, σ_y = {info['sigma_y']:g}" + (f" ({params})" if params else "")


def _scope_table(label: str, table: list[dict]) -> list[str]:
    lines = [("| method | kind | n | PSNR ↑ | SSIM ↑ | LPIPS ↓ | vs best baseline LPIPS | NFE | backprop | s / image "
              "| peak GPU MiB |"), "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [s for s in table if s["task"] == label]
    base = [s["lpips_mean"] for s in rows if s["kind"] == "baseline" and not math.isnan(s["lpips_mean"])]
    best = min(base) if base else math.nan
    for s in rows:
        delta = ("" if s["kind"] == "baseline" or math.isnan(best) or math.isnan(s["lpips_mean"])
                 else f"{s['lpips_mean'] - best:+.3f} ({'beats' if s['lpips_mean'] < best else 'does not beat'})")
        peak = "–" if math.isnan(s["peak_gpu_mem_mb"]) else f"{s['peak_gpu_mem_mb']:.0f}"
        lines.append(f"| {s['method']} | {s['kind']} | {s['n']} | {_pm(s['psnr_mean'], s['psnr_ci95'], 2)} | "
                     f"{_pm(s['ssim_mean'], s['ssim_ci95'], 3)} | {_pm(s['lpips_mean'], s['lpips_ci95'], 3)} | "
                     f"{delta} | {s['nfe']:.0f} | {'yes' if s['backprop'] else 'no'} | "
                     f"{s['seconds_per_image']:.3g} | {peak} |")
    return lines


def _task_section(label: str, info: dict, tables: list[tuple[Scope | None, list[dict]]], plan: list[dict],
                  lpips_note: str, grid: Path | None, grid_note: str = "") -> list[str]:
    lines = [_task_header(label, info), ""]
    for scope, table in tables:
        if scope is not None:
            lines += ([""] if lines[-1] else []) + [f"#### {scope.label} — {len(scope.images)} images"
                      + ("" if scope.subset is None else f" (every method on the same {len(scope.images)} images)"), ""]
        lines += _scope_table(label, table)
    rows = [s for _, table in tables for s in table if s["task"] == label]
    reasons: dict[str, list[str]] = {}  # one line per reason: "sr3, sr3-100 not run: …"
    for e in plan:
        if e["not_run"]:
            reasons.setdefault(e["not_run"], []).append(e["label"])
    lines += [f"\n{', '.join(labels)} not run: {reason}" for reason, labels in reasons.items()]
    if any(math.isnan(s["lpips_mean"]) for s in rows):
        lines.append(f"\nLPIPS n/a: {lpips_note}")
    if grid is not None:
        lines += ["", f"![{label}: truth | measured | each method]({grid.name})" + grid_note]
    return [*lines, ""]


def _speed_line(rows: list[dict]) -> str:
    """How the networks ran, from the rows (rows written before speed modes existed are fp32)."""
    modes = sorted({r.get("speed", "fp32") for r in rows}) or ["fp32"]
    text = {"fp32": "fp32 (eager float32)",
            "fast": "fast (bf16 autocast, channels_last, torch.compile reduce-overhead, CUDA sampler generators; "
                    "differs slightly from fp32; compilation not timed)",
            "fast-eager": "fast-eager (bf16 autocast, channels_last, no torch.compile, CUDA sampler generators; "
                          "differs slightly from fp32)"}
    return f"- speed mode: {', '.join(text.get(m, m) for m in modes)}"


def _sizes(suite: dict) -> str:
    """How the images were sized, for the header."""
    if suite["resolution"] != "native":
        return f"at {suite['resolution']}×{suite['resolution']} (centre square crop, resized; first in sorted order)"
    m = int(suite.get("multiple_of", 1))
    return "at their own sizes" + (f", centre-cropped to multiples of {m}" if m > 1 else "") + " (no resize)"


def _header(meta: dict, n_images: int, wall_seconds: float | None, rows: list[dict] | None = None) -> list[str]:
    suite, prior, metrics, code = meta["suite"], meta.get("prior") or {}, meta["metrics"], meta["code"]
    ssim = metrics["ssim"]
    lp = metrics["lpips"]
    lp_text = (f"LPIPS {lp['package']} net={lp['net']} v{lp['version']}, AlexNet trunk `{Path(lp['backbone']).name}` "
               f"sha256 {lp['backbone_sha256'][:16]}…" if "backbone" in lp else f"LPIPS n/a: {lp['unavailable']}")
    runs = meta.get("runs", [])
    devices = sorted({f"{r['device']} ×{r['world_size']}" for r in runs})
    lines = [f"# Benchmark `{suite['name']}`", "",
             f"- images: {n_images} of `{suite['dataset']}`"
             + (f" from sorted position {suite['first']} on" if suite.get("first") else "")
             + f" {_sizes(suite)}, suite seed {suite['seed']}",
             f"- prior: {prior.get('name', '—')} (sha256 {str(prior.get('sha256'))[:16]}…)" if prior else "- prior: none",
             (f"- code: invdiff {code['invdiff']}, commit {code.get('commit')}{' (dirty tree)' if code.get('dirty') else ''}"
              + (f", sources sha256 {code['source_sha256'][:16]}…" if code.get("source_sha256") else "")),
             f"- metrics: RGB in [0, 1], no border crop; SSIM Gaussian {ssim['size']}×{ssim['size']} σ={ssim['sigma']}; {lp_text}",
             "- σ_y on the [-1, 1] scale (std σ_y/2 added on [0, 1]); ± is the 95 % Student-t interval of the mean",
             f"- devices: {', '.join(devices)}; torch {runs[-1]['torch'] if runs else '?'}",
             _speed_line(rows or [])]
    if wall_seconds is not None:
        lines.append(f"- wall time of the last run: {wall_seconds:.1f} s")
    if runs and runs[-1].get("command"):
        lines.append(f"- command: `{shlex.join(runs[-1]['command'])}`")
    return [*lines, ""]


def _ordered_names(suite: dict, rows: list[dict]) -> list[str]:
    """Image names set after set, each set in its table order (the rows' ``index``)."""
    labels = set_labels(suite)
    first = {}
    for r in rows:
        first.setdefault(r["image"], r["index"])
    return sorted(first, key=lambda n: (labels.index(set_of_name(suite, n)) if set_of_name(suite, n) in labels
                                        else len(labels), first[n], n))


def _scoped_tables(suite: dict, rows: list[dict], order: list) -> list[tuple[Scope | None, list[dict]]]:
    """One aggregated table per scope; a plain suite (one set, no subsets) has one table and no scope header.

    In a set's full table a method restricted to a subset is left out (it has its own, paired, table).
    """
    found = scopes(suite, sorted({r["image"] for r in rows}))
    if len(found) <= 1:
        return [(None, aggregate(rows, order))]
    restricted = method_subsets(suite)
    out = []
    for scope in found:
        mine = [r for r in rows if r["image"] in scope.images
                and (scope.subset is not None or r["method"] not in restricted)]
        out.append((scope, aggregate(mine, order, scope.label)))
    return out


def write_report(out: str | Path, images: list | None = None, wall_seconds: float | None = None) -> dict[str, Path]:
    """Write ``results.csv``, ``results.md`` and one grid per task from ``results.jsonl`` and ``meta.json``.

    ``images`` (the run's :class:`~invdiff.bench.protocol.BenchImage` list) restricts the table to
    those images; by default every row counts.
    """
    out = Path(out)
    meta = read_meta(out)
    rows = read_rows(out / RESULTS)
    if images is not None:
        names = {im.name for im in images}
        rows = [r for r in rows if r["image"] in names]
    n_images = len({r["image"] for r in rows}) if images is None else len(images)
    order = [(task, e["label"], e["kind"]) for task, plan in meta["methods"].items() for e in plan]
    suite = meta["suite"]
    tables = _scoped_tables(suite, rows, order)
    write_csv(out / "results.csv", [s for _, table in tables for s in table])
    lpips_note = meta["metrics"]["lpips"].get("unavailable") or "LPIPS-AlexNet needs images of at least 32×32."
    lines = _header(meta, n_images, wall_seconds, rows)
    shown = grid_names(suite, _ordered_names(suite, rows))
    cell = int(suite.get("grid_cell", 96))
    grid_note = (f" (centre {cell}×{cell} crops at full resolution)" if suite.get("resolution") == "native" else "")
    written = {"csv": out / "results.csv", "md": out / "results.md"}
    computed = {(r["task"], r["method"]) for r in rows}
    for task, plan in meta["methods"].items():
        # the "measurement" baseline is the measured picture itself: shown once, as "measured"; a method
        # recorded by an earlier run but without rows here (dropped from the suite before it ran) has no column
        columns = ["_truth", "_measured", *[e["label"] for e in plan if not e["not_run"] and e["label"] != "measurement"
                                            and (task, e["label"]) in computed]]
        path = imgio.grid(out, task, columns, shown, cell=cell, crop=suite.get("resolution") == "native")
        if path is not None:
            written[f"grid_{task}"] = path
        lines += _task_section(task, meta["tasks"][task], tables, plan, lpips_note, path, grid_note)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    return written
