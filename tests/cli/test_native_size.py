"""Issue 20, part 3: the command line and the API restore an image at its own size with a size-agnostic prior
(tiny random-init networks in invdiff's format), keep today's crop-and-resize for a fixed-size prior, and refuse
what the network cannot take with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import invdiff
from invdiff import api
from invdiff import io as imageio
from tests.priors.helpers import tiny_prior

from .conftest import random_image, run_subprocess

H, W = 18, 30  # non-square, a multiple of the tiny network's down-sampling factor (2)


def holed_rgba(path, h=H, w=W):
    a = np.random.default_rng(5).integers(0, 256, (h, w, 4), dtype=np.uint8)
    a[..., 3] = 255
    a[4:10, 6:20, 3] = 0
    Image.fromarray(a, "RGBA").save(path)
    return path


def test_rgb_rgba_gray_and_16bit_come_back_at_their_own_size(tmp_path, anysize):
    """The real command line (fresh interpreter) on a folder of the four kinds of file the issue names."""
    folder = tmp_path / "in"
    folder.mkdir()
    random_image(folder / "rgb.png", (H, W))
    holed_rgba(folder / "rgba.png")
    random_image(folder / "gray.png", (H, W), mode="L")
    (folder / "deep.png").write_bytes(imageio.png16_bytes(
        np.random.default_rng(1).integers(0, 65536, (H, W, 3), dtype=np.uint16)))
    r = run_subprocess(["solve", "--task", "inpaint", "--method", "ddrm", "--input", "in", "--output", "out",
                        *anysize], tmp_path)
    assert r.code == 0, r.err
    assert "→" not in r.out.split("restored 4 of 4")[0], r.out  # no crop or resize note
    assert "rgba.png: read as an inpaint measurement" in r.out and "rgb.png: read as a clean image" in r.out
    for name, mode in (("rgb", "RGB"), ("rgba", "RGB"), ("gray", "L"), ("deep", "RGB")):
        out = imageio.read_image(tmp_path / "out" / f"{name}.png")
        assert out.size == (H, W) and out.pixels.shape[-1] == len(mode), (name, out.size)
    assert imageio.read_image(tmp_path / "out/deep.png").bit_depth == 16


def test_transparent_hole_is_the_measurement_and_observed_pixels_stay(cli, tmp_path, anysize):
    holed_rgba(tmp_path / "m.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "m.png", "--sigma-y", "0", *anysize)
    assert r.code == 0, r.err
    assert "m.png: read as an inpaint measurement" in r.out and f"{6 * 14 / (H * W):.1%}".replace("%", " %") in r.out
    src = np.asarray(Image.open(tmp_path / "m.png"), float)
    out = np.asarray(Image.open(tmp_path / "m.restored.png"), float)
    observed = src[..., 3] > 0
    assert out.shape == (H, W, 3) and np.abs(out[observed] - src[..., :3][observed]).max() <= 1


def test_sr_measurement_of_h_by_w_gives_4h_by_4w(cli, tmp_path, anysize):
    random_image(tmp_path / "lr.png", (5, 7))
    r = cli("solve", "--task", "sr4", "--method", "ddrm", "--input", "lr.png", "--scale", "4", *anysize)
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "lr.restored.png").size == (28, 20)
    assert "5×7 → 20×28" in r.out and "σ_y 0.05 assumed" in r.out


@pytest.mark.parametrize("task", ["gaussian_blur", "motion_blur", "sr4", "jpeg"])
def test_clean_images_are_degraded_and_restored_at_their_own_size(cli, tmp_path, anysize, task):
    random_image(tmp_path / "x.png", (20, 32))
    r = cli("solve", "--task", task, "--method", "dps", "--input", "x.png", *anysize)
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "x.restored.png").size == (32, 20)
    assert "20×32, degraded with" in r.out


def check_one_line(r, *words):
    lines = [line for line in r.err.splitlines() if "error:" in line]
    assert r.code == 1 and len(lines) == 1 and "Traceback" not in r.err, (r.code, r.err)
    for word in words:
        assert word in lines[0], lines[0]


def test_too_small_and_too_large_inputs_get_one_line(cli, tmp_path, anysize):
    random_image(tmp_path / "thin.png", (1, 12))
    check_one_line(cli("solve", "--task", "gaussian_blur", "--method", "ddrm", "--input", "thin.png", *anysize),
                   "thin.png is 1×12", "at least 2 px")
    random_image(tmp_path / "x.png", (12, 14))
    np.save(tmp_path / "k.npy", np.ones((13, 13)))
    check_one_line(cli("solve", "--task", "motion_blur", "--method", "ddrm", "--input", "x.png", "--kernel", "k.npy",
                       *anysize), "13×13 kernel is larger than the 12×14 image")
    Image.new("L", (16, 16), 255).save(tmp_path / "mask.png")
    check_one_line(cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", "--mask", "mask.png",
                       *anysize), "the mask is 16×16", "12×14")
    random_image(tmp_path / "odd.png", (13, 14))
    check_one_line(cli("solve", "--task", "sr4", "--method", "ddrm", "--input", "odd.png", *anysize),
                   "divisible by 4", "crop it to 12×12")


def test_fixed_size_prior_keeps_crop_and_resize_and_says_so(cli, tmp_path, tiny):
    random_image(tmp_path / "x.png", (H, W))
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", *tiny)
    assert r.code == 0, r.err
    assert "30×18 → 16×16" in r.out and "works at 16×16 only" in r.out
    assert Image.open(tmp_path / "x.restored.png").size == (16, 16)


def test_default_prior_is_natural_and_not_installed_is_one_line(cli, tmp_path, monkeypatch):
    from invdiff.priors import registry

    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path / "no-weights")
    random_image(tmp_path / "x.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", "--steps", "2")
    check_one_line(r, "'natural'", "not installed", "--prior faces64")
    with pytest.raises(api.PriorNotInstalled, match="'natural'"):
        invdiff.solve(np.zeros((8, 8, 3)), task="inpaint", method="ddrm", steps=2)


# -- the API ------------------------------------------------------------------------------------
def test_api_restores_at_the_image_size(anysize_path):
    x = torch.rand(3, H, W, generator=torch.Generator().manual_seed(0))
    r = invdiff.solve(x, task="gaussian_blur", method="ddrm", prior=anysize_path, steps=2)
    assert r.image.shape == (3, H, W) and r.measurement.shape == (3, H, W) and r.settings["any_size"]
    lr = torch.rand(3, 5, 6, generator=torch.Generator().manual_seed(1))
    r = invdiff.solve(lr, task="sr4", method="ddrm", prior=anysize_path, steps=2, scale=4)
    assert r.image.shape == (3, 20, 24) and r.settings["images"][0]["size"] == "20×24"
    assert invdiff.fit_to_prior(x, anysize_path) is x


def test_a_network_without_attention_counts_as_size_agnostic(tiny_path):
    fixed = invdiff.load_prior(tiny_path)
    assert not api.any_size(fixed) and api.native_size(fixed) == 16 and api.smallest_side(fixed) == 2
    free = tiny_prior(seed=1)
    from invdiff.priors.unet_blocks import AttentionBlock

    for parent in list(free.net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, AttentionBlock):
                setattr(parent, name, torch.nn.Identity())
    assert api.any_size(free) and api.native_size(free) is None
    free.meta["any_size"] = False  # a JSON may pin a prior to its resolution
    assert not api.any_size(free)


# -- tiling (the priors layer's TileConfig, issue 20 part 2) ------------------------------------------------
needs_tiling = pytest.mark.skipif(not hasattr(invdiff.priors.DiffusionPrior, "tiling"),
                                  reason="this checkout's priors have no tiling setting yet")


@needs_tiling
def test_api_tiling_runs_on_a_copy_of_the_prior():
    from tests.priors.conv_helpers import conv_prior

    prior = conv_prior()
    x = torch.rand(3, 24, 40, generator=torch.Generator().manual_seed(0))
    r = invdiff.solve(x, task="gaussian_blur", method="ddrm", prior=prior, steps=2,
                      tiling={"mode": "on", "tile_size": 16, "overlap": 8})
    assert r.image.shape == (3, 24, 40) and r.prior.tiling.mode == "on" and r.prior.tiling.tile_size == 16
    assert prior.tiling.mode == "auto" and r.prior is not prior


@needs_tiling
def test_cli_tiling_flags_reach_the_prior(cli, tmp_path, anysize):
    random_image(tmp_path / "x.png", (H, W))
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", *anysize, "--tiling", "off")
    assert r.code == 0 and "network tiling: mode off, tile_size 512, overlap 64" in r.out, r.err
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "x.png", *anysize, "--tiling", "on",
            "--tile-size", "8", "--tile-overlap", "4", "--overwrite")
    assert r.code == 1 and "attention layers" in r.err  # the tiny ADM U-Net has middle-block attention: no tiles


@needs_tiling  # pad-and-crop came with the tiling
def test_odd_size_is_restored_at_its_own_size(anysize_path):
    x = np.random.default_rng(0).random((17, 31, 3))
    r = invdiff.solve(x, task="inpaint", method="ddrm", prior=anysize_path, steps=2)
    assert r.image.shape == (17, 31, 3)
