"""Issue 16's tooling: part of a suite per run (``--only``), joined; choosing settings on validation rows; the
generated test suite; the NFE/time frontier."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from invdiff.bench import parse_suite, run_suite
from invdiff.bench.parts import restrict
from invdiff.bench.store import RESULTS, read_rows, row_key

from .conftest import REPO, load_script

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
    again = [sys.executable, str(REPO / "benchmarks" / "results" / "join_runs.py"), str(a), str(b / RESULTS),
             str(b / "meta.json")]
    refused = subprocess.run(again, capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "both runs have rows" in refused.stderr
    replaced = subprocess.run([*again, "--replace", "--reason", "tuned"], capture_output=True, text=True, check=False)
    assert replaced.returncode == 0, replaced.stderr
    rows = read_rows(a / RESULTS)
    assert len(rows) == len({row_key(r) for r in rows}) == 2 * 2 * 4 - 2  # the old dps rows are gone, not doubled
    meta = json.loads((a / "meta.json").read_text())
    assert meta["replaced"] == [{"pairs": [["inpaint_box", "dps@zeta=0.3"], ["sr4", "dps@zeta=0.3"]],
                                 "rows_dropped": 4, "reason": "tuned"}]
    assert [m["label"] for m in meta["suite"]["methods"]].count("dps@zeta=0.3") == 1
    # a refused join changes nothing, even with --replace (the checks come before any write)
    other = json.loads((b / "meta.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**other, "metrics": {"psnr": "another definition"}}))
    before = (a / RESULTS).read_text(), (a / "meta.json").read_text()
    bad = subprocess.run([*again[:4], str(tmp_path / "bad.json"), "--replace"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0 and "not the same protocol" in bad.stderr
    assert ((a / RESULTS).read_text(), (a / "meta.json").read_text()) == before
    # a rerun of one task replaces that task's rows only
    one = [r for r in read_rows(b / RESULTS) if r["task"] == "sr4"]
    (tmp_path / "one.jsonl").write_text("".join(json.dumps(r) + "\n" for r in one))
    (tmp_path / "one.json").write_text(json.dumps({**other, "methods": {"sr4": other["methods"]["sr4"]}}))
    part = subprocess.run([*again[:3], str(tmp_path / "one.jsonl"), str(tmp_path / "one.json"), "--replace"],
                          capture_output=True, text=True, check=False)
    assert part.returncode == 0, part.stderr
    rows = read_rows(a / RESULTS)
    assert len(rows) == len({row_key(r) for r in rows}) == 2 * 2 * 4 - 2
    assert {r["task"] for r in rows if r["method"] == "dps@zeta=0.3"} == {"inpaint_box", "sr4"}


choose_settings = load_script("benchmarks/tuning/choose_settings.py")


def _rows(task, label, psnr, lpips, images=("a", "b")):
    return [{"task": task, "method": label, "kind": "diffusion", "image": im, "psnr": psnr, "ssim": 0.5,
             "lpips": lpips, "seconds": 0.1, "nfe": 100} for im in images]


def test_the_rule_lowest_lpips_ties_to_psnr_and_falls_back_without_rows(tmp_path):
    val = {"name": "v", "tasks": {"box": {"task": "inpaint"}, "sr4": {"task": "sr4"}, "jpeg10": {"task": "jpeg"}},
           "methods": {"ddrm@eta=0.5": {"method": "ddrm", "steps": 100, "eta": 0.5},
                       "ddrm@eta=1": {"method": "ddrm", "steps": 100, "eta": 1.0},
                       "ddrm@eta=2": {"method": "ddrm", "steps": 100, "eta": 2.0},
                       "daps@lr=1": {"method": "daps", "steps": 20, "ode_steps": 5, "lr": 1.0}}}
    run = tmp_path / "run"
    run.mkdir()
    rows = (_rows("box", "ddrm@eta=0.5", 20.0, 0.10) + _rows("box", "ddrm@eta=1", 25.0, 0.20)
            + _rows("sr4", "ddrm@eta=0.5", 20.0, 0.10005) + _rows("sr4", "ddrm@eta=1", 21.0, 0.1)  # a tie: PSNR
            + _rows("sr4", "ddrm@eta=2", 30.0, 0.3, images=("a",))  # compared on image a only: the paired images
            + _rows("box", "daps@lr=1", 20.0, 0.1))
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "meta.json").write_text(json.dumps({"methods": {"jpeg10": [
        {"label": "ddrm@eta=0.5", "not_run": "ddrm needs a linear operator"}]}}))
    chosen, md = choose_settings.choose(val, [run])
    assert chosen["ddrm"]["box"] == {"eta": 0.5} and chosen["ddrm"]["sr4"] == {"eta": 1.0}
    assert chosen["ddrm"]["jpeg10"] == {} and chosen["daps"]["box"] == {"lr": 1.0}  # the schedule is not a setting
    about = chosen["_about"]
    assert about["fallback"] == {"ddrm": ["jpeg10"], "daps": ["sr4", "jpeg10"]}
    assert "ddrm needs a linear operator" in about["basis"]["ddrm"]["jpeg10"]["fallback"]
    assert about["basis"]["ddrm"]["sr4"]["n"] == 1 and about["basis"]["ddrm"]["sr4"]["label"] == "ddrm@eta=1"
    assert any("**ddrm@eta=0.5**" in line for line in md)
    suite = choose_settings.make_test_suite(val, chosen)
    daps = suite["methods"]["daps-2x5"]
    assert daps == {"method": "daps", "steps": 2, "ode_steps": 5, "per_task": {"box": {"lr": 1.0}}}
    assert [k for k in suite["methods"] if k.startswith("ddrm")] == ["ddrm-10", "ddrm-20", "ddrm-50", "ddrm-100"]
    assert suite["methods"]["ddrm-50"]["per_task"] == {"box": {"eta": 0.5}, "sr4": {"eta": 1.0}}
    assert suite["images"] == 100 and "first" not in suite


def test_the_long_schedules_are_the_frontiers_far_end_with_the_same_choices():
    val = yaml.safe_load((REPO / "configs" / "bench" / "faces64-val16.yaml").read_text())
    chosen = {"diffpir": {"box": {"lam": 1.0}}, "daps": {"box": {"lr": 1e-4}}, "dps": {"box": {"zeta": 0.5}},
              "_about": {"fallback": {}}}
    methods = choose_settings.make_test_suite(val, chosen, schedules=choose_settings.LONG_SCHEDULES)["methods"]
    assert methods == {
        "diffpir-250": {"method": "diffpir", "steps": 250, "per_task": {"box": {"lam": 1.0}}},
        "diffpir-1000": {"method": "diffpir", "steps": 1000, "per_task": {"box": {"lam": 1.0}}},
        "daps-50x5": {"method": "daps", "steps": 50, "ode_steps": 5, "per_task": {"box": {"lr": 1e-4}}},
        "dps-tuned-250": {"method": "dps", "steps": 250, "per_task": {"box": {"zeta": 0.5}}}}
    long = yaml.safe_load((REPO / "configs" / "bench" / "faces64-issue16-long.yaml").read_text())
    short = yaml.safe_load((REPO / "configs" / "bench" / "faces64-issue16-v2.yaml").read_text())
    assert long["tasks"] == short["tasks"] and long["images"] == short["images"] == 100
    for label, entry in long["methods"].items():  # the committed long suite has the short one's per-task choices
        twin = next(v for k, v in short["methods"].items() if v["method"] == entry["method"])
        assert entry.get("per_task") == twin.get("per_task"), label


def test_choose_on_a_real_tiny_sweep_writes_a_test_suite_that_runs(smoke_env, tmp_path):
    val = {**TINY, "first": 1, "methods": {**TINY["methods"], "dps@zeta=1": {"method": "dps", "steps": 2, "zeta": 1.0}}}
    val_path = tmp_path / "val.yaml"
    val_path.write_text(yaml.safe_dump(val, sort_keys=False))
    kw = {"data": smoke_env["data"], "prior": str(smoke_env["prior"]), "progress": False, "device": "cpu"}
    run_suite(parse_suite(val), tmp_path / "val", only=["dps*"], **kw)  # half a sweep: ddrm falls back
    out = tmp_path / "chosen"
    for missing in (tmp_path / "missing", tmp_path / "empty"):  # a part without rows is refused, not skipped
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(SystemExit, match="has no rows"):
            choose_settings.main([str(tmp_path / "val"), str(missing), "--val", str(val_path), "--out", str(out)])
    assert choose_settings.main([str(tmp_path / "val"), "--val", str(val_path),
                                 "--out", str(out), "--images", "2", "--name", "t16"]) == 0
    chosen = json.loads((out / "chosen.json").read_text())
    assert chosen["_about"]["fallback"] == {"ddrm": ["inpaint_box", "sr4"]}
    assert chosen["dps"]["sr4"]["zeta"] in (0.3, 1.0)
    test = yaml.safe_load((out / "t16.yaml").read_text())
    assert test["images"] == 2 and [m for m in test["methods"]][:4] == ["ddrm-10", "ddrm-20", "ddrm-50", "ddrm-100"]
    test["methods"] = {k: {**v, "steps": 1} for k, v in test["methods"].items() if k in ("ddrm-10", "dps-tuned-20")}
    done = run_suite(parse_suite(test), tmp_path / "test", **kw)
    rows = read_rows(done / RESULTS)
    assert {r["method"] for r in rows} == {"ddrm-10", "dps-tuned-20", "measurement"}
    meta = json.loads((done / "meta.json").read_text())
    dps = next(e for e in meta["methods"]["sr4"] if e["label"] == "dps-tuned-20")
    assert dps["settings"]["zeta"] == chosen["dps"]["sr4"]["zeta"]  # the per-task choice reached the solver


def test_frontier_lines_reference_and_speed_modes(tmp_path):
    frontier = load_script("benchmarks/results/plot_frontier.py")

    def run(name, entries, rows, speed):
        folder = tmp_path / name
        folder.mkdir()
        meta = {"suite": {"name": name, "tasks": [{"label": "box"}],
                          "methods": [{"label": label, "method": method, "settings": settings, "per_task": {}}
                                      for label, method, settings in entries]},
                "runs": [{"device": "GPU"}]}
        (folder / "meta.json").write_text(json.dumps(meta))
        (folder / "results.jsonl").write_text("".join(
            json.dumps({"task": "box", "method": m, "kind": "diffusion", "image": im, "psnr": p, "lpips": lp,
                        "seconds": s, "nfe": nfe, "speed": speed}) + "\n"
            for m, nfe, p, lp, s in rows for im in ("a", "b")))
        return folder

    old = run("old", [("dps", "dps", {}), ("dps-100", "dps", {"steps": 100})],
              [("dps", 1000, 28.0, 0.030, 1.0), ("dps-100", 100, 27.0, 0.040, 0.1)], "fast")
    new = run("new", [(f"ddnm-{s}", "ddnm", {"steps": s, "eta": 0.85}) for s in (10, 100)],
              [("ddnm-10", 10, 27.0, 0.05, 0.01), ("ddnm-100", 100, 28.1, 0.0305, 0.2)], "fp32")
    assert frontier.main([str(new), str(old), "--out", str(tmp_path / "f")]) == 0
    md = (tmp_path / "f" / "frontier.md").read_text()
    assert "**mixed**" in md and "Reference: dps (old, fast)" in md
    winners = md.split("<details>")[0]
    assert "| ddnm-100 | new | fp32 | 100 | 28.10 (+0.10) | 0.0305 (+0.0005) | 0.2000 | 0.200 (modes differ) |" in winners
    assert "ddnm-10 |" not in winners and "dps-100 |" not in winners
    pts, _ = frontier.points([new, old])
    assert len({p["line"] for p in pts}) == 2 and {p["name"] for p in pts} == {"ddnm", "dps"}
