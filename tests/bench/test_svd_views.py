"""benchmarks/speed/svd_views.py (the factor cache's timing script) run on the CPU at a small size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_svd_views_script_times_every_linear_natural_task(tmp_path):
    out = tmp_path / "views.json"  # 64×96: the suite's 61×61 blur kernels need a side of 61 or more
    cmd = [sys.executable, str(ROOT / "benchmarks/speed/svd_views.py"), "--device", "cpu", "--size", "64x96",
           "--reps", "2", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text())
    assert set(report) == {"device", "torch", "size", "reps", "tasks"}
    assert report["size"] == [64, 96] and report["reps"] == 2 and report["device"].startswith("cpu")
    assert set(report["tasks"]) == {"inpaint_box", "inpaint_random", "gaussian_blur", "motion_blur", "sr4"}
    for times in report["tasks"].values():
        assert set(times) == {"cached_ms", "uncached_ms"} and times["cached_ms"] > 0 and times["uncached_ms"] > 0


def test_uncached_mode_converts_afresh_and_leaves_the_cache_alone():
    """What the 'uncached' column times: the separable views without the factor cache (the old conversion)."""
    import torch

    from operators import GaussianBlur, MotionBlur, _linalg
    from operators._fft import fourier_pairs
    from tests.bench.conftest import load_script

    views = load_script("benchmarks/speed/svd_views.py")
    op, x = GaussianBlur(1.0, 5), torch.rand(1, 3, 23, 29, dtype=torch.float64)  # a size no other test uses
    fh, _ = op._factors(23, 29)
    with views.uncached():
        assert _linalg.as_torch(fh.Vt, x) is not _linalg.as_torch(fh.Vt, x)
        z = op.V_t(x)
        assert (id(fh.Vt), x.device, x.dtype) not in _linalg._DEVICE_COPIES
    torch.testing.assert_close(op.V(z, x.shape), x)
    assert _linalg.as_torch(fh.Vt, x) is _linalg.as_torch(fh.Vt, x)
    motion = MotionBlur(torch.ones(3, 3) / 9, channels=3)
    with views.uncached():
        motion.V_t(x)
        assert (id(fourier_pairs(23, 29)[1]), x.device, torch.long) not in _linalg._DEVICE_COPIES
