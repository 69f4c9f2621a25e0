"""benchmarks/natural/throughput.py on the CPU at a tiny size: the JSON's fields, and failed or timed-out variants kept."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks/natural/throughput.py"
TINY = ["--preset", "tiny-any", "--crop", "16", "--batch", "4", "--steps", "2", "--warmup", "1", "--device", "cpu",
        "--threads", "1"]


def run(tmp_path: Path, *extra: str, check: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "throughput.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), *TINY, *extra, "--out", str(out)], capture_output=True,
                          text=True, timeout=120, check=check)
    return proc, (json.loads(out.read_text()) if out.exists() else {})


def test_two_variants_time_the_trainer_step_in_synthetic_mode(tmp_path):
    proc, report = run(tmp_path, "--variants", "default,cudnn_benchmark+no_clip+batch2")
    assert report["data"] == "synthetic" and report["preset"] == "tiny-any" and report["ddp"] is False
    recs = {r["variant"]: r for r in report["variants"]}
    assert list(recs) == ["default", "cudnn_benchmark+no_clip+batch2"]
    for r in recs.values():
        assert r["status"] == "ok" and r["phase"] == "done" and r["device"] == "cpu"
        assert r["crops_per_s"] > 0 and r["ms_per_step"] > 0 and r["loss"]["finite"]
        assert math.isfinite(r["loss"]["mean"]) and r["peak_mem_gib"] is None  # CPU: no CUDA memory counter
        assert r["compile"] == "off (cpu)" and r["bf16"] is False and len(r["warmup_step_s"]) == 1
        assert r["forward_gflop_per_crop"] > 0 and r["speedup_vs_default"] > 0
    assert recs["default"]["settings"] == {"name": "default", "batch": 4, "cudnn_benchmark": False, "clip": True,
                                           "compile_mode": "default"}
    combo = recs["cudnn_benchmark+no_clip+batch2"]["settings"]
    assert combo["batch"] == 2 and combo["cudnn_benchmark"] and not combo["clip"]
    assert recs["cudnn_benchmark+no_clip+batch2"]["cudnn_benchmark_flag"] is False  # CUDA only: CPU untouched
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and "crops/s" in lines[0] and "ms/step" in lines[1]


def test_a_timed_out_and_a_failing_variant_are_recorded(tmp_path):
    proc, report = run(tmp_path, "--variants", "default", "--variant-timeout", "0.5", check=False)
    (rec,) = report["variants"]
    assert proc.returncode == 1 and rec["status"] == "timeout" and rec["timeout_s"] == 0.5
    assert "ran past" in rec["error"] and "output_tail" in rec

    proc, report = run(tmp_path, "--variants", "default,no_clip", "--preset", "nosuch", check=False)
    assert proc.returncode == 1 and [r["status"] for r in report["variants"]] == ["failed", "failed"]
    assert "unknown U-Net preset" in report["variants"][1]["error"] and report["variants"][1]["phase"] == "build"


def test_unknown_variant_is_a_usage_error():
    proc = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--variants", "default,turbo"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown variant token 'turbo'" in proc.stderr


@pytest.mark.parametrize("name, batch", [("batch1024", 1024), ("cudnn_benchmark+batch1024", 1024), ("default", 512)])
def test_variant_names_parse(name, batch):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import throughput
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert throughput.parse_variant(name, 512).batch == batch
    assert throughput.parse_variant("compile_max_autotune", 512).compile_mode == "max-autotune-no-cudagraphs"
    assert throughput.DEFAULT_VARIANTS[0] == "default" and throughput.DEFAULT_VARIANTS[-1] == "compile_max_autotune"
