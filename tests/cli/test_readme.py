"""The README's library example runs as written (with faces64), and its code path runs with a tiny prior."""

from __future__ import annotations

import re
import runpy
import shutil

import pytest
from PIL import Image

from .conftest import REPO, needs_faces64


def example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no python block after <!-- api-example -->"
    return match.group(1)


def run_example(code: str, folder, monkeypatch) -> None:
    (folder / "data/samples").mkdir(parents=True)
    shutil.copy(REPO / "data/samples/face.png", folder / "data/samples/face.png")
    (folder / "readme_example.py").write_text(code)
    monkeypatch.chdir(folder)
    runpy.run_path(str(folder / "readme_example.py"), run_name="__readme__")


@needs_faces64
def test_readme_example_as_written(tmp_path, monkeypatch, capsys):
    run_example(example(), tmp_path, monkeypatch)
    assert Image.open(tmp_path / "face_restored.png").size == (64, 64)
    assert Image.open(tmp_path / "face_measurement.png").mode == "RGBA"
    assert "network calls" in capsys.readouterr().out


def test_readme_example_code_path_with_a_tiny_prior(tmp_path, monkeypatch, capsys, tiny_path):
    code = example()
    assert code.count('"faces64"') == 1
    run_example(code.replace('"faces64"', repr(tiny_path)), tmp_path, monkeypatch)
    assert Image.open(tmp_path / "face_restored.png").size == (16, 16)
    assert "clean input" in capsys.readouterr().out


def test_sample_face_is_a_64px_rgb_image():
    im = Image.open(REPO / "data/samples/face.png")
    assert (im.size, im.mode) == ((64, 64), "RGB")
    assert (REPO / "data/samples/README.md").read_text().count("astronaut") >= 1


@pytest.mark.parametrize("marker", ["<!-- main-command -->", "<!-- test-command -->"])
def test_setup_commands_kept(marker):
    assert marker in (REPO / "README.md").read_text()


def test_sample_photo_is_a_small_cc0_rgb_image():
    im = Image.open(REPO / "data/samples/chelsea.png")
    assert (im.size, im.mode) == ((288, 192), "RGB")
    readme = (REPO / "data/samples/README.md").read_text()
    assert "chelsea" in readme and "CC0" in readme


def test_sample_photo_is_restored_at_its_own_size(cli, tmp_path, anysize):
    """The command the README will show once ``natural`` ships, with the tiny size-agnostic prior."""
    r = cli("solve", "--task", "inpaint", "--method", "ddrm", "--input", REPO / "data/samples/chelsea.png",
            "--output", "cat.png", *anysize, "--steps", "1")
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "cat.png").size == (288, 192) and "192×288, degraded with" in r.out
