"""Choose each solver's settings per task on a validation run, and write the test suite that uses them.

    python3 benchmarks/tuning/choose_settings.py RUN_DIR [RUN_DIR …] [--val configs/bench/faces64-val16.yaml]
        [--out DIR] [--test-suite configs/bench/faces64-issue16.yaml]

RUN_DIRs are ``invdiff bench`` folders of the validation suite ``--val`` (the parts of one sweep, e.g. one per
GPU run with ``--only``; a cut run's rows count, shards included). Every method entry of the validation suite
is one setting of one solver (its ``method:``); the settings are read from the suite (the entries' kwargs), not
parsed from the labels.

**The rule**, per (solver, task): among the solver's settings that have rows for the task, compared on the
images that all of them have rows for, the lowest mean LPIPS wins; settings within 1e-4 of that lowest mean
LPIPS tie, and the tie goes to the highest mean PSNR (then the first in suite order). Without LPIPS (rows with
``lpips`` null) the highest mean PSNR wins. A (solver, task) pair without any rows — the solver does not
support the task, or the sweep was cut before it — falls back to the solver's defaults ({}), and
``chosen.json`` says so (``_about.fallback``).

Writes into ``--out`` (default: the first RUN_DIR):

* ``chosen.json``: ``{solver: {task: kwargs}}`` — the chosen kwargs less the schedule (``steps``,
  ``ode_steps``); ``{}`` for a fallback — and ``_about``: the rule, the runs read, and per (solver, task) the chosen label with its
  n / mean PSNR / mean LPIPS, or why it fell back;
* ``choices.md``: every setting's n, mean PSNR, SSIM and LPIPS and seconds per image, per task, the chosen
  one in bold;

and the test suite ``--test-suite`` (default ``OUT/faces64-issue16.yaml``): the validation suite's tasks,
prior and seed on the table's images (the first 100 in sorted order), baseline ``measurement``, and each solver
with its chosen per-task kwargs (``per_task:``) at the schedules of :data:`SCHEDULES` — about the same NFE for
every solver: 10, 20, 50 and 100 network calls per image (DAPS: 2, 4, 10, 20 steps × 5 ODE steps, which it counts
as (steps − 1) × 5 + 1 = 6, 16, 46, 96 calls; DPS: 20, 50, 100).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench.store import all_rows

#: kwargs that set the schedule (the NFE), not the solver's behaviour: the test suite sets them itself
SCHEDULE_KEYS = ("steps", "ode_steps")
#: per solver: the schedules of the test suite (label suffix, schedule kwargs); others: DEFAULT_SCHEDULE
SCHEDULES: dict[str, list[tuple[str, dict[str, int]]]] = {
    "daps": [(f"{s}x5", {"steps": s, "ode_steps": 5}) for s in (2, 4, 10, 20)],
    "dps": [(str(s), {"steps": s}) for s in (20, 50, 100)],
}
DEFAULT_SCHEDULE = [(str(s), {"steps": s}) for s in (10, 20, 50, 100)]
#: ``--long``: the frontier's far end, 250 and 1000 calls (DPS: 250, its 1000 being faces64-issue14's DPS-1000;
#: DAPS: 50 × 5 ODE steps = 246 calls)
LONG_SCHEDULES: dict[str, list[tuple[str, dict[str, int]]]] = {
    "daps": [("50x5", {"steps": 50, "ode_steps": 5})], "dps": [("250", {"steps": 250})],
    "*": [(str(s), {"steps": s}) for s in (250, 1000)]}
#: the test suite's label of each solver's entries (``<prefix>-<suffix>``): DPS with tuned ζ is not the default DPS
LABEL_PREFIX = {"dps": "dps-tuned"}
LPIPS_TIE = 1e-4
RULE = ("per (solver, task): lowest mean LPIPS over the images every setting of the solver has rows for; settings "
        f"within {LPIPS_TIE:g} of it tie and the highest mean PSNR wins (then suite order); without LPIPS the highest "
        "mean PSNR; no rows at all: the solver's defaults")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def grid(val: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation suite's method entries: label, solver, its kwargs (settings + per_task) per task."""
    out = []
    for label, entry in (val.get("methods") or {}).items():
        entry = dict(entry or {})
        method = entry.pop("method", label)
        per_task = entry.pop("per_task", {}) or {}
        for key in ("prior", "images"):
            entry.pop(key, None)
        out.append({"label": str(label), "method": str(method), "settings": entry, "per_task": per_task})
    return out


def kwargs_for(entry: dict[str, Any], task: str) -> dict[str, Any]:
    """The entry's kwargs on ``task`` without the schedule keys."""
    merged = {**entry["settings"], **entry["per_task"].get(task, {})}
    return {k: v for k, v in merged.items() if k not in SCHEDULE_KEYS}


def read_runs(runs: list[Path]) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    """Every diffusion/baseline row of the runs (first per key), and the reasons a (task, label) was not run."""
    rows, seen, not_run = [], set(), {}
    for run in runs:
        meta_path = run / "meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            for task, entries in meta.get("methods", {}).items():
                for e in entries:
                    if e.get("not_run"):
                        not_run[(task, e["label"])] = e["not_run"]
        found = all_rows(run) if run.is_dir() else []
        if not found:  # a part that stayed home or never ran would silently shrink the grid
            raise SystemExit(f"validation run {run} has no rows: give only the sweep's parts that ran.")
        for r in found:
            key = (r["task"], r["method"], r["image"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return rows, not_run


def summarise(rows: list[dict[str, Any]], images: set[str] | None = None) -> dict[str, Any]:
    """n and the means of one (task, label)'s rows, on ``images`` only if given."""
    rows = [r for r in rows if images is None or r["image"] in images]
    means = {m: _mean([r[m] for r in rows if r.get(m) is not None]) for m in ("psnr", "ssim", "lpips", "seconds")}
    return {"n": len(rows), **means, "nfe": rows[0].get("nfe") if rows else None}


def pick(stats: dict[str, dict[str, Any]]) -> str:
    """The winning label among ``stats`` (label → summary, in suite order) by :data:`RULE`."""
    labels = list(stats)
    if all(stats[k]["lpips"] is not None for k in labels):
        best = min(stats[k]["lpips"] for k in labels)
        tied = [k for k in labels if stats[k]["lpips"] <= best + LPIPS_TIE]
    else:
        tied = labels
    return max(tied, key=lambda k: (stats[k]["psnr"] if stats[k]["psnr"] is not None else -math.inf,
                                    -labels.index(k)))


def choose(val: dict[str, Any], runs: list[Path]) -> tuple[dict[str, Any], list[str]]:
    """``chosen.json``'s content and the Markdown lines of ``choices.md``."""
    entries = grid(val)
    tasks = list(val["tasks"])
    solvers = list(dict.fromkeys(e["method"] for e in entries))
    rows, not_run = read_runs(runs)
    by = defaultdict(list)
    for r in rows:
        by[(r["task"], r["method"])].append(r)
    chosen: dict[str, Any] = {s: {} for s in solvers}
    basis: dict[str, dict[str, Any]] = {s: {} for s in solvers}
    fallback: dict[str, list[str]] = {}
    md = [f"# Settings chosen on `{val['name']}`", "",
          f"Rule: {RULE}.", "", f"Runs: {', '.join(f'`{r}`' for r in runs)}; {len(rows)} rows.", ""]
    for task in tasks:
        md += [f"## {task}", "", "| setting | solver | kwargs | n | PSNR | SSIM | LPIPS | s/image | NFE |",
               "|---|---|---|---|---|---|---|---|---|"]
        base = sorted({r["method"] for r in rows if r["task"] == task and r.get("kind") == "baseline"})
        for b in base:
            s = summarise(by[(task, b)])
            md.append(f"| {b} | (baseline) | | {s['n']} | {_fmt(s['psnr'], 2)} | {_fmt(s['ssim'], 3)} | "
                      f"{_fmt(s['lpips'], 4)} | | 0 |")
        for solver in solvers:
            mine = [e for e in entries if e["method"] == solver]
            have = [e for e in mine if by[(task, e["label"])]]
            if not have:
                reasons = {not_run[(task, e["label"])] for e in mine if (task, e["label"]) in not_run}
                why = (f"not run: {min(reasons)}" if reasons else "no validation rows (the sweep did not reach it)")
                basis[solver][task] = {"fallback": f"solver defaults; {why}"}
                fallback.setdefault(solver, []).append(task)
                chosen[solver][task] = {}
                md.append(f"| {solver}: — | {solver} | defaults | 0 | | | | | ({why}) |")
                continue
            common = set.intersection(*({r["image"] for r in by[(task, e["label"])]} for e in have))
            stats = {e["label"]: summarise(by[(task, e["label"])], common) for e in have}
            win = pick(stats)
            kwargs = kwargs_for(next(e for e in have if e["label"] == win), task)
            chosen[solver][task] = kwargs
            basis[solver][task] = {"label": win, **{k: stats[win][k] for k in ("n", "psnr", "lpips")},
                                   "settings_compared": len(have), "settings_without_rows": len(mine) - len(have)}
            for e in mine:
                s = stats.get(e["label"])
                kw = ", ".join(f"{k}={v}" for k, v in kwargs_for(e, task).items())
                if s is None:
                    md.append(f"| {e['label']} | {solver} | {kw} | 0 | | | | | |")
                    continue
                bold = "**" if e["label"] == win else ""
                md.append(f"| {bold}{e['label']}{bold} | {solver} | {kw} | {s['n']} | {bold}{_fmt(s['psnr'], 2)}{bold} | "
                          f"{_fmt(s['ssim'], 3)} | {bold}{_fmt(s['lpips'], 4)}{bold} | {_fmt(s['seconds'], 4)} | "
                          f"{s['nfe']} |")
        md.append("")
    md += ["## Chosen", "", "| solver | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for solver in solvers:
        cells = []
        for task in tasks:
            if task not in fallback.get(solver, []):
                cells.append(", ".join(f"{k}={v}" for k, v in chosen[solver][task].items()) or "defaults")
            else:
                cells.append("defaults (fallback)")
        md.append(f"| {solver} | " + " | ".join(cells) + " |")
    chosen["_about"] = {"rule": RULE, "validation_suite": val["name"], "runs": [str(r) for r in runs],
                        "basis": basis, "fallback": fallback}
    return chosen, md


def _fmt(x: float | None, digits: int) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def smoke_schedules(steps: list[int]) -> dict[str, list[tuple[str, dict[str, int]]]]:
    """``--steps``: the same short step counts for every solver (DAPS: × 5 ODE steps), for a quick CPU check."""
    plain = [(str(s), {"steps": s}) for s in steps]
    return {"daps": [(f"{s}x5", {"steps": s, "ode_steps": 5}) for s in steps], "dps": plain, "*": plain}


#: the generated suite's header lines about its schedules (default and ``--long``)
SCHEDULE_NOTE = ["# Every solver runs at 10, 20, 50, 100 network calls per image (DAPS: 2, 4, 10, 20 steps × 5 ODE steps =",
                 "# 6, 16, 46, 96 calls, its last level being one call;",
                 "# DPS with its tuned ζ: 20, 50, 100; its default-ζ DPS-100 and DPS-1000 are in faces64-issue14)."]
LONG_NOTE = ["# Every solver runs at 250 and 1000 network calls per image (DAPS: 50 steps × 5 ODE steps = 246 calls;",
             "# DPS with its tuned ζ: 250; DPS-1000 is in faces64-issue14)."]


def make_test_suite(val: dict[str, Any], chosen: dict[str, Any], name: str = "faces64-issue16",
                    images: int = 100, schedules: dict[str, list] | None = None,
                    calls: str = "10–100") -> dict[str, Any]:
    """The test suite: the validation suite on the table's images with each solver's chosen per-task kwargs."""
    solvers = [s for s in chosen if not s.startswith("_")]
    methods: dict[str, Any] = {}
    for solver in solvers:
        per_task = {t: kw for t, kw in chosen[solver].items() if kw}
        plan = (schedules.get(solver, schedules["*"]) if schedules is not None
                else SCHEDULES.get(solver, DEFAULT_SCHEDULE))
        for suffix, schedule in plan:
            entry = {"method": solver, **schedule}
            if per_task:
                entry["per_task"] = per_task
            methods[f"{LABEL_PREFIX.get(solver, solver)}-{suffix}"] = entry
    suite = {"name": name,
             "description": (f"Issue 16: DiffPIR, DDNM, ΠGDM, DAPS and DPS at {calls} network calls per image, each "
                             f"with the per-task settings chosen on {val['name']} (held-out faces outside the table's "
                             f"images), on the faces64 table's {images} images."),
             **{k: val[k] for k in ("dataset", "resolution") if k in val}, "images": images,
             **{k: val[k] for k in ("seed", "prior") if k in val},
             "batch_size": 100, "grid_images": 6, "tasks": val["tasks"], "methods": methods,
             "baselines": ["measurement"]}
    return suite


def write_test_suite(path: Path, suite: dict[str, Any], chosen: dict[str, Any], val_path: Path,
                     note: list[str] = SCHEDULE_NOTE) -> None:
    about = chosen["_about"]
    fallback = "; ".join(f"{s}: {', '.join(ts)}" for s, ts in about["fallback"].items()) or "none"
    head = [f"# Generated by benchmarks/tuning/choose_settings.py from the validation runs {', '.join(about['runs'])}",
            f"# of {val_path} — do not edit by hand, rerun the script. Settings: {about['rule']}.",
            f"# Fell back to the solver's defaults (no validation rows): {fallback}.", *note]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(head) + "\n" + yaml.safe_dump(suite, sort_keys=False, allow_unicode=True, width=120))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="validation run folders (the parts of one sweep)")
    ap.add_argument("--val", type=Path, default=Path("configs/bench/faces64-val16.yaml"), help="the validation suite")
    ap.add_argument("--out", type=Path, default=None, help="where chosen.json and choices.md go (default: first run)")
    ap.add_argument("--test-suite", type=Path, default=None, help="the generated suite (default: OUT/faces64-issue16.yaml)")
    ap.add_argument("--name", default="faces64-issue16", help="the generated suite's name")
    ap.add_argument("--images", type=int, default=100, help="the test suite's images: the first N in sorted order")
    ap.add_argument("--long", action="store_true", help="the frontier's far end: 250 and 1000 calls (LONG_SCHEDULES)")
    ap.add_argument("--steps", default=None, help="smoke tests only: these step counts (e.g. 1,2) for every solver "
                                                  "instead of the NFE-matched schedules")
    args = ap.parse_args(argv)
    val = yaml.safe_load(args.val.read_text())
    out = args.out or args.runs[0]
    out.mkdir(parents=True, exist_ok=True)
    chosen, md = choose(val, args.runs)
    (out / "chosen.json").write_text(json.dumps(chosen, indent=2) + "\n")
    (out / "choices.md").write_text("\n".join(md) + "\n")
    target = args.test_suite or out / f"{args.name}.yaml"
    if args.steps is not None:
        schedules, calls = smoke_schedules([int(s) for s in args.steps.split(",")]), f"{args.steps} steps of"
        note = [f"# Smoke schedules: every solver at {args.steps} steps (DAPS: × 5 ODE steps)."]
    else:
        schedules, calls, note = (LONG_SCHEDULES, "250 and 1000", LONG_NOTE) if args.long else \
            (None, "10–100", SCHEDULE_NOTE)
    write_test_suite(target, make_test_suite(val, chosen, args.name, args.images, schedules, calls), chosen, args.val,
                     note)
    fell = chosen["_about"]["fallback"]
    print(f"chose settings for {sum(len(v) for k, v in chosen.items() if not k.startswith('_'))} (solver, task) pairs; "
          f"fallback to defaults: {fell or 'none'}; wrote {out / 'chosen.json'}, {out / 'choices.md'}, {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
