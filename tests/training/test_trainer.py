"""`invdiff train` on the CPU at a tiny size: the loss falls, resume continues, the export loads back."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import invdiff
from invdiff.cli import main
from invdiff.training.data import list_images, load_image_folder
from invdiff.training.trainer import TrainConfig, Trainer


def make_folder(root, n: int = 12) -> None:
    """Small crops of skimage's images in nested folders (JPEG and PNG)."""
    src = [data.astronaut(), data.coffee(), data.chelsea()]
    for i in range(n):
        img = src[i % 3]
        y, x = 10 * i, 7 * i
        crop = Image.fromarray(img[y:y + 120, x:x + 120])
        sub = root / ("a" if i % 2 else "b/c")
        sub.mkdir(parents=True, exist_ok=True)
        crop.save(sub / (f"{i:02d}.png" if i % 3 else f"{i:02d}.jpg"))


def test_folder_reading_is_recursive_and_deterministic(tmp_path):
    make_folder(tmp_path)
    assert len(list_images(tmp_path)) == 12
    a = load_image_folder(tmp_path, 16, cache_dir=tmp_path / "cache")
    b = load_image_folder(tmp_path, 16, cache_dir=tmp_path / "cache")  # from the cache
    assert a.shape == (12, 16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)


def tiny_config(tmp_path, steps: int) -> TrainConfig:
    return TrainConfig(data=str(tmp_path / "imgs"), out=str(tmp_path / "run"), preset="tiny", resolution=16,
                       batch_size=8, lr=2e-3, warmup_steps=5, steps=steps, ckpt_every=10, sample_every=1000,
                       log_every=5, heldout=str(tmp_path / "imgs"), heldout_count=4, name="tiny16", compile=False,
                       sample_count=4, sample_steps=5)


def test_loss_falls_and_resume_continues(tmp_path):
    make_folder(tmp_path / "imgs")
    trainer = Trainer(tiny_config(tmp_path, 30), device="cpu")
    trainer.run(progress=False)
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert np.mean(losses[-2:]) < 0.6 * losses[0]  # starts near 1 (ε-MSE of a zero-output net)
    assert (tmp_path / "run/samples_final.png").exists()

    more = Trainer(tiny_config(tmp_path, 35), device="cpu")
    assert more.resume() and more.step == 30
    torch.testing.assert_close(more.ema.state_dict(), trainer.ema.state_dict())
    more.run(progress=False)
    assert more.step == 35 and more.images_seen == 280


def test_export_loads_as_a_prior(tmp_path):
    make_folder(tmp_path / "imgs")
    code = main(["train", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "run"), "--preset", "tiny",
                 "--resolution", "16", "--batch-size", "4", "--steps", "3", "--no-compile", "--quiet", "--name", "t",
                 "--ckpt-every", "100", "--sample-every", "100", "--export-dtype", "float32", "--sample-count", "2",
                 "--sample-steps", "2"])
    assert code == 0
    prior = invdiff.load_prior(str(tmp_path / "run/t.json"))
    meta = json.loads((tmp_path / "run/t.json").read_text())
    assert meta["training"]["steps"] == 3 and prior.resolution == 16
    x = torch.zeros(1, 3, 16, 16)
    assert torch.isfinite(prior.eps(x, 10)).all()


def test_ema_update_is_the_exponential_average_of_every_parameter():
    """θ_ema ← d θ_ema + (1 − d) θ for every tensor (the multi-tensor lerp must not skip or mix any)."""
    import copy

    from invdiff.training.trainer import ema_update

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GroupNorm(2, 4), torch.nn.Linear(5, 2))
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    before = [e.clone() for e in ema.parameters()]
    ema_update(ema, model, 0.9)
    for e, b, p in zip(ema.parameters(), before, model.parameters(), strict=True):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * p)
    with pytest.raises(ValueError, match="parameter tensors"):
        ema_update(ema, torch.nn.Linear(5, 2), 0.9)


def test_checkpoint_export_is_the_ema_and_loads(tmp_path):
    """benchmarks/natural/export_checkpoint.py: a running training's EMA comes back as a loadable bf16 prior."""
    import importlib.util
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("export_checkpoint", repo / "benchmarks/natural/export_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    make_folder(tmp_path / "imgs")
    trainer = Trainer(tiny_config(tmp_path, 10), device="cpu")
    trainer.run(progress=False)  # exports tiny16.json, the --like of the partial export
    path = module.export(tmp_path / "run/checkpoint.pt", tmp_path / "partial/tiny16", tmp_path / "run/tiny16.json")
    meta = json.loads(path.read_text())
    assert meta["training"]["steps"] == 10 and meta["training"]["weights"] == "EMA, stored as bfloat16"
    prior = invdiff.load_prior(str(path))
    for k, v in trainer.ema.state_dict().items():
        torch.testing.assert_close(prior.net.state_dict()[k].float(), v.to(torch.bfloat16).float())


def test_cudnn_benchmark_is_off_by_default_and_cuda_only(tmp_path):
    """``cudnn_benchmark`` defaults to PyTorch's own setting and never touches the global flag on the CPU."""
    assert TrainConfig(data="d", out="o").cudnn_benchmark is False
    make_folder(tmp_path / "imgs", n=8)
    before = torch.backends.cudnn.benchmark
    cfg = dataclasses.replace(tiny_config(tmp_path, 1), cudnn_benchmark=True, heldout=None)
    trainer = Trainer(cfg, device="cpu")
    assert trainer.cfg.cudnn_benchmark and torch.backends.cudnn.benchmark == before


def test_learning_rate_warms_up_then_holds_or_decays_linearly_to_zero():
    """η(step): linear warm-up over warmup_steps, then constant, or (lr_decay="linear") linear to 0 at cfg.steps."""
    from invdiff.training.trainer import learning_rate

    cfg = TrainConfig(data="-", out="-", lr=1e-3, warmup_steps=11, steps=110)
    assert learning_rate(cfg, 0) == pytest.approx(1e-3 / 11) and learning_rate(cfg, 10) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100) == pytest.approx(1e-3)
    lin = dataclasses.replace(cfg, lr_decay="linear")
    assert learning_rate(lin, 10) == pytest.approx(1e-3)  # the peak at the warm-up's last step
    assert learning_rate(lin, 60) == pytest.approx(0.5e-3)  # half way from step 10 to 110
    assert learning_rate(lin, 109) == pytest.approx(1e-5) and learning_rate(lin, 200) == 0.0
    with pytest.raises(ValueError, match="lr_decay"):
        learning_rate(dataclasses.replace(cfg, lr_decay="cosine"), 5)


def test_train_step_uses_the_schedule(tmp_path):
    """The optimiser's rate at each step is learning_rate(cfg, step): a linear run ends near zero."""
    make_folder(tmp_path / "imgs")
    cfg = dataclasses.replace(tiny_config(tmp_path, 12), lr_decay="linear", warmup_steps=3)
    trainer = Trainer(cfg, device="cpu")
    seen = []
    for _ in range(12):
        step = trainer.step
        trainer.train_step()
        seen.append((step, trainer.opt.param_groups[0]["lr"]))
    from invdiff.training.trainer import learning_rate

    assert all(lr == pytest.approx(learning_rate(cfg, s)) for s, lr in seen)
    assert seen[-1][1] == pytest.approx(2e-3 / 10)  # peak at step 2, zero at 12: the last step (11) is 1/10


def test_cli_takes_lr_decay(tmp_path):
    make_folder(tmp_path / "imgs")
    code = main(["train", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "run"), "--preset", "tiny",
                 "--resolution", "16", "--batch-size", "4", "--steps", "3", "--no-compile", "--quiet", "--name", "t",
                 "--ckpt-every", "100", "--sample-every", "100", "--export-dtype", "float32", "--sample-count", "2",
                 "--sample-steps", "2", "--lr-decay", "linear"])
    assert code == 0
    meta = json.loads((tmp_path / "run/t.json").read_text())
    assert meta["training"]["lr_decay"] == "linear"
