"""``invdiff bench`` on bad input, through the real command line: one line on stderr and exit 2 (issue 17).

Before the fix each of these printed a Python traceback (exit 1), and a 64×64 prior with attention
ran on the 32×32 smoke suite and wrote noise (exit 0).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO, SMOKE


def bench(*args: str, data_env: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("INVDIFF_DATA", "INVDIFF_DEBUG")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    if data_env is not None:
        env["INVDIFF_DATA"] = data_env
    return subprocess.run([sys.executable, "-m", "invdiff", "bench", *args, "--quiet"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)


def assert_one_line(done: subprocess.CompletedProcess, code: int, *words: str) -> None:
    err = done.stderr.strip()
    assert done.returncode == code, (done.returncode, err[-2000:])
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err[-2000:]
    assert err.startswith("invdiff bench: error: ") and all(w in err for w in words), err


def test_a_missing_suite_file(tmp_path):
    assert_one_line(bench(str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")), 2, "nope.yaml", "does not exist")


def test_no_data_root(tmp_path):
    assert_one_line(bench(str(SMOKE), "--out", str(tmp_path / "o")), 2, "--data", "INVDIFF_DATA")


def test_a_data_root_that_is_not_a_folder(tmp_path):
    assert_one_line(bench(str(SMOKE), "--out", str(tmp_path / "o"), data_env=str(tmp_path / "absent")), 2,
                    "is not a folder")


def test_a_suite_whose_dataset_is_absent(tmp_path):
    assert_one_line(bench(str(SMOKE), "--out", str(tmp_path / "o"), "--data", str(tmp_path)), 2,
                    "'smoke'", str(tmp_path))
    assert not (tmp_path / "o").exists()


def test_no_prior(smoke_env, tmp_path):
    assert_one_line(bench(str(SMOKE), "--out", str(tmp_path / "o"), "--data", str(smoke_env["data"])), 2,
                    "names no prior", "--prior")


def test_an_unknown_prior(smoke_env, tmp_path):
    assert_one_line(bench(str(SMOKE), "--out", str(tmp_path / "o"), "--data", str(smoke_env["data"]),
                          "--prior", "no-such-prior"), 2, "no-such-prior")


@pytest.mark.filterwarnings("ignore")
def test_a_fixed_size_prior_at_another_size_is_refused_before_any_work(smoke_env, tmp_path):
    """``--prior faces64`` (64×64, attention) on the 32×32 smoke suite wrote 6–11 dB of noise with exit 0."""
    out = tmp_path / "o"
    done = bench(str(SMOKE), "--out", str(out), "--data", str(smoke_env["data"]), "--prior", "faces64")
    assert_one_line(done, 2, "faces64", "64×64", "32×32", "attention")
    assert not (out / "results.jsonl").exists()
