"""``invdiff solve --fast`` / ``invdiff.solve(fast=True)``: CPU refusal, the prior cache, the recorded mode.

CI has no GPU: the fast path's plumbing runs here on the CPU with the device check switched off and
the compile backend set to ``eager`` (:func:`cpu_fast`); the real path runs in the GPU-only test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from invdiff import api
from invdiff.priors import load_prior
from invdiff.priors.fast import SpeedConfig

from .conftest import no_outputs, random_image

CUDA = torch.cuda.is_available()


def solve(cli, *args: str):
    return cli("solve", "--task", "inpaint", "--method", "ddrm", *args)


@pytest.fixture
def fresh_cache(monkeypatch):
    """An empty prior cache for this test only (what it loads does not leak into other tests)."""
    monkeypatch.setattr(api, "_PRIORS", {})
    monkeypatch.setattr(api, "_FAST_COPIES", api.weakref.WeakKeyDictionary())


@pytest.fixture
def cpu_fast(monkeypatch, fresh_cache):
    """Let fast mode run on the CPU: no device check, bf16 autocast + channels_last + an eager 'compile'."""
    speed = {"dtype": "bf16", "channels_last": True, "compile": True, "compile_backend": "eager"}
    monkeypatch.setattr(api, "check_fast", lambda *args, **kwargs: None)
    monkeypatch.setattr(api, "FAST_SPEED", speed)
    return speed


# -- the CPU refusal -----------------------------------------------------------------------------
def test_fast_on_the_cpu_is_one_usage_error_before_any_work(cli, tmp_path, tiny_path):
    random_image(tmp_path / "a.png")
    r = solve(cli, "--input", "a.png", "--prior", tiny_path, "--steps", "2", "--device", "cpu", "--fast")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "--fast needs a CUDA device" in r.err and "drop it on the CPU" in r.err
    assert r.out == "" and no_outputs(tmp_path)


@pytest.mark.skipif(CUDA, reason="a GPU is present")
def test_fast_with_device_auto_and_no_gpu(cli, tmp_path, tiny_path):
    random_image(tmp_path / "a.png")
    r = solve(cli, "--input", "a.png", "--prior", tiny_path, "--steps", "2", "--fast")
    assert r.code == 2 and "--fast needs a CUDA device" in r.err and len(r.err.strip().splitlines()) == 1


def test_api_fast_on_the_cpu_is_one_usage_error_before_loading(monkeypatch, tiny_path):
    def no_loading(*args, **kwargs):
        raise AssertionError("the prior was loaded before the device was checked")

    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    prior = load_prior(tiny_path)  # a loaded prior on the CPU: its device is the one checked
    monkeypatch.setattr(api, "get_prior", no_loading)
    for kwargs in ({"prior": tiny_path}, {"prior": tiny_path, "device": "cpu"}, {"prior": prior}):
        with pytest.raises(api.UsageError, match=r"^fast=True needs a CUDA device .*device='cuda'") as err:
            api.solve(x, task="inpaint", method="ddrm", steps=2, fast=True, **kwargs)
        assert "\n" not in str(err.value)


def test_the_cpu_default_is_channels_last_float32_with_the_same_output(fresh_cache, tiny_path):
    """A prior loaded onto the CPU runs channels_last (api.CPU_SPEED, faster there) and gives what the contiguous
    float32 network gives, to rounding."""
    plain = api.get_prior(tiny_path, "cpu")
    contiguous = load_prior(tiny_path)
    x = torch.randn(2, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([10, 500])
    with torch.no_grad():
        torch.testing.assert_close(plain.x0(x, t), contiguous.x0(x, t), rtol=1e-5, atol=1e-5)
    assert plain.speed.channels_last and plain.speed.dtype == "fp32" and plain.speed.compile is False


# -- the cache never leaks a configured prior ----------------------------------------------------
def test_fast_and_fp32_priors_are_different_cached_objects(fresh_cache, tiny_path):
    plain = api.get_prior(tiny_path, "cpu")
    fast = api.get_prior(tiny_path, "cpu", None, True)
    assert fast is not plain and fast.net is not plain.net
    assert plain.speed == SpeedConfig(**api.CPU_SPEED) and fast.speed == SpeedConfig(**api.FAST_SPEED)
    assert api.get_prior(tiny_path, "cpu") is plain and api.get_prior(tiny_path, "cpu", None, True) is fast
    assert plain.speed == SpeedConfig(**api.CPU_SPEED)  # still: nothing configured it in place
    assert {key[-1] for key in api._PRIORS} == {"fp32", "fast"}


def test_a_loaded_prior_is_copied_once_for_fast_mode_and_left_as_it_was(fresh_cache, tiny_path):
    mine = load_prior(tiny_path)
    fast = api.get_prior(mine, None, None, True)
    assert fast is not mine and fast.net is not mine.net and mine.speed == SpeedConfig()
    assert fast.speed == SpeedConfig(**api.FAST_SPEED)
    assert api.get_prior(mine, None, None, True) is fast  # one copy (one compilation) per object
    assert api.get_prior(mine) is mine
    for a, b in zip(fast.net.parameters(), mine.net.parameters()):
        assert torch.equal(a, b)
    assert api.get_prior(fast, None, None, True) is fast  # already configured so: used as it is
    # a prior configured by hand is copied, not reconfigured, and its own runner is not copied
    compiled = load_prior(tiny_path).configure(compile=True, compile_backend="eager")
    copy = api.get_prior(compiled, None, None, True)
    assert compiled.speed == SpeedConfig(compile=True, compile_backend="eager") and copy._runner is not compiled._runner


# -- the plumbing, on the CPU --------------------------------------------------------------------
def test_fast_plumbing_records_the_mode_and_seeds_the_sampler_per_image(cpu_fast, tiny_path):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    plain = api.solve(x, task="inpaint", method="ddrm", prior=tiny_path, steps=2, seed=3)
    fast = api.solve(x, task="inpaint", method="ddrm", prior=tiny_path, steps=2, seed=3, fast=True)
    assert plain.settings["speed"] == "fp32" and fast.settings["speed"] == "fast"
    assert fast.prior is not plain.prior and fast.prior.speed == SpeedConfig(**cpu_fast)
    assert plain.prior.speed == SpeedConfig(**api.CPU_SPEED)
    assert torch.equal(fast.measurement, plain.measurement)  # the protocol's draws do not move
    # the sampler's generators: fresh ones seeded seed + i on the solving device (here the CPU)
    again = fast.solver.solve(torch.cat([c.y for c in fast.cases]), api.merge_operator(fast.cases), fast.prior,
                              generator=[torch.Generator().manual_seed(3 + i) for i in range(2)],
                              image_shape=(2, 3, 16, 16))
    assert torch.equal(again.x, fast.x)
    assert not torch.equal(fast.x, plain.x)  # another noise stream (and bf16): not the fp32 result


def test_cli_fast_plumbing_writes_the_mode_in_the_settings(cli, tmp_path, tiny_path, cpu_fast):
    random_image(tmp_path / "a.png")
    base = ("--input", "a.png", "--prior", tiny_path, "--steps", "2", "--device", "cpu", "--save-all")
    r = solve(cli, *base, "--fast", "--output", "f.png", "--verbose")
    assert r.code == 0, r.err
    assert "speed: fast" in r.out and "--fast on cpu" in r.out and "fast mode →" in r.out.splitlines()[-1]
    assert yaml.safe_load((tmp_path / "f.settings.yaml").read_text())["settings"]["speed"] == "fast"
    r = solve(cli, *base, "--output", "p.png")
    assert r.code == 0 and "fast mode" not in r.out, r.err
    assert yaml.safe_load((tmp_path / "p.settings.yaml").read_text())["settings"]["speed"] == "fp32"
    assert (tmp_path / "f.measurement.png").read_bytes() == (tmp_path / "p.measurement.png").read_bytes()


def test_help_describes_fast(cli):
    r = cli("solve", "--help")
    text = " ".join(r.out.split())
    assert r.code == 0 and "--fast" in text and "differ slightly from the default fp32 path" in text
    assert "compiles for a minute or more" in text


# -- the real path -------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["ddrm", "dps"])
def test_fast_end_to_end_on_a_gpu(cli, tmp_path, tiny_path, fresh_cache, method):
    """The real fast path (bf16 + channels_last + torch.compile reduce-overhead, CUDA generators), CLI and API."""
    random_image(tmp_path / "a.png")
    base = ("solve", "--task", "inpaint", "--method", method, "--input", "a.png", "--prior", tiny_path,
            "--steps", "3", "--device", "cuda", "--save-all", "--quiet")
    r = cli(*base, "--fast", "--output", "f.png")
    assert r.code == 0, r.err
    assert yaml.safe_load((tmp_path / "f.settings.yaml").read_text())["settings"]["speed"] == "fast"
    assert cli(*base, "--output", "p.png").code == 0
    assert (tmp_path / "f.measurement.png").read_bytes() == (tmp_path / "p.measurement.png").read_bytes()
    assert np.asarray(Image.open(tmp_path / "f.png")).shape == (16, 16, 3)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = api.solve(x, task="inpaint", method=method, prior=tiny_path, steps=3, seed=5, device="cuda", fast=True)
    again = api.solve(x, task="inpaint", method=method, prior=tiny_path, steps=3, seed=5, device="cuda", fast=True)
    assert out.settings["speed"] == "fast" and out.prior.speed == SpeedConfig(**api.FAST_SPEED)
    assert again.prior is out.prior and torch.isfinite(out.x).all() and out.x.shape == (2, 3, 16, 16)
    plain_prior = api.get_prior(tiny_path, "cuda")
    assert plain_prior.speed == SpeedConfig() and plain_prior is not out.prior  # the fp32 entry is untouched
    # the same CUDA generators through the eager fp32 prior: close to the fast result, not identical
    y = torch.cat([c.y for c in out.cases]).cuda()
    ref = out.solver.solve(y, api.merge_operator(out.cases), plain_prior, image_shape=(2, 3, 16, 16),
                           generator=[torch.Generator("cuda").manual_seed(5 + i) for i in range(2)])
    for a, b in zip(out.x, ref.x.cpu()):
        assert psnr(a.numpy() * 255, b.numpy() * 255) > 20
