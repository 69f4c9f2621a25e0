"""Part of a suite: ``--tasks`` runs some tasks, keeps the whole suite's protocol, and a later run resumes the rest."""

from __future__ import annotations

import json

import pytest
import yaml

from invdiff import api
from invdiff.bench import parse_suite, run_suite
from invdiff.bench.parts import select_tasks
from invdiff.bench.store import RESULTS, read_rows

from .conftest import SMOKE, spy_solves


def two_task_suite():
    raw = {**yaml.safe_load(SMOKE.read_text()), "images": 2, "lpips": False, "baselines": ["measurement"],
           "tasks": {"inpaint_box": {"task": "inpaint", "sigma_y": 0.05, "mask_kind": "box"},
                     "sr4": {"task": "sr4", "sigma_y": 0.05}},
           "methods": {"ddrm": {"steps": 2}}}
    return parse_suite(raw)


def run(smoke_env, out, **kwargs):
    return run_suite(two_task_suite(), out, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False,
                     device="cpu", **kwargs)


def test_select_tasks_keeps_suite_order_and_refuses_a_pattern_that_matches_nothing():
    suite = two_task_suite()
    assert [t.label for t in select_tasks(suite, ["sr*", "inpaint_box"])] == ["inpaint_box", "sr4"]
    assert [t.label for t in select_tasks(suite, None)] == ["inpaint_box", "sr4"]
    with pytest.raises(api.UsageError, match=r"--tasks \['deblur'\] matches no task of suite .*inpaint_box, sr4"):
        select_tasks(suite, ["sr4", "deblur"])
    with pytest.raises(api.UsageError, match="--tasks needs at least one label pattern"):
        select_tasks(suite, [" "])


def test_a_run_of_some_tasks_keeps_the_protocol_and_a_whole_run_resumes_the_rest(smoke_env, tmp_path, monkeypatch):
    whole = run(smoke_env, tmp_path / "whole")
    part = run(smoke_env, tmp_path / "part", tasks=["sr4"])
    part_rows = read_rows(part / RESULTS)
    assert part_rows and {r["task"] for r in part_rows} == {"sr4"}
    meta, whole_meta = (json.loads((p / "meta.json").read_text()) for p in (part, whole))
    assert meta["fingerprint"] == whole_meta["fingerprint"] and meta["tasks"] == whole_meta["tasks"]
    assert meta["runs"][-1]["tasks"] == ["sr4"] and "tasks" not in whole_meta["runs"][-1]
    assert set(meta["methods"]) == {"sr4"}

    solved = spy_solves(monkeypatch, lambda solver, y, operator, prior, generator: operator.name)
    run(smoke_env, part)  # the whole suite into the same folder: only inpainting is left to compute
    assert solved and set(solved) == {"inpaint"}

    def key(r):
        return r["task"], r["method"], r["image"]

    resumed = {key(r): r["psnr"] for r in read_rows(part / RESULTS)}
    reference = {key(r): r["psnr"] for r in read_rows(whole / RESULTS)}
    assert resumed.keys() == reference.keys()
    assert all(resumed[k] == pytest.approx(reference[k], abs=1e-9) for k in reference)


def test_cli_tasks_runs_only_those_tasks(smoke_env, tmp_path):
    from invdiff.cli import main

    out = tmp_path / "cli"
    code = main(["bench", str(SMOKE), "--out", str(out), "--data", str(smoke_env["data"]), "--prior",
                 str(smoke_env["prior"]), "--device", "cpu", "--quiet", "--limit", "1", "--only", "measurement",
                 "--tasks", "inpaint*"])
    assert code == 0
    assert {r["task"] for r in read_rows(out / RESULTS)} == {t.label for t in parse_suite(
        yaml.safe_load(SMOKE.read_text())).tasks if t.label.startswith("inpaint")}


def test_two_runs_of_different_tasks_into_one_folder_keep_both_tasks_in_meta_and_report(smoke_env, tmp_path):
    out = run(smoke_env, tmp_path / "parts", tasks=["inpaint_box"])
    run(smoke_env, out, tasks=["sr4"])
    meta = json.loads((out / "meta.json").read_text())
    assert set(meta["methods"]) == {"inpaint_box", "sr4"}  # the second part must not drop the first one's record
    report = (out / "results.md").read_text()
    assert "### inpaint_box" in report and "### sr4" in report
    with pytest.raises(ValueError, match="ran with settings"):  # changed settings on the first part's task: refused
        suite = two_task_suite()
        suite.methods[0].settings["steps"] = 3
        run_suite(suite, out, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False, device="cpu",
                  tasks=["inpaint_box"])
