"""The GPU speed benchmark's code paths, run on the CPU at a tiny size (CI has no GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_solver_speed_script_runs_tiny_on_cpu(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks/speed/solvers.py"), "--tiny", "--device", "cpu",
           "--compile", "none", "--batches", "1,2", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "solvers.json").read_text())
    runs = {(r["method"], r["batch"]): r for r in report["runs"]}
    assert set(runs) == {(m, b) for m in ("dps", "repaint", "ddrm", "sr3") for b in (1, 2)}
    assert runs[("repaint", 1)]["nfe"] == 10 and runs[("dps", 2)]["nfe"] == 4  # tiny schedules, per image
    for r in runs.values():
        assert r["seconds_per_image"] > 0 and r["overhead_ratio"] > 0
    assert report["floor_fast_b1_sr3"]["forward_ms"] > 0  # SR3's conditional network has its own floor
    for m in ("dps", "repaint", "ddrm", "sr3"):  # bf16 vs fp32 on the same seeds: close, not identical
        assert 20 < runs[(m, 1)]["agreement"]["psnr_fast_vs_eager_fp32_db"] < float("inf")
    assert report["fast_vs_eager_fp32_b1"]["eps_rel_l2"] < 0.1
    assert report["floor_eager_fp32_b1"]["forward_ms"] > 0 and report["floor_fast_b2"]["forward_backward_ms"] > 0


def test_report_joins_a_later_run_of_one_method(tmp_path):
    """report.py: the first run's table, plus the method a later solvers_b1_<method>.json timed, with its note."""
    cmd = [sys.executable, str(ROOT / "benchmarks/speed/solvers.py"), "--tiny", "--device", "cpu", "--compile", "none",
           "--out", str(tmp_path / "run")]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    full = json.loads((tmp_path / "run" / "solvers.json").read_text())
    first = {**full, "runs": [r for r in full["runs"] if r["method"] != "sr3"]}
    (tmp_path / "solvers_b1.json").write_text(json.dumps(first))
    (tmp_path / "solvers_b1_sr3.json").write_text(json.dumps(full))  # dps… again: only the new method joins
    subprocess.run([sys.executable, str(ROOT / "benchmarks/speed/report.py"), str(tmp_path)], check=True,
                   capture_output=True, text=True, timeout=60)
    table = (tmp_path / "results.md").read_text()
    assert sum(line.startswith("| dps (") for line in table.splitlines()) == 1
    assert "| sr3 (" in table and "- sr3: timed in a later run (`solvers_b1_sr3.json`" in table
