"""`invdiff solve --task sr4 --method sr3` and `invdiff.solve(method="sr3")` with a tiny conditional prior."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from invdiff import api, config
from invdiff.priors import save_prior
from tests.priors.helpers import tiny_conditional_prior

from .conftest import random_image


@pytest.fixture(scope="module")
def sr_path(tmp_path_factory) -> str:
    return str(save_prior(tiny_conditional_prior(), tmp_path_factory.mktemp("sr") / "tiny-sr4.json"))


def test_solve_sr4_with_sr3(cli, tmp_path, sr_path):
    random_image(tmp_path / "face.png", 16)  # a clean 16×16 image: degraded with the sr4 protocol first
    r = cli("solve", "--task", "sr4", "--method", "sr3", "--input", "face.png", "--prior", sr_path, "--steps", "2",
            "--device", "cpu")
    assert r.code == 0, r.err
    assert "NFE 2 per image" in r.out and "degraded with the sr4 protocol" in r.out
    assert Image.open(tmp_path / "face.restored.png").size == (16, 16)
    random_image(tmp_path / "lr.png", 4)  # a 4×4 measurement of the 16×16 prior
    r = cli("solve", "--task", "sr4", "--method", "sr3", "--input", "lr.png", "--prior", sr_path, "--steps", "2",
            "--device", "cpu")
    assert r.code == 0 and Image.open(tmp_path / "lr.restored.png").size == (16, 16)


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "inpaint", "--method", "sr3"], "solves only sr4"),
    (["--task", "sr4", "--method", "ddrm", "--prior", "SR"], "only method sr3 can use it"),
    (["--task", "sr4", "--method", "sr3", "--prior", "TINY"], "needs a conditional prior"),
])
def test_mismatches_are_one_line_usage_errors(cli, tmp_path, sr_path, tiny_path, args, message):
    random_image(tmp_path / "face.png", 16)
    args = [sr_path if a == "SR" else tiny_path if a == "TINY" else a for a in args]
    r = cli("solve", *args, "--input", "face.png", "--steps", "2", "--device", "cpu")
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_sr3_defaults_to_its_own_prior(monkeypatch, sr_path):
    assert config.resolve(None, {"method": "sr3"})["prior"] == "faces64-sr4"
    assert config.resolve(None, {"method": "ddrm"})["prior"] == "natural"
    assert config.resolve(None, {"method": "sr3", "prior": sr_path})["prior"] == sr_path
    asked = []
    real = api.get_prior
    monkeypatch.setattr(api, "get_prior", lambda p, *a: asked.append(p) or real(sr_path, *a))
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = api.solve(x, task="sr4", method="sr3", steps=2)
    assert asked == ["faces64-sr4"] and out.nfe == 2 and out.image.shape == x.shape


def test_methods_lists_sr3_for_sr4_only(cli):
    r = cli("methods")
    row = next(line for line in r.out.splitlines() if line.startswith("sr3"))
    assert r.code == 0 and row.split()[1:] == ["no", "(2)", "no", "(2)", "no", "(2)", "yes", "no", "(2)", "1000", "no"]
    assert "sr3 × inpaint, gaussian_blur, motion_blur, jpeg" in r.out
