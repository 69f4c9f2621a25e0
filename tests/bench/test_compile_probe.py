"""benchmarks/speed/compile_probe.py (where a new shape's first calls go) run on the CPU with a tiny prior."""

from __future__ import annotations

import json

import pytest

from invdiff.priors.registry import save_prior
from tests.priors.helpers import tiny_prior

from .conftest import load_script


def run_probe(tmp_path, size: str, variants: str) -> dict:
    """compile_probe.py on the CPU with a tiny any-size prior; its JSON report."""
    probe = load_script("benchmarks/speed/compile_probe.py")
    prior = save_prior(tiny_prior(seed=3), tmp_path / "tiny.json", any_size=True)
    out = tmp_path / "probe.json"
    assert probe.main(["--prior", str(prior), "--device", "cpu", "--size", size, "--reps", "1",
                       "--variants", variants, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_probe_times_each_variant_and_keeps_the_fast_path_honest(tmp_path):
    report = run_probe(tmp_path, "24x40", "eager-fp32,eager-bf16-cl")
    assert report["sizes"] == [[24, 40]] and report["device"] == "cpu" and report["cpus"] >= 1
    rows = {r["variant"]: r for r in report["variants"]}
    assert list(rows) == ["eager-fp32", "eager-bf16-cl"]
    for r in rows.values():
        assert r["forward_first_s"] > 0 and r["forward_ms"] > 0 and r["forward_backward_ms"] > 0
        assert r["after_both_compile_times"] is None  # nothing compiled: no breakdown invented
    assert rows["eager-bf16-cl"]["speed"] == {"dtype": "bf16", "channels_last": True}


def test_probe_refuses_an_unknown_variant(tmp_path, capsys):
    probe = load_script("benchmarks/speed/compile_probe.py")
    with pytest.raises(SystemExit):
        probe.main(["--variants", "eager-fp16", "--out", str(tmp_path / "x.json")])
    assert "unknown variant(s) eager-fp16" in capsys.readouterr().err


def test_probe_times_each_size_in_turn_in_one_process(tmp_path):
    report = run_probe(tmp_path, "24x40,16x24", "eager-fp32")
    assert report["sizes"] == [[24, 40], [16, 24]]
    assert [(r["variant"], r["size"]) for r in report["variants"]] == [("eager-fp32", [24, 40]), ("eager-fp32", [16, 24])]
    assert all(r["forward_ms"] > 0 for r in report["variants"])
