"""`invdiff train --conditional sr4` on the CPU at 16×16: pairs, falling loss, exact resume, export, init."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import invdiff
from invdiff.priors import ConditionalPrior, ConditioningError, save_prior
from invdiff.priors.conditional import upsample_measurement
from invdiff.tasks import make_problem
from invdiff.training.trainer import INPUT_CONV, TrainConfig, Trainer, sr_condition
from tests.priors.helpers import tiny_prior
from tests.training.test_trainer import make_folder


def config(tmp_path, steps: int, out: str = "run", **kw) -> TrainConfig:
    base = {"data": str(tmp_path / "imgs"), "out": str(tmp_path / out), "preset": "tiny", "resolution": 16,
            "batch_size": 8, "lr": 2e-3, "warmup_steps": 5, "steps": steps, "ckpt_every": 1000, "sample_every": 1000,
            "log_every": 5, "name": "sr", "compile": False, "sample_count": 4, "sample_steps": 3,
            "conditional": "sr4", "export_dtype": "float32"}
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond")
    make_folder(root / "imgs", n=8)
    return root


def test_pairs_come_from_the_sr4_operator_with_per_image_sigma():
    """c = up(A x + σ ε), A the protocol's sr4 operator; on [-1, 1] that is the [0, 1] measurement mapped by 2y − 1."""
    trainer_cond = invdiff.priors.SRConditioning.for_task("sr4", 16, sigma_max=0.1)
    op = make_problem("sr4", 16, torch.Generator().manual_seed(0), sigma_y=0.0).operator
    assert (trainer_cond.factor, trainer_cond.kernel, type(op).__name__) == (4, "bicubic", "SuperResolution")
    x01 = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    clean = sr_condition(2 * x01 - 1, op, trainer_cond, torch.Generator().manual_seed(1), sigma=0.0)
    torch.testing.assert_close(clean, upsample_measurement(2 * op.apply(x01) - 1, 4), atol=1e-6, rtol=0)
    assert clean.shape == (3, 3, 16, 16)
    noisy = sr_condition(2 * x01 - 1, op, trainer_cond, torch.Generator().manual_seed(1))
    # σ ~ U[0, 0.1] per image: each image's LR noise has its own std, none above 0.1 (checked on the LR grid)
    lr_noise = (noisy - clean)[:, :, 1::4, 1::4]
    assert 0 < lr_noise.std(dim=(1, 2, 3)).max() < 0.2
    assert len({round(v, 4) for v in lr_noise.std(dim=(1, 2, 3)).tolist()}) == 3


def test_loss_falls_resume_is_exact_and_the_export_is_a_conditional_prior(folder):
    trainer = Trainer(config(folder, 15, ckpt_every=15), device="cpu")
    assert trainer.model.config.in_channels == 6  # x_t and the upsampled LR image
    trainer.run(progress=False)
    shutil.copytree(folder / "run", folder / "again")
    trainer.cfg.steps = 30
    path = trainer.run(progress=False)
    losses = [r["loss"] for r in map(json.loads, (folder / "run/log.jsonl").read_text().splitlines()) if "loss" in r]
    assert np.mean(losses[-2:]) < 0.5 * losses[0], losses  # starts near 1 (ε-MSE of a zero-output net)

    again = Trainer(config(folder, 30, out="again"), device="cpu")
    assert again.resume() and again.step == 15
    again.run(progress=False)
    for k, v in trainer.ema.state_dict().items():  # the σ_y and LR-noise draws resume where they stopped
        assert torch.equal(v, again.ema.state_dict()[k]), k

    meta = json.loads(path.read_text())
    assert meta["conditioning"] == {"kind": "sr-concat", "task": "sr4", "factor": 4, "kernel": "bicubic",
                                    "upsampling": "bicubic", "channels": 3, "sigma_max": 0.1}
    assert meta["channels"] == 3 and meta["architecture"]["in_channels"] == 6
    prior = invdiff.load_prior(str(path))
    assert isinstance(prior, ConditionalPrior) and prior.conditioning.sigma_max == 0.1
    x = torch.zeros(1, 3, 16, 16)
    assert torch.isfinite(prior.eps(x, 10, torch.zeros_like(x))).all()
    with pytest.raises(ConditioningError, match="only method sr3"):
        prior.eps(x, 10)
    from PIL import Image

    with Image.open(folder / "run/samples_final.png") as grid:  # 4 triplets: upsampled LR | SR3 sample | HR
        assert grid.size == (12 * 16, 16)

    # the model card is written from the run's files; what they do not state stays a visible TO FILL
    import importlib.util

    from tests.bench.conftest import REPO

    spec = importlib.util.spec_from_file_location("model_card", REPO / "benchmarks/faces64_sr4/model_card.py")
    model_card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_card)
    text = model_card.card(path, log=None, results=None)
    assert "30 AdamW steps" in text and "σ ~ U[0, 0.1]" in text and meta["sha256"] in text
    assert text.count("**TO FILL**") == 4  # terms, held-out losses, sample grid, benchmark table


def test_an_unconditional_prior_seeds_a_conditional_run(folder):
    source = tiny_prior(seed=3)
    save_prior(source, folder / "uncond.json")
    trainer = Trainer(config(folder, 1, out="init", init_from=str(folder / "uncond.json")), device="cpu")
    w = trainer.model.state_dict()[INPUT_CONV]
    assert w.shape[1] == 6 and torch.equal(w[:, :3], source.net.state_dict()[INPUT_CONV])
    assert not w[:, 3:].any()  # the condition's channels start at zero: the run starts as the unconditional model
    assert trainer.init_record["init_sha256"]


def test_cli_flags(folder):
    from invdiff.cli import main

    code = main(["train", "--data", str(folder / "imgs"), "--out", str(folder / "cli"), "--conditional", "sr4",
                 "--preset", "tiny", "--resolution", "16", "--batch-size", "4", "--steps", "2", "--no-compile",
                 "--quiet", "--name", "c", "--ckpt-every", "100", "--sample-every", "100", "--sample-count", "2",
                 "--sample-steps", "2", "--cond-sigma-max", "0.07"])
    assert code == 0
    meta = json.loads((folder / "cli/c.json").read_text())
    assert meta["conditioning"]["sigma_max"] == 0.07 and meta["training"]["steps"] == 2
    with pytest.raises(ValueError, match="conditional training"):
        Trainer(config(folder, 1, out="bad", preset="faces64-sr4", conditional=None, resolution=64), device="cpu")
