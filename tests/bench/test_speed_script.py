"""The GPU speed benchmark's code paths, run on the CPU at a tiny size (CI has no GPU)."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_solver_speed_script_times_issue16_solvers(tmp_path):
    """DiffPIR, DDNM and ΠGDM (issue 16) in the speed table: rows with NFE, settings, and ΠGDM on the backward floor."""
    sys.path.insert(0, str(ROOT / "benchmarks/speed"))
    try:
        import solvers as speed_solvers
    finally:
        sys.path.remove(str(ROOT / "benchmarks/speed"))
    for table in (speed_solvers.FULL, speed_solvers.AGREEMENT, speed_solvers.WARMUP, speed_solvers.TINY):
        assert {"diffpir", "ddnm", "pigdm"} <= set(table)
    assert all(speed_solvers.FULL[m] == {"steps": 100} for m in ("diffpir", "ddnm", "pigdm"))
    cmd = [sys.executable, str(ROOT / "benchmarks/speed/solvers.py"), "--tiny", "--device", "cpu", "--compile", "none",
           "--methods", "diffpir,ddnm,pigdm", "--no-eager-floor", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    report = json.loads((tmp_path / "solvers.json").read_text())
    runs = {r["method"]: r for r in report["runs"]}
    assert set(runs) == {"diffpir", "ddnm", "pigdm"}
    floor = report["floor_fast_b1"]
    for m, r in runs.items():
        assert r["nfe"] == 4 and r["seconds_per_image"] > 0 and r["overhead_ratio"] > 0
        assert r["backprop"] == (m == "pigdm")
        assert r["floor_ms_per_call"] == floor["forward_backward_ms" if m == "pigdm" else "forward_ms"]
        assert "agreement" in r
    # the task's defaults the solve used, not None (box inpainting: DiffPIR λ 1 ζ 1, DDNM η 0.85, ΠGDM w 4)
    assert runs["diffpir"]["solver_settings"]["zeta"] == 1.0 and runs["ddnm"]["solver_settings"]["eta"] == 0.85
    assert runs["pigdm"]["solver_settings"]["weight"] == 4.0
    bad = subprocess.run(cmd[:-2] + ["--methods", "nosuch", "--out", str(tmp_path)], check=False, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "unknown --methods" in bad.stderr


def _peer_row(seconds: float, nfe: int, grad: int, steps: int = 100) -> dict:
    return {"config": {"steps": steps}, "nfe": nfe, "nfe_with_grad_to_input": grad, "seconds_runs": [seconds] * 3,
            "seconds_per_image": seconds, "ms_per_network_call": 1e3 * seconds / nfe, "library": "deepinv 0.5.0",
            "sampler": "how it was called"}


def test_report_joins_issue16_peers_additively(tmp_path):
    """report.py: a later solvers_b1_<tag>.json + peers_<tag>.json add rows and notes; the first run's rows stay as they were."""
    cmd = [sys.executable, str(ROOT / "benchmarks/speed/solvers.py"), "--tiny", "--device", "cpu", "--compile", "none",
           "--methods", "ddrm,diffpir,ddnm,pigdm", "--no-agreement", "--out", str(tmp_path / "run")]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    full = json.loads((tmp_path / "run" / "solvers.json").read_text())
    first = {**full, "runs": [r for r in full["runs"] if r["method"] == "ddrm"], "floor_eager_fp32_b1": full["floor_fast_b1"]}
    peers = {"versions": {"deepinv": "0.5.0", "torch": "x"}, "results": {"ddrm": _peer_row(0.5, 20, 0, 20)}}
    (tmp_path / "solvers_b1.json").write_text(json.dumps(first))
    (tmp_path / "peers.json").write_text(json.dumps(peers))
    report = [sys.executable, str(ROOT / "benchmarks/speed/report.py"), str(tmp_path)]
    subprocess.run(report, check=True, capture_output=True, text=True, timeout=60)
    before = (tmp_path / "results.md").read_text().splitlines()

    (tmp_path / "solvers_b1_issue16.json").write_text(json.dumps(full))
    later = {"gpu": "GPU", "versions": {"deepinv": "0.5.0", "torch": "x"},
             "results": {"ddrm": _peer_row(9.0, 20, 0, 20), "diffpir": _peer_row(2.0, 100, 0), "pigdm": _peer_row(4.0, 99, 99)}}
    (tmp_path / "peers_issue16.json").write_text(json.dumps(later))
    subprocess.run(report, check=True, capture_output=True, text=True, timeout=60)
    after = (tmp_path / "results.md").read_text().splitlines()
    removed = [op for op in difflib.ndiff(before, after) if op.startswith("- ")]
    assert not removed  # only additions
    rows = {line.split(" | ")[0]: line for line in after if line.startswith("| ")}
    assert "deepinv DiffPIR 0.5.0 | 2.000 |" in rows["| diffpir (4)"] and "≤ 0.5, ≥ 4× peer" in rows["| diffpir (4)"]
    assert "deepinv ΠGDM 0.5.0 | 4.000 |" in rows["| pigdm (4)"] and "≤ 0.4" in rows["| ddnm (4)"]
    assert "| 0.500 |" in rows["| ddrm (4)"]  # peers.json's row wins over a later file's
    assert any(line.startswith("- peers diffpir, pigdm: timed in `peers_issue16.json` (GPU") for line in after)


def test_peer_script_runs_deepinv_diffpir_and_pigdm_tiny_on_cpu(tmp_path):
    """deepinv 0.5.0's DiffPIR and ΠGDM (PosteriorDiffusion + PiGDMDataFidelity) around the full DiffUNet at 32²."""
    pytest.importorskip("deepinv")
    cmd = [sys.executable, str(ROOT / "benchmarks/speed/peers.py"), "--tiny", "--device", "cpu",
           "--methods", "diffpir,pigdm", "--out", str(tmp_path / "p.json")]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    res = json.loads((tmp_path / "p.json").read_text())["results"]
    assert res["diffpir"]["nfe"] == 3 and not res["diffpir"]["backprops_through_net"]
    assert res["pigdm"]["nfe"] == 2 == res["pigdm"]["nfe_with_grad_to_input"] and res["pigdm"]["backprops_through_net"]
    assert all(r["output_finite"] and r["output_shape"] == [1, 3, 32, 32] for r in res.values())
