"""Write the natural suite's methods with the per-task settings chosen on the natural validation sweep.

    python3 benchmarks/natural/tuned_suite.py CHOSEN_JSON [--suite configs/bench/natural.yaml] [--out PATH]

``CHOSEN_JSON`` is ``chosen.json`` of ``benchmarks/tuning/choose_settings.py --val configs/bench/natural-tune.yaml``
(6 BSD100 images outside CBSD68, never a test image). Only the suite's ``methods:`` block is rewritten — the
images, tasks, seeds, baselines and every comment above stay byte for byte, so the protocol fingerprint and the
rows already in the results (baselines, DDRM) stay valid:

* DiffPIR, DDNM⁺ and ΠGDM at 100 steps with their chosen kwargs per task (``per_task``);
* DPS-100 *and* DPS-1000 with DPS-100's chosen ζ per task (on the faces the best ζ did not depend on the
  step count: ``faces64-issue14/dps-tuned-zeta``; 1000-step DPS is too slow to tune on the GPU we have);
* DDRM, RePaint and DAPS as they were (no setting of theirs was swept).

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

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "configs" / "bench" / "natural.yaml"
#: (label, entry without settings, the swept solver whose per-task choice it takes)
ENTRIES: list[tuple[str, dict[str, Any], str | None]] = [
    ("ddrm", {}, None),
    ("dps", {"images": "gpu8"}, "dps"),
    ("repaint", {"images": "gpu8"}, None),
    ("diffpir", {"images": "gpu8"}, "diffpir"),
    ("ddnm", {"images": "gpu8"}, "ddnm"),
    ("pigdm", {"images": "gpu8"}, "pigdm"),
    ("daps", {"images": "gpu8"}, None),
    ("dps-100", {"method": "dps", "steps": 100, "images": "gpu8"}, "dps"),
]


def methods_block(chosen: dict[str, Any]) -> str:
    """The ``methods:`` block (YAML text with its comment lines) from ``chosen.json``'s content."""
    about = chosen.get("_about", {})
    runs = ", ".join(about.get("runs", [])) or "?"
    fallback = about.get("fallback", {})
    methods: dict[str, Any] = {}
    for label, entry, solver in ENTRIES:
        entry = dict(entry)
        per_task = {t: dict(kw) for t, kw in (chosen.get(solver) or {}).items() if kw} if solver else {}
        if per_task:
            entry["per_task"] = per_task
        methods[label] = entry
    kept = [f"{s} on {', '.join(ts)}" for s, ts in fallback.items()]
    head = [
        "# Settings per task chosen on configs/bench/natural-tune.yaml (6 BSD100 images outside CBSD68) by",
        f"# benchmarks/tuning/choose_settings.py (lowest mean LPIPS; runs: {runs}) and written here by",
        "# benchmarks/natural/tuned_suite.py — rerun it rather than editing. DPS-1000 takes DPS-100's ζ; DDRM (20 steps,",
        "# η = 0.85, η_b = 1), RePaint 250/10/10 and DAPS (20 × 5 ODE steps = 96 calls) keep their defaults. Every",
        "# method but DDRM runs on the subset gpu8. Defaults kept where the sweep had no rows: "
        + ("; ".join(kept) or "none") + ".",
    ]
    body = yaml.safe_dump({"methods": methods}, sort_keys=False, allow_unicode=True, width=120,
                          default_flow_style=None)
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
    chosen = json.loads(args.chosen.read_text())
    text = rewrite(args.suite.read_text(), methods_block(chosen))
    yaml.safe_load(text)  # the result must parse
    out = args.out or args.suite
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
