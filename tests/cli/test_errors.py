"""Bad input through the real command line: one line on stderr, exit 2 (usage) or 1 (bad data), no traceback,
no file written. Every case builds the offending file itself."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from invdiff import io as imageio

from .conftest import FACES64, no_outputs, random_image, run_subprocess, with_hole


def check(r, code: int, *words: str) -> None:
    assert r.code == code, (r.code, r.err)
    lines = [line for line in r.err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    for word in words:
        assert word in lines[0], lines[0]


def solve(cli, tiny, *args, task="inpaint", method="ddrm"):
    return cli("solve", "--task", task, "--method", method, *tiny, *args)


def _truncated(path):
    random_image(path, 32)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _huge(path):
    Image.new("1", (8200, 8200)).save(path)


def _npy_nan(path):
    a = np.full((16, 16, 3), 0.5)
    a[3, 3, 1] = np.nan
    np.save(path, a)


BAD_FILES = {
    "empty.png": (lambda p: p.write_bytes(b""), "empty"),
    "text.png": (lambda p: p.write_text("hello"), "not an image"),
    "truncated.png": (_truncated, "truncated"),
    "truncated.jpg": (_truncated, "truncated"),
    "huge.png": (_huge, "8192×8192"),
    "nan.npy": (_npy_nan, "NaN"),
    "int32.tif": (lambda p: Image.fromarray(np.zeros((16, 16), np.int32)).save(p), "mode I"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unusable_input_files(cli, tmp_path, tiny, name):
    make, words = BAD_FILES[name]
    make(tmp_path / name)
    check(solve(cli, tiny, "--input", name), 1, name, words)
    assert no_outputs(tmp_path)


def test_missing_input_is_a_usage_error(cli, tmp_path, tiny):
    check(solve(cli, tiny, "--input", "nowhere.png"), 2, "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_input(cli, tmp_path, tiny):
    random_image(tmp_path / "locked.png").chmod(0)
    check(solve(cli, tiny, "--input", "locked.png"), 1, "locked.png")


def test_measurement_of_the_wrong_size(cli, tmp_path, tiny):
    with_hole(tmp_path / "m.png", size=12)  # a measurement (alpha holes) for a 16×16 prior, not a multiple of 8
    check(solve(cli, tiny, "--input", "m.png"), 1, "12×12", "16×16", "never resized")
    random_image(tmp_path / "lr.png", 8)
    check(solve(cli, tiny, "--input", "lr.png", "--scale", "4", task="sr4"), 1, "must be 4×4")
    assert no_outputs(tmp_path)


def test_bad_masks(cli, tmp_path, tiny):
    random_image(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "small.png")
    check(solve(cli, tiny, "--input", "a.png", "--mask", "small.png"), 1, "8×8", "never resized")
    grey = np.full((16, 16), 255, np.uint8)
    grey[2:5, 2:5] = 100
    Image.fromarray(grey).save(tmp_path / "grey.png")
    check(solve(cli, tiny, "--input", "a.png", "--mask", "grey.png"), 1, "not binary")
    random_image(tmp_path / "colour.png")
    check(solve(cli, tiny, "--input", "a.png", "--mask", "colour.png"), 1, "colour")
    check(solve(cli, tiny, "--input", "a.png", "--mask", "absent.png"), 2, "absent.png")
    with_hole(tmp_path / "holes.png")
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "ok.png")
    check(solve(cli, tiny, "--input", "holes.png", "--mask", "ok.png"), 2, "only one")
    assert no_outputs(tmp_path)


def test_bad_kernels(cli, tmp_path, tiny):
    random_image(tmp_path / "a.png")
    np.save(tmp_path / "k3.npy", np.ones((5, 5, 3)))
    check(solve(cli, tiny, "--input", "a.png", "--kernel", "k3.npy", task="motion_blur"), 1, "2-D")
    np.save(tmp_path / "zero.npy", np.zeros((5, 5)))
    check(solve(cli, tiny, "--input", "a.png", "--kernel", "zero.npy", task="motion_blur"), 1, "all zero")
    np.save(tmp_path / "big.npy", np.ones((21, 21)))
    check(solve(cli, tiny, "--input", "a.png", "--kernel", "big.npy", task="gaussian_blur"), 1, "larger")
    assert no_outputs(tmp_path)


@pytest.mark.parametrize("args, words", [
    (["--task", "deblur", "--method", "ddrm"], ["--task", "invalid choice"]),
    (["--task", "inpaint", "--method", "magic"], ["--method", "invalid choice"]),
    (["--task", "inpaint"], ["--method is required"]),
    (["--task", "jpeg", "--method", "ddrm"], ["ddrm cannot solve jpeg"]),
    (["--task", "jpeg", "--method", "repaint", "--sigma-y", "0.05"], ["repaint cannot solve jpeg"]),
    (["--task", "sr4", "--method", "ddrm", "--mask", "m.png"], ["--mask applies to --task inpaint"]),
    (["--task", "inpaint", "--method", "ddrm", "--quality", "50"], ["--quality applies"]),
    (["--task", "inpaint", "--method", "ddrm", "--seed", "-1"], ["seed"]),
    (["--task", "inpaint", "--method", "ddrm", "--steps", "0"], ["steps"]),
    (["--task", "inpaint", "--method", "ddrm", "--seed", "x"], ["--seed"]),
    (["--task", "inpaint", "--method", "ddrm", "--prior", "no_such_prior"], ["unknown prior"]),
    (["--task", "inpaint", "--method", "ddrm", "--device", "quantum"], ["unknown device"]),
    (["--task", "inpaint", "--method", "ddrm", "--output", "r.gif"], ["unsupported suffix"]),
    (["--task", "inpaint", "--method", "ddrm", "--no-degrade"], ["needs a mask"]),
    (["--task", "motion_blur", "--method", "ddrm", "--no-degrade"], ["needs a kernel"]),
    (["--task", "inpaint", "--method", "ddrm", "--invert-mask"], ["--invert-mask needs --mask"]),
])
def test_usage_errors(cli, tmp_path, tiny_path, args, words):
    random_image(tmp_path / "a.png")
    check(cli("solve", "--input", "a.png", "--prior", tiny_path, "--device", "cpu", *args), 2, *words)
    assert no_outputs(tmp_path)


def test_bad_config_files(cli, tmp_path, tiny):
    random_image(tmp_path / "a.png")
    (tmp_path / "broken.yaml").write_text("method: [ddrm\n")
    check(solve(cli, tiny, "--input", "a.png", "--config", "broken.yaml"), 2, "not valid YAML")
    (tmp_path / "typo.yaml").write_text("stpes: 3\n")
    check(solve(cli, tiny, "--input", "a.png", "--config", "typo.yaml"), 2, "unknown setting 'stpes'")
    (tmp_path / "solver.yaml").write_text("methods: {ddrm: {etta: 1}}\n")
    check(solve(cli, tiny, "--input", "a.png", "--config", "solver.yaml"), 2, "no setting 'etta'")


def test_transparent_pixels_outside_inpainting(cli, tmp_path, tiny):
    with_hole(tmp_path / "h.png")
    check(solve(cli, tiny, "--input", "h.png", task="sr4"), 1, "transparent pixels")


def test_jpeg_without_standard_tables_needs_a_quality(cli, tmp_path, tiny):
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "odd.jpg", qtables=[[7] * 64, [9] * 64])
    check(solve(cli, tiny, "--input", "odd.jpg", task="jpeg", method="dps"), 2, "--quality")
    assert solve(cli, tiny, "--input", "odd.jpg", "--quality", "40", task="jpeg", method="dps").code == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu(cli, tmp_path, tiny_path):
    random_image(tmp_path / "a.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "a.png", "--prior", tiny_path,
            "--device", "cuda")
    check(r, 1, "no CUDA GPU", "--device cpu")


@pytest.mark.skipif(FACES64, reason="the faces64 weights are installed")
def test_missing_builtin_weights(cli, tmp_path):
    random_image(tmp_path / "a.png")
    check(cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "a.png", "--device", "cpu"), 1,
          "not installed")


def test_errors_through_a_fresh_interpreter(tmp_path):
    """The console-script path: an argparse error is one line with exit code 2 (data errors: tests above)."""
    r = run_subprocess(["solve", "--task", "nope", "--method", "ddrm", "--input", "a.png"], tmp_path)
    check(r, 2, "invalid choice")
    assert no_outputs(tmp_path)


def test_api_rejects_nan_and_wrong_sizes(tiny_path):
    import invdiff

    x = torch.full((3, 16, 16), 0.5)
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        invdiff.solve(x, task="inpaint", method="ddrm", prior=tiny_path, steps=2)
    with pytest.raises(ValueError, match="fit_to_prior"):
        invdiff.solve(torch.rand(3, 20, 20), task="inpaint", method="ddrm", prior=tiny_path, steps=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        invdiff.solve(torch.rand(3, 16, 16) * 255, task="inpaint", method="ddrm", prior=tiny_path, steps=2)
    with pytest.raises(ValueError, match="binary"):
        invdiff.solve(torch.rand(3, 16, 16), task="inpaint", method="ddrm", prior=tiny_path, mask=torch.rand(16, 16))
    assert imageio.MAX_PIXELS == 8192 * 8192


def test_gaussian_blur_keeps_its_boundary_with_a_given_kernel(cli, tmp_path, tiny):
    """Issue 14, item 5: a saved Gaussian kernel solves with the reflect boundary; a 2-D kernel gets one clear line."""
    random_image(tmp_path / "a.png")
    r = cli("solve", "--task", "gaussian_blur", "--method", "ddrm", "--input", "a.png", "--output", "out/r.png",
            *tiny, "--save-all", "--seed", "0")
    assert r.code == 0, r.err
    first = yaml.safe_load((tmp_path / "out/r.settings.yaml").read_text())
    r = cli("solve", "--task", "gaussian_blur", "--method", "ddrm", "--input", "out/r.measurement.png", "--kernel",
            "out/r.kernel.png", "--output", "again.png", "--save-all", *tiny)
    assert r.code == 0, r.err
    again = yaml.safe_load((tmp_path / "again.settings.yaml").read_text())
    assert "reflect" in str(first) and "reflect" in str(again) and "circular" not in str(again)
    np.save(tmp_path / "diag.npy", np.eye(3) / 3)
    check(solve(cli, tiny, "--input", "a.png", "--kernel", "diag.npy", task="gaussian_blur"), 1, "--task motion_blur")
