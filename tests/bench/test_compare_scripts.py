"""The scripts that compare benchmark folders (grid run vs table, fast vs fp32, one GPU vs two), on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from invdiff.bench import parse_suite, run_suite
from invdiff.bench.store import RESULTS, read_rows

from .conftest import SMOKE

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def two_runs(smoke_env, tmp_path_factory):
    """A 2-image run and a 1-image rerun of the same suite (the grid run's situation): equal shared rows."""
    raw = {**yaml.safe_load(SMOKE.read_text()), "images": 2, "lpips": False, "baselines": ["measurement"],
           "tasks": {"inpaint_box": {"task": "inpaint", "sigma_y": 0.05, "mask_kind": "box"}},
           "methods": {"ddrm": {"steps": 2}}}
    root = tmp_path_factory.mktemp("compare")
    dirs = []
    for name, limit in (("full", None), ("first", 1)):
        dirs.append(run_suite(parse_suite(raw), root / name, data=smoke_env["data"], prior=str(smoke_env["prior"]),
                              progress=False, device="cpu", limit=limit))
    return dirs


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], check=False, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_compare_rows_pairs_the_shared_images(two_runs, tmp_path):
    full, first = two_runs
    r = script(str(SCRIPTS / "compare_rows.py"), str(full), str(first), "--md", str(tmp_path / "c.md"))
    assert r.returncode == 0, r.stderr
    table = {e["method"]: e for e in json.loads(r.stdout)}
    assert set(table) == {"ddrm", "measurement"} and {e["images"] for e in table.values()} == {1}
    assert table["ddrm"]["psnr"]["max_abs_diff"] < 1e-4  # batch of 2 vs 1: float rounding only
    assert table["measurement"]["psnr"]["max_abs_diff"] == 0
    one_row = next(x for x in read_rows(full / RESULTS) if x["index"] == 0 and x["method"] == "ddrm")
    assert table["ddrm"]["psnr"]["a"] == pytest.approx(one_row["psnr"])
    md = (tmp_path / "c.md").read_text()
    assert "| inpaint_box | ddrm | 1 |" in md and "± nan" in md  # one image: no interval


def test_compare_rows_refuses_folders_without_shared_rows(two_runs, tmp_path):
    (tmp_path / RESULTS).write_text("")
    r = script(str(SCRIPTS / "compare_rows.py"), str(two_runs[0]), str(tmp_path))
    assert r.returncode != 0 and "share no (task, method, image) row" in r.stderr


def test_compare_scaling_reports_rows_and_speed_up(two_runs):
    full, first = two_runs
    r = script(str(SCRIPTS / "compare_scaling.py"), str(full), str(first), "0", "30", "40")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["rows_one_gpu"] == 4 and report["rows_two_gpus"] == 2 and report["same_keys"] is False
    assert report["speed_up_wall"] == 3.0 and report["max_abs_metric_difference"]["psnr"] < 1e-4
