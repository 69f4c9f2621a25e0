"""Compare two priors on the natural validation split, each solver at the setting chosen *for that prior*.

    python3 benchmarks/natural/compare_priors_val.py --a RUN_DIR… --a-chosen A.json --b RUN_DIR… --b-chosen B.json
        [--val configs/bench/natural-tune.yaml] [--md FILE]

Why: a new prior changes which setting of a solver is best (DDNM⁺'s η, ΠGDM's weight, DPS's ζ), so comparing two
priors at one prior's settings favours that prior. This pairs, per (solver, task), prior A's rows at A's chosen
setting with prior B's rows at B's chosen setting, on the validation images both have (6 BSD100 images outside
CBSD68, never a test image), and reports B − A: mean ± 95 % t-interval of PSNR and LPIPS, and on how many images
B is better. The chosen settings are ``chosen.json`` of ``benchmarks/tuning/choose_settings.py`` (kwargs per
solver and task) or a suite whose ``per_task`` blocks hold them (``configs/bench/natural.yaml``); a setting is found in the validation suite by its solver and kwargs (less the schedule).
RUN_DIRs are ``invdiff bench`` folders of that suite (``results.jsonl``, shards, or a gzipped
``results.jsonl.gz``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.results.plot_frontier import run_rows
from invdiff.bench.report import mean_ci

SCHEDULE = ("steps", "ode_steps")


def load_rows(dirs: list[Path]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Rows of every folder by (task, label, image); the first folder that has a key wins."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in dirs:
        found = run_rows(d)
        if not found:
            raise SystemExit(f"{d} has no result rows.")
        for r in found:
            rows.setdefault((r["task"], r["method"], r["image"]), r)
    return rows


def label_of(methods: dict[str, Any], solver: str, kwargs: dict[str, Any]) -> str | None:
    """The validation suite's label of ``solver`` at ``kwargs`` (schedule keys ignored), or None."""
    for label, entry in methods.items():
        entry = entry or {}
        if entry.get("method", label) == solver and {k: v for k, v in entry.items()
                                                     if k not in (*SCHEDULE, "method")} == kwargs:
            return label
    return None


def load_chosen(path: Path) -> dict[str, Any]:
    """``{solver: {task: kwargs}}`` from a ``chosen.json``, or from a suite's ``per_task`` blocks (a ``.yaml``: the
    settings a table ran with; the first entry of a solver wins, so DPS-1000's and DPS-100's agree by construction)."""
    if path.suffix != ".yaml":
        return json.loads(path.read_text())
    chosen: dict[str, Any] = {}
    for label, entry in (yaml.safe_load(path.read_text())["methods"] or {}).items():
        if (entry or {}).get("per_task"):
            chosen.setdefault(entry.get("method", label), entry["per_task"])
    return chosen


def compare(val: dict[str, Any], rows_a: dict, chosen_a: dict, rows_b: dict, chosen_b: dict) -> list[dict[str, Any]]:
    """Per (solver, task) of both choices: B − A at each prior's own chosen setting, paired on shared images."""
    out = []
    for solver in [s for s in chosen_b if not s.startswith("_") and s in chosen_a]:
        for task in val["tasks"]:
            kw_a, kw_b = chosen_a[solver].get(task), chosen_b[solver].get(task)
            if not kw_a or not kw_b:  # a solver's defaults (no rows chosen from) on either side: nothing to pair
                continue
            la, lb = label_of(val["methods"], solver, kw_a), label_of(val["methods"], solver, kw_b)
            if la is None or lb is None:
                raise SystemExit(f"{solver} on {task}: the chosen setting {kw_a if la is None else kw_b} is not an "
                                 f"entry of the validation suite; compare choices made on that suite.")
            images = sorted({i for (t, m, i) in rows_a if (t, m) == (task, la)}
                            & {i for (t, m, i) in rows_b if (t, m) == (task, lb)})
            if not images:
                continue
            entry: dict[str, Any] = {"solver": solver, "task": task, "a": la, "b": lb, "images": len(images)}
            for metric, better in (("psnr", 1), ("lpips", -1)):
                d = [rows_b[(task, lb, i)][metric] - rows_a[(task, la, i)][metric] for i in images]
                mean, half = mean_ci(d)
                entry[metric] = {"a": sum(rows_a[(task, la, i)][metric] for i in images) / len(images),
                                 "b": sum(rows_b[(task, lb, i)][metric] for i in images) / len(images),
                                 "diff": mean, "ci95": half, "b_better": sum(better * x > 0 for x in d)}
            out.append(entry)
    return out


def markdown(table: list[dict[str, Any]], name_a: str, name_b: str) -> str:
    head = (f"| solver | task | setting {name_a} → {name_b} | n | PSNR {name_a} | PSNR {name_b} | ΔPSNR (dB) | "
            f"better | LPIPS {name_a} | LPIPS {name_b} | ΔLPIPS | better |")
    lines = [head, "|" + "---|" * 12]
    for e in table:
        p, q = e["psnr"], e["lpips"]
        lines.append(f"| {e['solver']} | {e['task']} | {e['a']} → {e['b']} | {e['images']} | {p['a']:.2f} | "
                     f"{p['b']:.2f} | {p['diff']:+.2f} ± {p['ci95']:.2f} | {p['b_better']} | {q['a']:.3f} | "
                     f"{q['b']:.3f} | {q['diff']:+.3f} ± {q['ci95']:.3f} | {q['b_better']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, nargs="+", required=True, help="prior A's validation run folders")
    ap.add_argument("--a-chosen", type=Path, required=True)
    ap.add_argument("--b", type=Path, nargs="+", required=True, help="prior B's validation run folders")
    ap.add_argument("--b-chosen", type=Path, required=True)
    ap.add_argument("--names", nargs=2, default=["A", "B"], help="the priors' names in the table")
    ap.add_argument("--val", type=Path, default=Path("configs/bench/natural-tune.yaml"))
    ap.add_argument("--md", type=Path)
    args = ap.parse_args(argv)
    val = yaml.safe_load(args.val.read_text())
    table = compare(val, load_rows(args.a), load_chosen(args.a_chosen), load_rows(args.b), load_chosen(args.b_chosen))
    print(json.dumps(table, indent=1))
    if args.md:
        args.md.write_text(markdown(table, *args.names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
