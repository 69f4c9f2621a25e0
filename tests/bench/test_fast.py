"""``invdiff bench --fast``: CPU refusal, the recorded mode, identical measurements, no mixing of modes.

CI has no GPU: the fast path's plumbing runs here on the CPU with the device check switched off and
the compile backend set to ``eager`` (:func:`cpu_fast`); the real path runs in the GPU-only test.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from invdiff import api
from invdiff.bench import parse_suite, run_suite
from invdiff.bench.store import RESULTS, read_rows, row_key
from invdiff.priors.fast import SpeedConfig

from .conftest import SMOKE, spy_solves

CUDA = torch.cuda.is_available()


def small_suite(**overrides):
    """The smoke suite cut down: 2 images, box inpainting, ddrm + dps at 2 steps, the measurement baseline."""
    raw = {**yaml.safe_load(SMOKE.read_text()), "images": 2, "lpips": False, "baselines": ["measurement"],
           "tasks": {"inpaint_box": {"task": "inpaint", "sigma_y": 0.05, "mask_kind": "box"}},
           "methods": {"ddrm": {"steps": 2}, "dps": {"steps": 2}}, **overrides}
    return parse_suite(raw)


def run(smoke_env, out, **kwargs):
    return run_suite(small_suite(), out, data=smoke_env["data"], prior=str(smoke_env["prior"]), progress=False,
                     **kwargs)


@pytest.fixture
def cpu_fast(monkeypatch):
    """Let fast mode run on the CPU: no device check, bf16 autocast + channels_last + an eager 'compile'."""
    speed = {"dtype": "bf16", "channels_last": True, "compile": True, "compile_backend": "eager"}
    monkeypatch.setattr(api, "check_fast", lambda *args, **kwargs: None)
    monkeypatch.setattr(api, "FAST_SPEED", speed)
    return speed


def rewrite_speed(out, speed: str | None) -> None:
    """Set every row's ``speed`` (None: drop it, as in folders written before speed modes existed)."""
    rows = read_rows(out / RESULTS)
    for r in rows:
        r.pop("speed", None)
        if speed is not None:
            r["speed"] = speed
    (out / RESULTS).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def test_fast_on_the_cpu_is_refused_before_any_work(smoke_env, tmp_path):
    out = tmp_path / "refused"
    with pytest.raises(api.UsageError, match=r"^--fast \(fast=True\) needs a CUDA device .*device is cpu"):
        run(smoke_env, out, device="cpu", fast=True)
    assert not out.exists()


def test_cli_fast_on_the_cpu_is_one_line(smoke_env, tmp_path, capsys):
    from invdiff.cli import main

    out = tmp_path / "refused"
    code = main(["bench", str(SMOKE), "--out", str(out), "--data", str(smoke_env["data"]), "--prior",
                 str(smoke_env["prior"]), "--device", "cpu", "--quiet", "--fast"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "needs a CUDA device" in err, err
    assert not out.exists()

def test_bench_help_describes_fast(capsys):
    from invdiff.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--fast" in text and "differ slightly from the default fp32 path" in text and "measurements stay" in text


def test_fast_rows_record_the_mode_and_see_the_same_measurements(smoke_env, tmp_path, cpu_fast, monkeypatch):
    plain = run(smoke_env, tmp_path / "fp32", device="cpu")
    solves = spy_solves(monkeypatch, lambda solver, y, operator, prior, generator:
                        (solver.name, prior.speed, [g.initial_seed() for g in generator]))
    fast = run(smoke_env, tmp_path / "fast", device="cpu", fast=True)
    fast_rows, plain_rows = read_rows(fast / RESULTS), read_rows(plain / RESULTS)
    assert {r["speed"] for r in fast_rows} == {"fast"} and {r["speed"] for r in plain_rows} == {"fp32"}
    assert sorted(map(row_key, fast_rows)) == sorted(map(row_key, plain_rows))
    by_key = {row_key(r): r for r in plain_rows}
    for r in fast_rows:
        if r["method"] == "measurement":  # the measurement itself: identical in both modes
            assert r["psnr"] == by_key[row_key(r)]["psnr"] and r["ssim"] == by_key[row_key(r)]["ssim"]
    # each method's first batch is solved twice (the first compiles, untimed), with the same seeds
    assert [s[0] for s in solves] == ["ddrm", "ddrm", "dps", "dps"]
    assert solves[0][2] == solves[1][2] and all(s[1] == SpeedConfig(**cpu_fast) for s in solves)
    meta = json.loads((fast / "meta.json").read_text())
    assert meta["runs"][-1]["speed"] == "fast" and meta["runs"][-1]["fast_mode"] == cpu_fast
    assert json.loads((plain / "meta.json").read_text())["runs"][-1]["speed"] == "fp32"
    assert "speed mode: fast (bf16" in (fast / "results.md").read_text()
    assert "speed mode: fp32" in (plain / "results.md").read_text()


def test_fast_warm_up_runs_only_the_first_network_calls(smoke_env, tmp_path, cpu_fast, monkeypatch):
    """The untimed warm-up compiles with the first WARMUP_CALLS calls of the solve, not a whole extra solve."""
    from invdiff.bench.runner import WARMUP_CALLS
    from invdiff.priors import DiffusionPrior

    calls = []
    real_run = DiffusionPrior._run

    def counted_run(self, *args):
        out = real_run(self, *args)  # raises CallLimitReached once the warm-up's calls are spent
        calls.append(1)
        return out

    monkeypatch.setattr(DiffusionPrior, "_run", counted_run)
    suite = small_suite(methods={"dps": {"steps": 10}}, baselines=[])
    out = run_suite(suite, tmp_path / "fast", data=smoke_env["data"], prior=str(smoke_env["prior"]),
                    progress=False, device="cpu", fast=True, batch_size=1)
    rows = read_rows(out / RESULTS)
    # two batches of one image: one warm-up for the shape, then two whole timed solves
    assert len(rows) == 2 and {r["nfe"] for r in rows} == {10}
    assert len(calls) == WARMUP_CALLS + 2 * 10 and 0 < WARMUP_CALLS < 10
    # the warm-up's wall time (the compile, on a GPU) is recorded on the row of the solve it preceded only
    warm = sorted(rows, key=lambda r: r["warmup_seconds"] is None)
    assert warm[0]["warmup_seconds"] > 0 and warm[1]["warmup_seconds"] is None


@pytest.mark.parametrize("existing, fast, mode", [("fp32", True, "fp32"), (None, True, "fp32"),
                                                   ("fast", False, "fast")])
def test_resuming_a_folder_of_the_other_mode_is_refused(smoke_env, tmp_path, cpu_fast, existing, fast, mode):
    out = run(smoke_env, tmp_path / "mixed", device="cpu", limit=1)
    rewrite_speed(out, existing)
    before = (out / "meta.json").read_text(), (out / RESULTS).read_text()
    with pytest.raises(api.UsageError, match=f"holds 3 row\\(s\\) computed in {mode} mode but this run is in "
                                             f"{'fast' if fast else 'fp32'} mode"):
        run(smoke_env, out, device="cpu", fast=fast)
    assert ((out / "meta.json").read_text(), (out / RESULTS).read_text()) == before  # nothing recorded


def test_resuming_in_the_same_mode_completes_the_table(smoke_env, tmp_path):
    out = run(smoke_env, tmp_path / "resumed", device="cpu", limit=1)
    rewrite_speed(out, None)  # a folder from before speed modes: its rows are fp32
    run(smoke_env, out, device="cpu")
    rows = read_rows(out / RESULTS)
    assert len(rows) == 6 and {r.get("speed", "fp32") for r in rows} == {"fp32"}


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_fast_bench_end_to_end_on_a_gpu(smoke_env, tmp_path):
    """The real fast path on the GPU: same measurements as fp32, rows and meta say fast, finite scores."""
    plain = run(smoke_env, tmp_path / "fp32", device="cuda")
    fast = run(smoke_env, tmp_path / "fast", device="cuda", fast=True)
    fast_rows, plain_rows = read_rows(fast / RESULTS), read_rows(plain / RESULTS)
    by_key = {row_key(r): r for r in plain_rows}
    assert {r["speed"] for r in fast_rows} == {"fast"} and len(fast_rows) == len(plain_rows) == 6
    for r in fast_rows:
        assert r["psnr"] == r["psnr"] and r["seconds"] >= 0  # not NaN
        if r["method"] == "measurement":
            assert r["psnr"] == by_key[row_key(r)]["psnr"]
    assert json.loads((fast / "meta.json").read_text())["runs"][-1]["fast_mode"] == api.FAST_SPEED
    with pytest.raises(api.UsageError, match="computed in fast mode"):
        run(smoke_env, fast, device="cuda")


# -- fast mode without torch.compile (``--fast --no-compile``) ---------------------------------------------------
def test_fast_without_compile_records_fast_eager_and_configures_no_compile(smoke_env, tmp_path, cpu_fast,
                                                                            monkeypatch):
    speeds = spy_solves(monkeypatch, lambda solver, y, operator, prior, generator: prior.speed)
    out = run(smoke_env, tmp_path / "eager", device="cpu", fast=True, compile=False)
    rows = read_rows(out / RESULTS)
    assert rows and {r["speed"] for r in rows} == {"fast-eager"}
    assert speeds and set(speeds) == {SpeedConfig(**{**cpu_fast, "compile": False})}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["runs"][-1]["speed"] == "fast-eager" and meta["runs"][-1]["fast_mode"]["compile"] is False
    assert "speed mode: fast-eager (bf16 autocast, channels_last, no torch.compile" in (out / "results.md").read_text()


@pytest.mark.parametrize("first, second, hint", [({"fast": True}, {"fast": True, "compile": False}, "with --fast "),
                                                 ({"fast": True, "compile": False}, {"fast": True},
                                                  "with --fast --no-compile")])
def test_compiled_and_uncompiled_fast_rows_never_mix(smoke_env, tmp_path, cpu_fast, first, second, hint):
    out = run(smoke_env, tmp_path / "mixed", device="cpu", limit=1, **first)
    with pytest.raises(api.UsageError, match=f"rerun {hint}"):
        run(smoke_env, out, device="cpu", **second)


def test_no_compile_without_fast_is_refused_before_any_work(smoke_env, tmp_path):
    out = tmp_path / "refused"
    with pytest.raises(api.UsageError, match=r"^--no-compile .* changes only the fast mode; add --fast"):
        run(smoke_env, out, device="cpu", compile=False)
    assert not out.exists()


def test_bench_help_describes_no_compile_and_tasks(capsys):
    from invdiff.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-compile with --fast: no torch.compile" in text and "--tasks PATTERNS" in text
