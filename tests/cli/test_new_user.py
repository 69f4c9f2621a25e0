"""Issue 17: what a new user trips over in ``invdiff solve`` and ``invdiff.solve`` (each test failed before its fix)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

import invdiff
from invdiff import api
from invdiff import io as imageio

from .conftest import random_image, run_subprocess, with_hole


def smooth(size: int = 16, seed: int = 0) -> np.ndarray:
    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


# -- bug 1: from_batch clamps before the integer conversion ---------------------------------------
def test_from_batch_clips_instead_of_wrapping_around():
    x = torch.tensor([-0.3, -0.001, 0.5, 1.001, 1.4], dtype=torch.float64).reshape(1, 1, 1, 5).expand(1, 3, 1, 5)
    u8 = imageio.from_batch(x, imageio.Kind("numpy", False, np.dtype(np.uint8)))
    assert u8[0, :, 0].tolist() == [0, 0, 128, 255, 255]
    u16 = imageio.from_batch(x, imageio.Kind("numpy", False, np.dtype(np.uint16)))
    assert u16[0, :, 0].tolist() == [0, 0, 32768, 65535, 65535]
    t = imageio.from_batch(x, imageio.Kind("tensor", False, torch.uint8, "cpu"))
    assert t[0, 0].tolist() == [0, 0, 128, 255, 255]
    pil = imageio.from_batch(x, imageio.Kind("pil", False, pil_mode="RGB"))
    assert np.asarray(pil)[0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_api_measurement_has_no_wrapped_pixels(tiny_path):
    dark = np.full((16, 16, 3), 2, np.uint8)  # noise at σ_y 0.05 pushes many pixels below 0
    r = invdiff.solve(dark, task="gaussian_blur", method="ddrm", prior=tiny_path, steps=2)
    y = r.cases[0].y[0].permute(1, 2, 0).numpy()
    assert (y < 0).any()  # the float measurement leaves [0, 1] …
    assert r.measurement.max() < 40  # … but the uint8 one is clipped to black, not wrapped to ~255


# -- bug 4: --degrade on an RGBA measurement for a fixed-size prior ------------------------------
def test_degrade_on_rgba_crops_its_alpha_alike(cli, tmp_path, tiny):
    a = np.random.default_rng(0).integers(0, 256, (24, 24, 4), dtype=np.uint8)
    a[..., 3] = 255
    a[6:12, 6:12, 3] = 0
    Image.fromarray(a, "RGBA").save(tmp_path / "hole.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "hole.png", *tiny)
    assert r.code == 1 and "--degrade" in r.err  # the advice …
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "hole.png", "--degrade", *tiny)
    assert r.code == 0, r.err  # … works
    assert "24×24 → 16×16" in r.out and "its alpha alike" in r.out
    measurement = imageio.read_image(tmp_path / "hole.restored.measurement.png")
    assert measurement.size == (16, 16) and (measurement.alpha == 0).sum() == 16  # the 6×6 hole at 2/3 scale


# -- bug 5: the API takes the masks the command line takes ----------------------------------------
@pytest.mark.parametrize("kind", ["01-float", "0-255-uint8", "bool", "0-65535-uint16", "pil"])
def test_api_accepts_binary_masks_in_every_form(tiny_path, kind):
    observed = np.ones((16, 16), bool)
    observed[4:9, 3:11] = False
    mask = {"01-float": observed.astype(np.float32), "0-255-uint8": observed.astype(np.uint8) * 255,
            "bool": torch.from_numpy(observed), "0-65535-uint16": observed.astype(np.uint16) * 65535,
            "pil": Image.fromarray(observed.astype(np.uint8) * 255)}[kind]
    r = invdiff.solve(smooth(), task="inpaint", method="ddrm", prior=tiny_path, steps=2, mask=mask)
    assert torch.equal(r.mask[0], torch.from_numpy(observed).float())


def test_api_still_refuses_grey_masks(tiny_path):
    with pytest.raises(api.DataError, match="binary"):
        invdiff.solve(smooth(), task="inpaint", method="ddrm", prior=tiny_path, steps=2,
                      mask=np.full((16, 16), 128, np.uint8))


# -- bug 6: small message bugs ---------------------------------------------------------------------
def test_methods_print_no_none(cli):
    r = cli("methods")
    assert r.code == 0 and "None" not in r.out and "zeta per task (inpaint 0.5, sr4 1" in r.out
    rows = {line.split()[0]: line.split() for line in r.out.splitlines()[1:10] if line.strip()}
    assert r.out.splitlines()[0].split()[-2:] == ["NFE", "backprop"]  # issue 16: cost of each method at a glance
    assert rows["dps"][-2:] == ["1000", "yes"] and rows["pigdm"][-2:] == ["100", "yes"]
    assert rows["repaint"][-2:] == ["2410", "no"] and rows["ddnm"][-2:] == ["100", "no"]


def test_article_before_a_task_name(cli, tmp_path, tiny):
    random_image(tmp_path / "x.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", "--no-degrade", *tiny)
    assert r.code == 2 and "as an inpaint measurement" in r.err and "a inpaint" not in r.err


def test_measurement_saved_line_only_once_the_file_exists(cli, tmp_path, tiny, monkeypatch):
    random_image(tmp_path / "x.png")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "solve_cases", interrupted)
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", *tiny)
    assert r.code == 130 and not (tmp_path / "x.restored.measurement.png").exists()
    assert "saved to" not in r.out and "degraded with the inpaint protocol" in r.out


def test_measurement_saved_line_follows_the_write(cli, tmp_path, tiny):
    random_image(tmp_path / "x.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", *tiny)
    lines = r.out.splitlines()
    saved = next(i for i, line in enumerate(lines) if "measurement saved to" in line)
    assert r.code == 0 and saved > next(i for i, line in enumerate(lines) if "degraded with" in line)


@pytest.mark.parametrize("command", ["solve", "bench", "train", "tasks", "methods", "priors", None])
def test_help_has_no_restructuredtext_markup(cli, command):
    r = cli(*([command] if command else []), "--help")
    assert r.code == 0 and r.out
    for markup in ("``", ":mod:", ":func:", ":class:", ":data:", "**"):
        assert markup not in r.out, (command, markup)


def test_failing_folder_file_is_named_once(cli, tmp_path, tiny):
    (tmp_path / "in").mkdir()
    random_image(tmp_path / "in/a.png")
    (tmp_path / "in/b.png").write_text("not a png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "in", *tiny)
    assert r.code == 1
    line, = [line for line in r.err.splitlines() if "b.png" in line]
    assert line.count("b.png") == 1, line


def test_wrong_size_mask_prints_no_fraction_first(cli, tmp_path, tiny):
    random_image(tmp_path / "x.png")
    Image.new("L", (12, 12), 255).save(tmp_path / "mask.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", "--mask", "mask.png", *tiny)
    assert r.code == 1 and "12×12" in r.err and "pixels to fill" not in r.out


# -- expected and missing ---------------------------------------------------------------------------
def test_version(tmp_path):
    r = run_subprocess(["--version"], tmp_path)
    assert r.code == 0 and r.out.strip() == f"invdiff {invdiff.__version__}"


def test_threads_flag_is_used_and_printed(cli, tmp_path, tiny, monkeypatch):
    random_image(tmp_path / "x.png")
    seen = []
    solve_cases = api.solve_cases
    monkeypatch.setattr(api, "solve_cases", lambda *a, **k: (seen.append(torch.get_num_threads()),
                                                              solve_cases(*a, **k))[1])
    before = torch.get_num_threads()
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", "--threads", "1", *tiny)
    assert r.code == 0, r.err
    assert seen == [1] and "on the CPU with 1 thread " in r.out and torch.get_num_threads() == before
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", "--threads", "0", *tiny)
    assert r.code == 2 and "--threads" in r.err


def test_api_threads(tiny_path, monkeypatch):
    before = torch.get_num_threads()
    r = invdiff.solve(smooth(), task="sr4", method="ddrm", prior=tiny_path, steps=2, threads=1)
    assert r.settings["threads"] == 1 and torch.get_num_threads() == before
    with pytest.raises(api.UsageError, match="threads"):
        invdiff.solve(smooth(), task="sr4", method="ddrm", prior=tiny_path, steps=2, threads=0)


def test_measurement_input_says_how_it_was_read(cli, tmp_path, tiny):
    with_hole(tmp_path / "m.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "m.png", *tiny)
    assert r.code == 0, r.err
    assert re.search(r"m\.png: read as an inpaint measurement \(its alpha channel.*6\.2 % of pixels to fill; "
                     r"σ_y 0\.05 assumed", r.out), r.out
    Image.fromarray(smooth()).save(tmp_path / "q.jpg", quality=37)
    r = cli("solve", "--task", "jpeg", "--method", "dps", "--input", "q.jpg", *tiny)
    assert r.code == 0, r.err
    assert re.search(r"q\.jpg: read as a jpeg measurement .*quality 37 \(detected from its quantisation tables\); "
                     r"σ_y 0 assumed", r.out), r.out


def test_progress_bar_shows_time_left_on_the_cpu(tmp_path, tiny):
    random_image(tmp_path / "x.png")
    r = run_subprocess(["solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", *tiny], tmp_path)
    assert r.code == 0 and re.search(r"2/2 \[\d\d:\d\d<\d\d:\d\d", r.err), r.err


# -- issue 14, item 6: float64 in, float64 solve --------------------------------------------------
def test_float64_input_is_solved_in_float64(tiny_path):
    x = torch.from_numpy(smooth()).permute(2, 0, 1).double() / 255
    r = invdiff.solve(x, task="gaussian_blur", method="ddrm", prior=tiny_path, steps=2)
    assert r.x.dtype == torch.float64 and r.settings["dtype"] == "float64" and r.image.dtype == torch.float64
    r32 = invdiff.solve(x.float(), task="gaussian_blur", method="ddrm", prior=tiny_path, steps=2)
    assert r32.x.dtype == torch.float32 and r32.settings["dtype"] == "float32"
