"""The speed benchmark at a non-square size with a shipped prior (issue 20's natural-prior run), on the CPU.

``solvers.py --prior natural --size 16x24 --tiny`` runs the real loader and the shipped weights at a tiny
image (a few seconds); ``report.py`` turns such a JSON into issue 20's section with computed goals.
The subprocess runs on one thread: on the shared 2-core machine two threads made it 3–5× slower.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEED = ROOT / "benchmarks/speed"


def _import(name: str):
    sys.path.insert(0, str(SPEED))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(SPEED))


@pytest.fixture(scope="module")
def natural_run(tmp_path_factory) -> dict:
    """One tiny run of the shipped ``natural`` prior at 16×24 (H×W) through the new options."""
    out = tmp_path_factory.mktemp("n768")
    cmd = [sys.executable, str(SPEED / "solvers.py"), "--prior", "natural", "--size", "16x24", "--tiny",
           "--device", "cpu", "--compile", "none", "--methods", "ddrm,dps,repaint", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads((out / "solvers.json").read_text())


def test_natural_prior_at_a_non_square_size(natural_run):
    r = natural_run
    assert r["prior"] == "natural" and r["preset"] is None and r["weights"] == "load_prior('natural')"
    assert r["size"] == [16, 24] and (r["height"], r["width"]) == (16, 24)
    assert r["parameters"] == 19_406_467  # the shipped natural network (invdiff/priors/unet.py: 19.4 M)
    assert r["problem"]["mask_kind"] == "box" and r["problem"]["fraction_missing"] == 0.25  # half of each side
    runs = {x["method"]: x for x in r["runs"]}
    assert set(runs) == {"ddrm", "dps", "repaint"} and runs["repaint"]["nfe"] == 10 and runs["dps"]["nfe"] == 4
    floor = r["floor_fast_b1"]
    for m, x in runs.items():
        assert x["seconds_per_image"] > 0 and x["overhead_ratio"] > 0 and x["batch"] == 1
        assert x["floor_ms_per_call"] == floor["forward_backward_ms" if m == "dps" else "forward_ms"]
        assert 20 < x["agreement"]["psnr_fast_vs_eager_fp32_db"] < float("inf")  # bf16 vs fp32 at 16×24
    assert r["fast_vs_eager_fp32_b1"]["eps_rel_l2"] < 0.1 and r["floor_eager_fp32_b1"]["forward_ms"] > 0


def test_size_and_prior_errors_are_one_sentence():
    wl = _import("speed_workload")
    assert wl.parse_size("512x768") == (512, 768) and wl.parse_size("256") == (256, 256)
    assert wl.parse_size("16×24") == (16, 24)
    for bad in ("512x", "0x8", "big"):
        with pytest.raises(ValueError, match="--size must be HxW"):
            wl.parse_size(bad)
    solvers = _import("solvers")
    args = argparse.Namespace(prior="natural", preset="adm-ffhq256", tiny=True)
    with pytest.raises(ValueError, match="--methods sr3 cannot run on --prior natural: sr3 needs a conditional"):
        solvers.load_priors(args, ["ddrm", "sr3"], solvers.torch.device("cpu"), (16, 24))
    with pytest.raises(ValueError, match="takes images of at least 8×8"):
        wl.shipped_prior("natural", solvers.torch.device("cpu"), (4, 24))


def test_report_adds_the_natural_section_with_computed_goals(natural_run, tmp_path):
    """Without solvers_natural768.json the report is as before; with it, one section is appended."""
    (tmp_path / "solvers_b1.json").write_text(json.dumps({**natural_run, "floor_eager_fp32_b1": natural_run["floor_fast_b1"]}))
    report = [sys.executable, str(SPEED / "report.py"), str(tmp_path)]
    subprocess.run(report, check=True, capture_output=True, text=True, timeout=60)
    before = (tmp_path / "results.md").read_text().splitlines()
    assert not any("issue 20" in line for line in before)

    full = {"ddrm": {"steps": 20}, "dps": {"steps": 1000}, "repaint": {"steps": 250, "jump_length": 10, "resamples": 10}}
    numbers = {"ddrm": (0.6, 1.05), "dps": (31.0, 1.1), "repaint": (20.0, 1.3)}  # (s/image, overhead ratio)
    runs = [{**x, "settings": full[x["method"]], "seconds_per_image": numbers[x["method"]][0],
             "overhead_ratio": numbers[x["method"]][1], "peak_mib": 2048.4} for x in natural_run["runs"]]
    (tmp_path / "solvers_natural768.json").write_text(json.dumps({**natural_run, "runs": runs}))
    subprocess.run(report, check=True, capture_output=True, text=True, timeout=60)
    after = (tmp_path / "results.md").read_text().splitlines()
    assert not [op for op in difflib.ndiff(before, after) if op.startswith("- ")]  # only additions
    assert after[:len(before)] == before  # at the end
    assert "## Prior `natural` at 24×16 (issue 20; `solvers_natural768.json`)" in after
    rows = {line.split(" | ")[0]: line for line in after if line.startswith("| ")}
    assert rows["| ddrm (20)"].endswith("| ≤ 1 s/image, overhead ≤ 1.2 | met |")
    assert rows["| dps (1000)"].endswith("| ≤ 30 s/image, overhead ≤ 1.2 | not met (s/image) |")
    assert rows["| repaint (250/10/10)"].endswith("| ≤ 30 s/image, overhead ≤ 1.2 | not met (overhead) |")
    assert "| 2048 |" in rows["| dps (1000)"] and "19,406,467 parameters" in "\n".join(after)
    assert "MiB reserved" not in "\n".join(after) and "(reserved)" not in "\n".join(after)  # none recorded: none shown
    pools = [{**r, "reserved_mib": 4410.0} for r in runs]  # fast mode: CUDA graph pools sit in what is reserved
    (tmp_path / "solvers_natural768.json").write_text(json.dumps({**natural_run, "runs": pools}))
    subprocess.run(report, check=True, capture_output=True, text=True, timeout=60)
    text = (tmp_path / "results.md").read_text()
    assert "| 2048 (4410) |" in text and "2048 MiB allocated after the warm-up, 4410 MiB reserved" in text
    (tmp_path / "solvers_natural768.json").write_text(json.dumps({**natural_run, "runs": runs}))
    eager = {**natural_run, "runs": runs, "fast_mode": {"dtype": "bf16", "channels_last": True, "compile": "none"}}
    (tmp_path / "solvers_natural768_nocompile.json").write_text(json.dumps(eager))
    subprocess.run(report, check=True, capture_output=True, text=True, timeout=60)
    both = (tmp_path / "results.md").read_text().splitlines()
    assert both[:len(after)] == after  # the uncompiled run's section follows, the rest unchanged
    assert "## Prior `natural` at 24×16 (issue 20; `solvers_natural768_nocompile.json`)" in both[len(after):]
    assert "'compile': 'none'" in "\n".join(both[len(after):])
    shortened = _import("report").natural_goal({**runs[0], "settings": {"steps": 4}, "overhead_ratio": 1.1})
    assert shortened == ("overhead ≤ 1.2 (≤ 1 s/image is for 20: not judged here)", "met")
