"""Issue 16's tooling: part of a suite per run (``--only``), joined; choosing settings on validation rows; the
generated test suite; the NFE/time frontier."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from invdiff.bench import parse_suite, run_suite
from invdiff.bench.runner import restrict
from invdiff.bench.store import RESULTS, read_rows, row_key

from .conftest import REPO

TINY = {"name": "tiny16", "dataset": "smoke", "resolution": 32, "images": 2, "seed": 0, "batch_size": 2,
        "grid_images": 1,
        "tasks": {"inpaint_box": {"task": "inpaint", "sigma_y": 0.05, "mask_kind": "box"},
                  "sr4": {"task": "sr4", "sigma_y": 0.05}},
        "methods": {"ddrm@eta=0.5": {"method": "ddrm", "steps": 2, "eta": 0.5},
                    "ddrm@eta=1.0": {"method": "ddrm", "steps": 2, "eta": 1.0},
                    "dps@zeta=0.3": {"method": "dps", "steps": 2, "zeta": 0.3}},
        "baselines": ["measurement"]}


def test_restrict_keeps_matching_labels_and_refuses_a_pattern_that_matches_nothing():
    suite = parse_suite(TINY)
    part = restrict(suite, ["ddrm*", "measurement"])
    assert [m.label for m in part.methods] == ["ddrm@eta=0.5", "ddrm@eta=1.0"] and part.baselines == ["measurement"]
    assert [m.label for m in suite.methods] == [*TINY["methods"]]  # the suite itself is untouched
    assert part.fingerprint() == suite.fingerprint()
    assert restrict(suite, None) is suite
    with pytest.raises(ValueError, match="matches no method"):
        restrict(suite, ["ddnm*"])


def test_two_parts_into_two_folders_join_into_the_whole_table(smoke_env, tmp_path):
    suite = parse_suite(TINY)
    kw = {"data": smoke_env["data"], "prior": str(smoke_env["prior"]), "progress": False, "device": "cpu"}
    a = run_suite(suite, tmp_path / "a", only=["ddrm*", "measurement"], **kw)
    b = run_suite(suite, tmp_path / "b", only=["dps*"], **kw)
    assert {r["method"] for r in read_rows(b / RESULTS)} == {"dps@zeta=0.3"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "results" / "join_runs.py"), str(a),
                           str(b / RESULTS), str(b / "meta.json")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rows = read_rows(a / RESULTS)
    keys = {row_key(r) for r in rows}
    assert len(keys) == len(rows) == 2 * 2 * 4 - 2  # 2 tasks × 2 images × 4 columns, no measurement column for sr4
    meta = json.loads((a / "meta.json").read_text())
    assert [m["label"] for m in meta["suite"]["methods"]] == [*TINY["methods"]]
    assert "dps@zeta=0.3" in (a / "results.md").read_text()
