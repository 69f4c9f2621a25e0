"""Quality against cost: PSNR and LPIPS vs network calls (NFE) and vs seconds per image, per task, one line per
method through its step counts — from one or more bench folders of the same images.

    python3 benchmarks/results/plot_frontier.py RUN_DIR [RUN_DIR …] [--out DIR] [--tasks a,b]
        [--reference-nfe 1000] [--lpips-tol 0.001] [--psnr-tol 0.05]

e.g. ``plot_frontier.py benchmarks/results/faces64-issue16 benchmarks/results/faces64-issue14``. Rows come from
``results.jsonl`` or ``results.jsonl.gz`` (and shards); a method's line joins the entries of one folder that run
the same solver with the same settings except the schedule (``steps``, ``ode_steps``): ``dps`` and ``dps-100``
of faces64-issue14 are one DPS line (1000 and 100 NFE), ``diffpir-10 … diffpir-100`` another. Baselines (0 NFE)
are left out. Each point is the mean over the images the entry has rows for.

Writes ``OUT/frontier.png`` (rows: tasks; columns: PSNR vs NFE, LPIPS vs NFE, PSNR vs s/image, LPIPS vs s/image;
log x) and ``OUT/frontier.md``: per task every point, and the entries with at most 100 NFE whose mean LPIPS and
mean PSNR match or beat the reference's (the DPS entry with ``--reference-nfe`` network calls, default
DPS-1000 of the first run on the command line that has one, or of ``--reference-run``) — "match" allowing ``--lpips-tol`` more LPIPS and ``--psnr-tol`` less PSNR, both on the images the
two share — with their time ratio to it. Rows made in different speed modes (``speed``: ``fp32`` eager vs
``fast`` bf16 + torch.compile) or on different GPUs are marked: fast lines are dashed, their legend and the
summary name the mode, and the note says that seconds across modes are not like for like (NFE is).

matplotlib is not a dependency of invdiff; without it only the Markdown is written. To plot on a machine
whose venv lacks it: ``python -m pip install --target /tmp/mpl --no-deps matplotlib contourpy cycler
fonttools kiwisolver pyparsing python-dateutil six`` and run with ``PYTHONPATH=.:/tmp/mpl``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.store import all_rows

SCHEDULE_KEYS = ("steps", "ode_steps")
PANELS = (("nfe", "psnr"), ("nfe", "lpips"), ("seconds", "psnr"), ("seconds", "lpips"))
AXIS = {"nfe": "network calls per image (NFE)", "seconds": "seconds per image", "psnr": "PSNR (dB) ↑",
        "lpips": "LPIPS ↓"}


def read_run(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``meta.json`` and the rows of a folder (:func:`run_rows`)."""
    return json.loads((run / "meta.json").read_text()), run_rows(run)


def run_rows(run: Path) -> list[dict[str, Any]]:
    """A folder's rows: ``results.jsonl`` and shards, then ``results.jsonl.gz`` (a committed, compressed table) for
    the keys those lack; the first row per (task, method, image) wins."""
    rows = all_rows(run)
    gz = run / "results.jsonl.gz"
    if gz.is_file():
        seen = {(r["task"], r["method"], r["image"]) for r in rows}
        with gzip.open(gz, "rt") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    if (r["task"], r["method"], r["image"]) not in seen:
                        seen.add((r["task"], r["method"], r["image"]))
                        rows.append(r)
    return rows


def families(meta: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Method label → (line key, solver): entries with one solver and the same settings less the schedule."""
    out = {}
    for m in meta["suite"].get("methods") or []:
        rest = {k: v for k, v in (m.get("settings") or {}).items() if k not in SCHEDULE_KEYS}
        per_task = {t: {k: v for k, v in kw.items() if k not in SCHEDULE_KEYS} for t, kw in (m.get("per_task") or {}).items()}
        key = json.dumps([m["method"], rest, per_task, m.get("prior")], sort_keys=True, default=str)
        out[m["label"]] = (key, m["method"])
    return out


def line_name(labels: list[str], solver: str) -> str:
    """The common name of a line's labels: ``diffpir-10 … diffpir-100`` → ``diffpir``; else the solver."""
    stems = {re.sub(r"-\d+(x\d+)?$", "", label) for label in labels}
    return stems.pop() if len(stems) == 1 else solver


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def points(runs: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """One point per (run, task, method label) with rows (diffusion only), and the run tags."""
    out, tags = [], []
    for order, run in enumerate(runs):
        meta, rows = read_run(run)
        fam = families(meta)
        devices = sorted({r.get("device") for r in meta.get("runs", []) if r.get("device")})
        tag = meta["suite"]["name"]
        tags.append(tag)
        by = defaultdict(list)
        for r in rows:
            if r.get("kind") == "diffusion":
                by[(r["task"], r["method"])].append(r)
        lines = defaultdict(list)
        for label, (key, _) in fam.items():
            lines[key].append(label)
        for (task, label), rs in by.items():
            key, solver = fam.get(label, (label, label))
            speeds = sorted({r.get("speed", "fp32") for r in rs})
            out.append({"run": tag, "order": order, "task": task, "label": label, "solver": solver, "line": f"{tag}:{key}",
                        "name": line_name(lines.get(key, [label]), solver), "n": len(rs),
                        "images": {r["image"]: r for r in rs}, "nfe": _mean([r["nfe"] for r in rs]),
                        "seconds": _mean([r["seconds"] for r in rs]), "psnr": _mean([r["psnr"] for r in rs]),
                        "lpips": _mean([r.get("lpips") for r in rs]), "speed": "+".join(speeds),
                        "devices": devices})
    return out, tags


def _paired(a: dict[str, Any], b: dict[str, Any], metric: str) -> tuple[float | None, float | None, int]:
    common = sorted(a["images"].keys() & b["images"].keys())
    va = _mean([a["images"][i].get(metric) for i in common])
    vb = _mean([b["images"][i].get(metric) for i in common])
    return va, vb, len(common)


def summary(pts: list[dict[str, Any]], tasks: list[str], ref_nfe: int, lpips_tol: float, psnr_tol: float,
            max_nfe: int = 100, ref_run: str | None = None) -> list[str]:
    speeds = sorted({p["speed"] for p in pts})
    devices = sorted({d for p in pts for d in p["devices"]})
    md = ["# Quality vs cost (frontier)", "",
          f"Runs: {', '.join(sorted({p['run'] for p in pts}))}. Devices: {', '.join(devices) or '?'}.",
          f"Speed modes in these rows: {', '.join(speeds)}"
          + (" — **mixed**: seconds of fp32 (eager) and fast (bf16 + torch.compile) rows are not like for like; "
             "NFE is." if len(speeds) > 1 else "."), "",
          (f"Match or beat: mean LPIPS ≤ reference + {lpips_tol:g} and mean PSNR ≥ reference − {psnr_tol:g} dB, on "
           f"the images both have; reference: DPS with {ref_nfe} NFE; candidates: ≤ {max_nfe} NFE. Time ratio = "
           "s/image ÷ the reference's s/image."), ""]
    for task in tasks:
        mine = sorted((p for p in pts if p["task"] == task), key=lambda p: (p["name"], p["run"], p["nfe"] or 0))
        refs = sorted((p for p in mine if p["solver"] == "dps" and p["nfe"] == ref_nfe and ref_run in (None, p["run"])),
                      key=lambda p: p["order"])  # the first run on the command line that has one
        md += [f"## {task}", ""]
        if refs:
            ref = refs[0]
            md.append(f"Reference: {ref['label']} ({ref['run']}, {ref['speed']}): PSNR {ref['psnr']:.2f}, LPIPS "
                      f"{_f(ref['lpips'], 4)}, {ref['seconds']:.4f} s/image, n = {ref['n']}.")
            md += ["", "| method | run | speed | NFE | PSNR (Δ vs ref) | LPIPS (Δ vs ref) | s/image | time ratio |",
                   "|---|---|---|---|---|---|---|---|"]
            winners = 0
            for p in mine:
                if p is ref or (p["nfe"] or 0) > max_nfe:
                    continue
                ps, pr, _ = _paired(p, ref, "psnr")
                ls, lr, n = _paired(p, ref, "lpips")
                if n == 0 or ps is None or ls is None or lr is None:
                    continue
                if ls <= lr + lpips_tol and ps >= pr - psnr_tol:
                    winners += 1
                    mixed = " (modes differ)" if p["speed"] != ref["speed"] else ""
                    md.append(f"| {p['label']} | {p['run']} | {p['speed']} | {p['nfe']:.0f} | {ps:.2f} ({ps - pr:+.2f}) | "
                              f"{ls:.4f} ({ls - lr:+.4f}) | {p['seconds']:.4f} | "
                              f"{p['seconds'] / ref['seconds']:.3f}{mixed} |")
            if not winners:
                md.append(f"| none of the ≤ {max_nfe}-NFE entries | | | | | | | |")
        else:
            md.append(f"(no DPS row with {ref_nfe} NFE for this task: no reference)")
        md += ["", "<details><summary>every point</summary>", "", "| method | line | run | speed | NFE | n | PSNR | LPIPS | s/image |",
               "|---|---|---|---|---|---|---|---|---|"]
        for p in mine:
            md.append(f"| {p['label']} | {p['name']} | {p['run']} | {p['speed']} | {p['nfe']:.0f} | {p['n']} | "
                      f"{p['psnr']:.2f} | {_f(p['lpips'], 4)} | {p['seconds']:.4f} |")
        md += ["", "</details>", ""]
    return md


def _f(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def plot(pts: list[dict[str, Any]], tasks: list[str], path: Path, several_runs: bool) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_frontier: matplotlib is not installed: wrote the Markdown only (see the module docstring)",
              file=sys.stderr)
        return False
    speeds = sorted({p["speed"] for p in pts})
    lines = sorted({(p["line"], p["name"], p["run"], p["speed"]) for p in pts}, key=lambda t: (t[1], t[2]))
    colors = {line: plt.cm.tab10(i % 10) if len(lines) <= 10 else plt.cm.tab20(i % 20)
              for i, (line, *_) in enumerate(lines)}
    fig, axes = plt.subplots(len(tasks), len(PANELS), figsize=(4.2 * len(PANELS), 3.0 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):
        for col, (x, y) in enumerate(PANELS):
            ax = axes[row][col]
            for line, name, run, speed in lines:
                mine = sorted((p for p in pts if p["task"] == task and p["line"] == line and p[x] and p[y] is not None),
                              key=lambda p: p[x])
                if not mine:
                    continue
                label = name + (f" [{run}]" if several_runs else "") + (f" ({speed})" if len(speeds) > 1 else "")
                ax.plot([p[x] for p in mine], [p[y] for p in mine], marker="o", ms=3.5, lw=1.4, color=colors[line],
                        ls="--" if "fast" in speed else "-", label=label)
            ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlabel(AXIS[x], fontsize=8)
            ax.set_ylabel(AXIS[y], fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_title(task, fontsize=10, loc="left", fontweight="bold")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    note = ("mixed speed modes: solid = fp32 eager, dashed = fast (bf16 + torch.compile); compare seconds only within "
            "one mode" if len(speeds) > 1 else f"speed mode: {speeds[0] if speeds else '?'}")
    fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=min(6, len(handles)), fontsize=8,
               frameon=False)
    fig.suptitle(note, y=0.0, fontsize=9, va="bottom")
    height = 3.0 * len(tasks)  # inches; the legend takes about 0.2 in per row of 6 entries
    fig.tight_layout(rect=(0, 0.25 / height, 1, 1 - (0.1 + 0.2 * math.ceil(len(handles) / 6)) / height))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="bench folders (meta.json + results.jsonl[.gz])")
    ap.add_argument("--out", type=Path, default=None, help="where frontier.png and frontier.md go (default: first run)")
    ap.add_argument("--tasks", default=None, help="comma-separated task labels (default: the first run's)")
    ap.add_argument("--reference-nfe", type=int, default=1000, help="the DPS entry compared with (default 1000)")
    ap.add_argument("--reference-run", default=None, help="the suite name of the run holding the reference "
                                                         "(default: the first run on the command line that has one)")
    ap.add_argument("--lpips-tol", type=float, default=0.001)
    ap.add_argument("--psnr-tol", type=float, default=0.05)
    args = ap.parse_args(argv)
    pts, tags = points(args.runs)
    if args.tasks:
        tasks = args.tasks.split(",")
    else:
        first = json.loads((args.runs[0] / "meta.json").read_text())
        tasks = [t["label"] for t in first["suite"]["tasks"]]
    out = args.out or args.runs[0]
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.md").write_text("\n".join(summary(pts, tasks, args.reference_nfe, args.lpips_tol,
                                                         args.psnr_tol, ref_run=args.reference_run)) + "\n")
    drew = plot(pts, tasks, out / "frontier.png", len(set(tags)) > 1)
    print(f"wrote {out / 'frontier.md'}" + (f" and {out / 'frontier.png'}" if drew else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
