"""The harness end to end on the smoke suite: rows, report, resuming after SIGKILL, and torchrun sharding."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from invdiff.bench import load_suite, parse_suite, run_suite
from invdiff.bench.report import mean_ci
from invdiff.bench.store import RESULTS, read_rows, row_key

from .conftest import REPO, SMOKE

#: What the smoke suite must produce: every baseline that applies and every method that supports the task.
EXPECTED = {
    "inpaint_box": ["measurement", "biharmonic", "dps", "repaint", "ddrm"],
    "motion_blur": ["measurement", "pinv", "wiener", "dps", "repaint", "ddrm"],
    "jpeg10": ["measurement", "dps", "repaint"],  # RePaint through the JPEG projection; no DDRM-JPEG
}
METRICS = ("psnr", "ssim", "lpips")


def expected_keys(images: list[str]) -> set[tuple[str, str, str]]:
    return {(t, m, im) for t, methods in EXPECTED.items() for m in methods for im in images}


def cli(smoke_env, out: Path, *extra: str) -> list[str]:
    return ["-m", "invdiff", "bench", str(SMOKE), "--out", str(out), "--data", str(smoke_env["data"]),
            "--prior", str(smoke_env["prior"]), "--quiet", *extra]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def reference(smoke_env, tmp_path_factory) -> Path:
    """One uninterrupted single-process run of the smoke suite (one thread, like each torchrun rank)."""
    out = tmp_path_factory.mktemp("reference")
    done = subprocess.run([sys.executable, *cli(smoke_env, out)], env=env(), cwd=REPO, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return out


def by_key(rows: list[dict]) -> dict[tuple, dict]:
    return {row_key(r): r for r in rows}


def assert_same_numbers(rows: list[dict], ref: list[dict], tol: float) -> None:
    ref_by = by_key(ref)
    for r in rows:
        for m in METRICS:
            a, b = r[m], ref_by[row_key(r)][m]
            assert (a is None) == (b is None) and (a is None or abs(a - b) <= tol * max(1.0, abs(b))), (row_key(r), m)


def test_every_row_once_with_report_grids_and_meta(reference):
    rows = read_rows(reference / RESULTS)
    keys = [row_key(r) for r in rows]
    images = sorted({r["image"] for r in rows})
    assert len(images) == 4 and len(keys) == len(set(keys)) and set(keys) == expected_keys(images)
    assert all(r["nfe"] == 2 and r["backprop"] == (r["method"] == "dps") for r in rows if r["kind"] == "diffusion")
    with open(reference / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["task"], r["method"]) for r in table] == [(t, m) for t, ms in EXPECTED.items() for m in ms]
    assert all(float(r["psnr_ci95"]) > 0 and r["n"] == "4" for r in table)
    md = (reference / "results.md").read_text()
    assert "ddrm not run" in md and "SSIM Gaussian 11×11 σ=1.5" in md and "± " in md
    meta = json.loads((reference / "meta.json").read_text())
    assert meta["prior"]["sha256"] and meta["tasks"]["inpaint_box"]["sigma_y"] == 0.05
    assert meta["tasks"]["jpeg10"]["sigma_y"] == 0.0
    assert meta["metrics"]["ssim"]["size"] == 11
    from invdiff.bench.meta import source_sha256
    assert meta["code"]["source_sha256"] == meta["runs"][-1]["code"]["source_sha256"] == source_sha256()
    assert f"sources sha256 {source_sha256()[:16]}…" in md
    dps = next(e for e in meta["methods"]["motion_blur"] if e["label"] == "dps")
    assert dps["settings"]["steps"] == 2 and dps["not_run"] is None
    with Image.open(reference / "grid_motion_blur.png") as grid:  # 2 images × (truth, measured, 5 methods)
        assert grid.width > 7 * 96 and grid.height > 2 * 96


def test_a_finished_run_is_not_recomputed_and_a_changed_protocol_is_refused(reference, smoke_env):
    before = (reference / RESULTS).read_bytes()
    run_suite(load_suite(SMOKE), reference, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False)
    assert (reference / RESULTS).read_bytes() == before
    changed = parse_suite({**yaml.safe_load(SMOKE.read_text()), "seed": 1})
    with pytest.raises(ValueError, match="different protocol"):
        run_suite(changed, reference, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False)


def test_a_method_can_join_a_finished_table_but_an_existing_one_cannot_change(reference, smoke_env, tmp_path):
    import shutil

    out = tmp_path / "grown"
    shutil.copytree(reference, out)
    raw = yaml.safe_load(SMOKE.read_text())
    grown = parse_suite({**raw, "methods": {**raw["methods"], "ddrm1": {"method": "ddrm", "steps": 1}}})
    run_suite(grown, out, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False)
    old, new = by_key(read_rows(reference / RESULTS)), by_key(read_rows(out / RESULTS))
    assert {k: new[k] for k in old} == old  # nothing recomputed
    assert {k for k in new if k not in old} == {(t, "ddrm1", im) for t in ("inpaint_box", "motion_blur")
                                                 for im in {k[2] for k in old}}
    labels = [e["label"] for e in json.loads((out / "meta.json").read_text())["methods"]["motion_blur"]]
    assert labels.index("ddrm1") == len(labels) - 1 and "dps" in labels
    changed = parse_suite({**raw, "methods": {**raw["methods"], "ddrm": {"steps": 3}}})
    with pytest.raises(ValueError, match="ddrm on inpaint_box ran with settings"):
        run_suite(changed, out, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False)


def test_a_method_without_rows_gets_no_grid_column(reference, tmp_path):
    """A method an earlier run planned but never computed (dropped from the suite) leaves no empty column."""
    import shutil

    from invdiff.bench.report import write_report

    out = tmp_path / "dropped"
    shutil.copytree(reference, out)
    meta = json.loads((out / "meta.json").read_text())
    ghost = {**meta["methods"]["motion_blur"][-1], "label": "ghost"}
    meta["methods"]["motion_blur"].append(ghost)
    (out / "meta.json").write_text(json.dumps(meta))
    write_report(out)
    with Image.open(reference / "grid_motion_blur.png") as before, Image.open(out / "grid_motion_blur.png") as after:
        assert after.size == before.size
    assert "| ghost |" not in (out / "results.md").read_text()


def test_a_killed_run_resumes_without_losing_or_duplicating_rows(reference, smoke_env, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, *cli(smoke_env, out, "--batch-size", "1")], env=env(), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / RESULTS).is_file() and len(read_rows(out / RESULTS)) >= 6:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_rows(out / RESULTS))
    assert 6 <= done < sum(map(len, EXPECTED.values())) * 4
    with open(out / RESULTS, "ab") as f:  # what a kill in the middle of a write leaves behind
        f.write(b'{"task": "inpaint_box", "method": "dps", "image": "astr')
    restarted = subprocess.run([sys.executable, *cli(smoke_env, out)], env=env(), cwd=REPO, capture_output=True, check=False)
    assert restarted.returncode == 0, restarted.stderr.decode()[-2000:]
    lines = (out / RESULTS).read_text().splitlines()
    rows = [json.loads(line) for line in lines]  # every line is a whole row now
    keys = [row_key(r) for r in rows]
    assert len(keys) == len(set(keys)) and set(keys) == {row_key(r) for r in read_rows(reference / RESULTS)}
    assert_same_numbers(rows, read_rows(reference / RESULTS), tol=1e-5)


def test_torchrun_shards_over_two_ranks_and_merges_the_single_process_table(reference, smoke_env, tmp_path):
    out = tmp_path / "torchrun"
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              *cli(smoke_env, out, "--device", "cpu")]
    done = subprocess.run(launch, env=env(), cwd=REPO, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    rows = read_rows(out / RESULTS)
    ref = read_rows(reference / RESULTS)
    assert sorted(row_key(r) for r in rows) == sorted(row_key(r) for r in ref)
    assert {r["rank"] for r in rows} == {0, 1}
    assert not list((out / "shards").glob("*.jsonl"))
    assert_same_numbers(rows, ref, tol=1e-4)
    with open(out / "results.csv") as f, open(reference / "results.csv") as g:
        merged, single = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert [(r["task"], r["method"], r["n"]) for r in merged] == [(r["task"], r["method"], r["n"]) for r in single]
    for a, b in zip(merged, single):
        for col in ("psnr_mean", "ssim_mean", "lpips_mean", "nfe"):
            if a[col] == "" or b[col] == "":  # LPIPS is empty (n/a) where no AlexNet weights are available
                assert a[col] == b[col]
                continue
            assert float(a[col]) == pytest.approx(float(b[col]), rel=1e-4, abs=1e-4)
    assert json.loads((out / "meta.json").read_text())["runs"][-1]["world_size"] == 2


def test_student_t_interval():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / 3**0.5, rel=1e-6)
    assert math.isnan(mean_ci([5.0])[1])


def test_a_baseline_only_suite_without_lpips_says_n_a(smoke_env, tmp_path):
    raw = {**yaml.safe_load(SMOKE.read_text()), "methods": None, "lpips": False, "images": 2}
    out = run_suite(parse_suite(raw), tmp_path / "baselines", data=smoke_env["data"], progress=False)
    rows = read_rows(out / RESULTS)
    assert {r["method"] for r in rows} == {"measurement", "biharmonic", "pinv", "wiener"}
    assert all(r["lpips"] is None and r["nfe"] == 0 for r in rows)
    md = (out / "results.md").read_text()
    assert "- prior: none" in md and "LPIPS n/a: LPIPS turned off" in md and "| n/a |" in md
