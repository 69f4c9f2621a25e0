"""The smallest shipped suite runs for a newcomer with what ships: no data root, no ../shared (issue 17, bug 3).

``configs/bench/samples.yaml`` reads ``data/samples`` relative to itself and uses the shipped prior
``faces64`` at its own 64×64. The full suite (DDRM-20 on six tasks) is too slow for the CPU test run
here, so the command line runs a copy of it cut to two tasks and 2 steps, laid out like the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml

from invdiff.bench import load_suite
from invdiff.bench.protocol import needs_data_root, suite_images
from invdiff.bench.store import RESULTS, read_rows

from .conftest import REPO

SAMPLES = REPO / "configs" / "bench" / "samples.yaml"


def test_the_shipped_samples_suite_needs_no_data_root():
    suite = load_suite(SAMPLES)
    assert not needs_data_root(suite) and suite.prior == "faces64" and suite.resolution == 64
    images = suite_images(suite, None)
    assert [im.path for im in images] == [REPO / "data" / "samples" / "face.png"]


def test_the_command_line_runs_it_offline_without_data(tmp_path):
    (tmp_path / "configs" / "bench").mkdir(parents=True)
    shutil.copytree(REPO / "data" / "samples", tmp_path / "data" / "samples")
    raw = yaml.safe_load(SAMPLES.read_text())
    raw["tasks"] = {k: raw["tasks"][k] for k in ("inpaint_box", "jpeg10")}
    raw["methods"] = {"ddrm": {"steps": 2}}
    suite = tmp_path / "configs" / "bench" / "samples.yaml"
    suite.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("INVDIFF_DATA", "INVDIFF_SHARED")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "invdiff", "bench", str(suite), "--out", str(tmp_path / "out"),
                           "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rows(tmp_path / "out" / RESULTS)
    assert {(r["task"], r["method"]) for r in rows} == {("inpaint_box", "measurement"), ("inpaint_box", "biharmonic"),
                                                        ("inpaint_box", "ddrm"), ("jpeg10", "measurement")}
    assert "faces64" in (tmp_path / "out" / "results.md").read_text()
