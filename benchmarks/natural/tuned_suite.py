"""Write the natural suite's methods with the per-task settings chosen on the natural validation sweep.

    python3 benchmarks/natural/tuned_suite.py CHOSEN_JSON [--suite configs/bench/natural.yaml] [--out PATH]

``CHOSEN_JSON`` is ``chosen.json`` of ``benchmarks/tuning/choose_settings.py --val configs/bench/natural-tune.yaml``
(6 BSD100 images outside CBSD68, never a test image). Only the suite's ``methods:`` block is rewritten — the
images, tasks, seeds, baselines and every comment above stay byte for byte, so the protocol fingerprint and the
rows already in the results (baselines, DDRM) stay valid:

* every entry of a swept solver (DiffPIR, DDNM⁺, ΠGDM, DPS) gets its chosen kwargs per task (``per_task``) — DPS-100
  *and* DPS-1000 take the ζ chosen at 100 steps (on the faces the best ζ did not depend on the step count:
  ``faces64-issue14/dps-tuned-zeta``; 1000-step DPS is too slow to tune on the GPU we have);
* the other entries (DDRM, RePaint, DAPS: no setting of theirs was swept) stay as they are.

A solver the sweep has no rows for keeps its defaults, and the block says so. Writes ``--out`` (default: the
suite itself).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.bench import parse_suite

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "configs" / "bench" / "natural.yaml"


def methods_block(methods: dict[str, Any], chosen: dict[str, Any]) -> str:
    """The suite's ``methods:`` block (YAML text with its comment lines), each entry of a swept solver with its choice.

    ``methods`` is the suite's own ``methods:`` mapping: every entry keeps its label, schedule and images; an entry
    whose solver (``method:``, else its label) has choices in ``chosen`` gets them as ``per_task`` — so DPS-1000
    and DPS-100 both take the ζ chosen for DPS at 100 steps. Entries of solvers that were not swept stay as they are.
    """
    about = chosen.get("_about", {})
    out: dict[str, Any] = {}
    tuned = []
    for label, entry in methods.items():
        entry = {k: v for k, v in (entry or {}).items() if k != "per_task"}
        solver = entry.get("method", label)
        per_task = {t: dict(kw) for t, kw in (chosen.get(solver) or {}).items() if kw} if not solver.startswith("_") else {}
        if per_task:
            entry["per_task"] = per_task
            tuned.append(label)
        out[label] = entry
    kept = [f"{s} on {', '.join(ts)}" for s, ts in about.get("fallback", {}).items()]
    head = [
        "# Per-task settings chosen on configs/bench/natural-tune.yaml (6 BSD100 images outside CBSD68) by",
        f"# benchmarks/tuning/choose_settings.py (lowest mean LPIPS; runs: {', '.join(about.get('runs', [])) or '?'}),",
        f"# written by benchmarks/natural/tuned_suite.py — rerun it rather than editing. Tuned: {', '.join(tuned) or 'none'};",
        "# the others keep their defaults. Defaults kept where the sweep had no rows: " + ("; ".join(kept) or "none") + ".",
    ]
    body = yaml.safe_dump({"methods": out}, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
    return "\n".join(head) + "\n" + body


def rewrite(suite_text: str, block: str) -> str:
    """``suite_text`` with its ``methods:`` block (and the comment lines right above it) replaced by ``block``."""
    lines = suite_text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("methods:"))
    except StopIteration:
        raise ValueError("the suite has no top-level 'methods:' block to rewrite.") from None
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "#", "\n", "")), len(lines))
    while end > start + 1 and lines[end - 1].startswith("#"):  # comments above the next key belong to it
        end -= 1
    while start > 0 and lines[start - 1].startswith("#"):  # the old block's own comment lines go with it
        start -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chosen", type=Path, help="chosen.json of the natural-tune sweep")
    ap.add_argument("--suite", type=Path, default=SUITE)
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: the suite itself)")
    args = ap.parse_args(argv)
    try:
        chosen = json.loads(args.chosen.read_text())
        suite_text = args.suite.read_text()
        text = rewrite(suite_text, methods_block(yaml.safe_load(suite_text).get("methods") or {}, chosen))
        parse_suite(yaml.safe_load(text))  # the result must be a valid suite
    except (OSError, ValueError, yaml.YAMLError) as e:  # JSON errors are ValueErrors; nothing has been written
        print(f"tuned_suite: error: {e}", file=sys.stderr)
        return 2
    out = args.out or args.suite
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
