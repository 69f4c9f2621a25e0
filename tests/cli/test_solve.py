"""``invdiff solve`` through its entry point: input reading rules, sizes, outputs, folders, settings layers."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from invdiff import io as imageio

from .conftest import REPO, needs_faces64, no_outputs, random_image, run_subprocess, with_hole


def test_user_command_on_rgb_and_rgba_png(tmp_path, tiny):
    """The issue's exact command (plus the tiny prior and 2 steps), in a fresh interpreter."""
    random_image(tmp_path / "img.png")
    r = run_subprocess(["solve", "--task", "inpaint", "--method", "dps", "--input", "img.png", *tiny], tmp_path)
    assert r.code == 0, r.err
    assert "read as a clean image" in r.out and "img.restored.measurement.png" in r.out
    assert "restored 1 of 1 image(s)" in r.out.splitlines()[-1] and "NFE 2" in r.out
    assert Image.open(tmp_path / "img.restored.png").size == (16, 16)
    measurement = imageio.read_image(tmp_path / "img.restored.measurement.png")
    assert measurement.alpha is not None and 0 < (measurement.alpha == 0).mean() < 1  # the drawn box

    with_hole(tmp_path / "rgba.png")
    r = run_subprocess(["solve", "--task", "inpaint", "--method", "dps", "--input", "rgba.png", *tiny], tmp_path)
    assert r.code == 0, r.err
    assert "clean image" not in r.out and not (tmp_path / "rgba.restored.measurement.png").exists()
    out = Image.open(tmp_path / "rgba.restored.png")
    assert out.mode == "RGB" and out.size == (16, 16)


@needs_faces64
def test_user_command_with_the_shipped_prior(cli, tmp_path):
    Image.open(REPO / "data/samples/face.png").save(tmp_path / "img.png")
    r = cli("solve", "--task", "inpaint", "--method", "dps", "--input", "img.png", "--prior", "faces64", "--steps", "2")
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "img.restored.png").size == (64, 64)


def test_alpha_holes_are_the_measurement_and_observed_pixels_stay(cli, tmp_path, tiny):
    with_hole(tmp_path / "rgba.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "rgba.png", "--sigma-y", "0", *tiny,
            "--save-all")
    assert r.code == 0, r.err
    record = yaml.safe_load((tmp_path / "rgba.restored.settings.yaml").read_text())
    assert record["image"]["reading"] == "measurement" and record["image"]["fraction_missing"] == 16 / 256
    src = np.asarray(Image.open(tmp_path / "rgba.png"), float)[..., :3]
    out = np.asarray(Image.open(tmp_path / "rgba.restored.png"), float)
    observed = np.ones((16, 16), bool)
    observed[4:8, 4:8] = False
    assert np.abs(out - src)[observed].max() <= 1  # noiseless DDRM keeps observed pixels (8-bit rounding)
    mask = np.asarray(Image.open(tmp_path / "rgba.restored.mask.png"))
    assert np.array_equal(mask == 255, observed)
    assert Image.open(tmp_path / "rgba.restored.side_by_side.png").size == (16 * 2 + 2, 16)


def test_save_all_for_a_degraded_clean_image(cli, tmp_path, tiny):
    random_image(tmp_path / "a.png")
    r = cli("solve", "--task", "motion_blur", "--method", "ddrm", "--input", "a.png", "--output", "out/r.png",
            *tiny, "--save-all", "--seed", "0")
    assert r.code == 0, r.err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["r.kernel.png", "r.measurement.png", "r.png", "r.settings.yaml", "r.side_by_side.png"]
    assert Image.open(tmp_path / "out/r.side_by_side.png").size == (16 * 3 + 4, 16)
    record = yaml.safe_load((tmp_path / "out/r.settings.yaml").read_text())
    assert record["settings"]["seed"] == 0 and record["settings"]["solver"]["steps"] == 2
    # the saved kernel and measurement solve the same problem again, now read as a measurement
    r = cli("solve", "--task", "motion_blur", "--method", "ddrm", "--input", "out/r.measurement.png", "--kernel",
            "out/r.kernel.png", "--output", "again.png", *tiny)
    assert r.code == 0 and "clean image" not in r.out


def test_sizes_clean_images_are_fitted_measurements_are_not(cli, tmp_path, tiny):
    random_image(tmp_path / "wide.png", (21, 13))  # 13 wide, 21 high, not divisible by 8
    r = cli("solve", "--task", "sr4", "--method", "ddrm", "--input", "wide.png", *tiny)
    assert r.code == 0, r.err
    assert "13×21 → 16×16" in r.out and Image.open(tmp_path / "wide.restored.png").size == (16, 16)
    assert Image.open(tmp_path / "wide.restored.measurement.png").size == (4, 4)
    random_image(tmp_path / "lr.png", 4)  # 4 × 4 = 16: the low-resolution measurement
    r = cli("solve", "--task", "sr4", "--method", "ddrm", "--input", "lr.png", *tiny)
    assert r.code == 0 and "clean image" not in r.out
    assert Image.open(tmp_path / "lr.restored.png").size == (16, 16)


def test_degrade_flags_force_the_reading(cli, tmp_path, tiny):
    random_image(tmp_path / "lr.png", 4)
    r = cli("solve", "--task", "sr4", "--method", "ddrm", "--input", "lr.png", "--degrade", *tiny)
    assert r.code == 0 and "clean image (forced by --degrade" in r.out and "4×4 → 16×16" in r.out
    with_hole(tmp_path / "rgba.png")
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "rgba.png", "--degrade", *tiny)
    assert r.code == 0 and "fraction_missing 0.0625" in r.out  # the alpha holes degrade the clean pixels
    random_image(tmp_path / "b.png")
    r = cli("solve", "--task", "gaussian_blur", "--method", "ddrm", "--input", "b.png", "--no-degrade", *tiny)
    assert r.code == 0 and not (tmp_path / "b.restored.measurement.png").exists()


def test_jpeg_file_is_a_measurement_with_its_own_quality(cli, tmp_path, tiny):
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "q.jpg", quality=30)
    r = cli("solve", "--task", "jpeg", "--method", "dps", "--input", "q.jpg", *tiny, "--save-all")
    assert r.code == 0, r.err
    image = yaml.safe_load((tmp_path / "q.restored.settings.yaml").read_text())["image"]
    assert (image["reading"], image["quality"], image["sigma_y"]) == ("measurement", 30, 0.0)


def test_grayscale_and_16bit_keep_their_mode_and_depth(cli, tmp_path, tiny):
    random_image(tmp_path / "g.png", mode="L")
    assert cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "g.png", *tiny).code == 0
    assert Image.open(tmp_path / "g.restored.png").mode == "L"
    x = np.random.default_rng(1).integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    (tmp_path / "d.png").write_bytes(imageio.png16_bytes(x))
    r = cli("solve", "--task", "gaussian_blur", "--method", "ddrm", "--input", "d.png", *tiny)
    assert r.code == 0, r.err
    out = imageio.read_image(tmp_path / "d.restored.png")
    assert out.bit_depth == 16 and out.pixels.shape == (16, 16, 3)
    assert len(np.unique(np.round(out.pixels * 65535) % 257)) > 1  # not 8-bit values scaled up


def test_exif_rotated_input_is_solved_upright(cli, tmp_path, tiny):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "r.png", exif=exif)
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "r.png", *tiny)
    assert r.code == 0 and "applied EXIF orientation 6" in r.out and "16×24 → 16×16" in r.out


def test_folder_batches_keep_going_past_a_bad_file(cli, tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        random_image(src / f"{i}.png", seed=i)
    (src / "1b.png").write_bytes(b"\x89PNG broken")
    (src / "notes.txt").write_text("not an image")
    r = cli("solve", "--task", "sr4", "--method", "ddrm", "--input", "in", "--batch-size", "2", *tiny)
    assert r.code == 1
    assert r.err.count("error:") == 1 and "1b.png" in r.err
    assert sorted(p.name for p in (tmp_path / "in.restored").glob("?.png")) == ["0.png", "1.png", "2.png"]
    assert "restored 3 of 4 image(s)" in r.out and "1 failed" in r.out and "skipped 1 file" in r.out
    # image i of the folder uses seed + i: the batch gives what one-by-one runs give
    for i in range(3):
        r = cli("solve", "--task", "sr4", "--method", "ddrm", "--input", f"in/{i}.png", "--seed", [0, 1, 3][i],
                "--output", f"single{i}.png", *tiny)
        assert r.code == 0, r.err
        batch = np.asarray(Image.open(tmp_path / f"in.restored/{i}.png"), int)
        assert np.abs(np.asarray(Image.open(tmp_path / f"single{i}.png"), int) - batch).max() <= 1


def test_existing_outputs_need_overwrite(cli, tmp_path, tiny):
    random_image(tmp_path / "a.png")
    args = ("solve", "--task", "inpaint", "--method", "ddrm", "--input", "a.png", *tiny)
    assert cli(*args).code == 0
    before = (tmp_path / "a.restored.png").read_bytes()
    r = cli(*args, "--seed", "5")
    assert r.code == 2 and "--overwrite" in r.err and len(r.err.strip().splitlines()) == 1
    assert (tmp_path / "a.restored.png").read_bytes() == before
    assert cli(*args, "--seed", "5", "--overwrite").code == 0
    assert (tmp_path / "a.restored.png").read_bytes() != before


def test_quiet_verbose_and_config_layers(cli, tmp_path, tiny_path):
    random_image(tmp_path / "a.png")
    (tmp_path / "c1.yaml").write_text("method: ddrm\nsteps: 3\nmethods: {ddrm: {eta: 0.5}}\n")
    (tmp_path / "c2.yaml").write_text("seed: 7\nmethods: {ddrm: {eta_b: 0.9}}\n")
    r = cli("solve", "--task", "inpaint", "--input", "a.png", "--prior", tiny_path, "--config", "c1.yaml",
            "--config", "c2.yaml", "--steps", "2", "--verbose", "--save-all")
    assert r.code == 0, r.err
    assert "effective settings:" in r.out and "eta: 0.5" in r.out
    s = yaml.safe_load((tmp_path / "a.restored.settings.yaml").read_text())["settings"]
    assert (s["seed"], s["solver"]["steps"], s["solver"]["eta"], s["solver"]["eta_b"]) == (7, 2, 0.5, 0.9)
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "a.png", "--prior", tiny_path,
            "--steps", "2", "--output", "q.png", "--quiet")
    assert r.code == 0 and r.out == "" and r.err == ""


@pytest.mark.parametrize("preset", ["tasks/faces64.yaml", "tasks/dps_ffhq256.yaml", "methods/dps.yaml",
                                    "methods/ddrm.yaml", "methods/repaint.yaml", "methods/sr3.yaml",
                                    "methods/diffpir.yaml", "methods/ddnm.yaml", "methods/pigdm.yaml",
                                    "methods/daps.yaml"])
def test_shipped_configs_are_valid(preset):
    from invdiff import config

    path = REPO / "configs" / preset
    settings = config.resolve([path])
    assert settings["method"] in (None, "dps", "ddrm", "repaint", "sr3", "diffpir", "ddnm", "pigdm", "daps")


def test_faces64_preset_states_the_builtin_protocol():
    import torch

    from invdiff import config
    from invdiff.tasks import TASKS, make_problem

    preset = config.resolve([REPO / "configs/tasks/faces64.yaml"])["protocol"]
    for task in TASKS:
        built_in = make_problem(task, 64, torch.Generator().manual_seed(0)).details
        stated = make_problem(task, 64, torch.Generator().manual_seed(0), **preset[task]).details
        assert stated == built_in, task


def test_info_commands(cli):
    r = cli("tasks")
    assert r.code == 0 and "inpaint" in r.out and "a JPEG file" in r.out
    r = cli("methods")
    row = next(line for line in r.out.splitlines() if line.startswith("ddrm"))
    assert r.code == 0 and "no (1)" in row and row.split()[-2:] == ["20", "no"] and "ddrm × jpeg" in r.out
    r = cli("priors")
    assert r.code == 0 and "faces64" in r.out


def test_no_output_left_by_a_failed_single_run(cli, tmp_path, tiny):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", "bad.png", *tiny).code == 1
    assert no_outputs(tmp_path)
