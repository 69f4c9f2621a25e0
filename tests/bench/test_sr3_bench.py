"""sr3 in a benchmark suite: its own prior, sr4 only (other tasks listed as not run), the prior in its settings."""

from __future__ import annotations

import json

import pytest

from invdiff.bench import parse_suite, run_suite
from invdiff.bench.runner import method_prior_source
from invdiff.bench.store import RESULTS, read_rows
from invdiff.priors import save_prior
from tests.priors.helpers import tiny_conditional_prior


def suite_dict(sr_prior: str) -> dict:
    return {"name": "sr3-smoke", "dataset": "smoke", "resolution": 32, "images": 2, "seed": 0, "batch_size": 2,
            "grid_images": 1, "lpips": False,
            "tasks": {"sr4": {"task": "sr4", "sigma_y": 0.05}, "box": {"task": "inpaint", "mask_kind": "box"}},
            "methods": {"ddrm": {"steps": 2}, "sr3": {"steps": 2, "prior": sr_prior}},
            "baselines": ["bicubic"]}


@pytest.fixture(scope="module")
def sr_prior(smoke_env) -> str:
    return str(save_prior(tiny_conditional_prior(image_size=32), smoke_env["root"] / "tiny-sr4-32.json"))


def test_sr3_runs_on_sr4_only_with_its_own_prior(smoke_env, sr_prior, tmp_path):
    out = run_suite(parse_suite(suite_dict(sr_prior)), tmp_path / "out", data=smoke_env["data"],
                    prior=str(smoke_env["prior"]), progress=False)
    rows = read_rows(out / RESULTS)
    got = {(r["task"], r["method"]) for r in rows}
    assert got == {("sr4", "bicubic"), ("sr4", "ddrm"), ("sr4", "sr3"), ("box", "ddrm")}
    assert all(r["nfe"] == 2 for r in rows if r["method"] == "sr3") and len(rows) == 8
    assert "sr3 not run: SR3's network is conditioned on a low-resolution image" in (out / "results.md").read_text()
    meta = json.loads((out / "meta.json").read_text())
    sr3 = next(e for e in meta["methods"]["sr4"] if e["label"] == "sr3")
    assert sr3["settings"]["prior"]["name"] == "tiny-sr4" and sr3["settings"]["prior"]["sha256"]
    ddrm = next(e for e in meta["methods"]["sr4"] if e["label"] == "ddrm")
    assert "prior" not in ddrm["settings"] and meta["prior"]["name"] == "tiny"  # the suite's prior


def test_priors_that_do_not_fit_their_method_are_refused_before_any_work(smoke_env, sr_prior, tmp_path):
    raw = suite_dict(sr_prior)
    raw["methods"] = {"ddrm": {"steps": 2, "prior": sr_prior}}
    with pytest.raises(ValueError, match="method 'ddrm': prior 'tiny-sr4' is a conditional SR3 model"):
        run_suite(parse_suite(raw), tmp_path / "a", data=smoke_env["data"], progress=False)
    raw["methods"] = {"sr3": {"steps": 2, "prior": str(smoke_env["prior"])}}
    with pytest.raises(ValueError, match="method 'sr3': sr3 needs a conditional prior"):
        run_suite(parse_suite(raw), tmp_path / "b", data=smoke_env["data"], progress=False)


def test_sr3_without_a_prior_uses_faces64_sr4():
    suite = parse_suite({**suite_dict("x"), "prior": "faces64", "methods": {"sr3": {}, "dps": {}}})
    assert [method_prior_source(suite, m) for m in suite.methods] == ["faces64-sr4", "faces64"]
