"""Every way into ``load_prior``: our format, guided-diffusion .pt, diffusers folders, built-ins."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import invdiff
from invdiff.priors import (
    ADMUNet,
    ArchitectureError,
    CheckpointMismatchError,
    DiffusionPrior,
    NoiseSchedule,
    available_priors,
    load_prior,
    preset,
    registry,
    save_prior,
)
from invdiff.priors.diffusers_folder import schedule_from_config
from invdiff.priors.guided_diffusion import config_from_dict, infer_architecture, prior_from_state_dict
from invdiff.priors.native import write_prior

from .helpers import images, tiny_net, tiny_prior

T = torch.tensor([5, 300, 900])


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def trainer_meta(net) -> dict:
    """The JSON fields invdiff.training.trainer.Trainer.export writes."""
    return {"name": "mine", "architecture": {"type": "adm-unet", **net.config.to_dict()},
            "schedule": {"kind": "linear", "num_steps": 1000}, "parameterization": "eps", "learn_sigma": False,
            "data_range": [-1, 1], "resolution": net.config.image_size, "channels": 3,
            "training": {"data": "test", "steps": 1}, "license": "test only"}


@pytest.fixture
def gd_checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    net = tiny_net(seed=11)
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    return path, net


# -- our format ---------------------------------------------------------------------------------
def test_native_round_trip_is_bit_exact(tmp_path: Path) -> None:
    net = tiny_net(seed=10)
    json_path = write_prior(tmp_path / "mine", net.state_dict(), trainer_meta(net))
    for where in (json_path, tmp_path, json_path.with_suffix(".safetensors"), str(json_path)):
        prior = load_prior(where)
        assert same_weights(prior.net, net)
    assert (prior.name, prior.meta["license"], prior.resolution, prior.learn_sigma) == ("mine", "test only", 16, False)
    x = images(3)
    assert torch.equal(prior.net(x, T), net(x, T))


def test_native_sharded_and_half_precision(tmp_path: Path) -> None:
    prior = tiny_prior(seed=12)
    json_path = save_prior(prior, tmp_path / "half", dtype=torch.float16, shard_bytes=200_000, license="x")
    assert len(list(tmp_path.glob("half-*-of-*.safetensors"))) > 1
    loaded = load_prior(json_path)
    assert all(p.dtype == torch.float32 for p in loaded.net.parameters())
    ref = {k: v.half().float() for k, v in prior.net.state_dict().items()}
    assert all(torch.equal(v, ref[k]) for k, v in loaded.net.state_dict().items())
    assert loaded.meta["license"] == "x"


def test_native_refuses_corrupt_or_foreign_files(tmp_path: Path) -> None:
    net = tiny_net()
    json_path = write_prior(tmp_path / "m", net.state_dict(), trainer_meta(net))
    meta = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({**meta, "sha256": "0" * 64}))
    with pytest.raises(ValueError, match="sha256"):
        load_prior(json_path)
    json_path.write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="not an invdiff prior"):
        load_prior(json_path)
    json_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "schedule"}))
    with pytest.raises(ValueError, match="schedule"):
        load_prior(json_path, verify_hash=False)
    state = {k: v for k, v in net.state_dict().items() if k != "out.0.bias"}
    write_prior(tmp_path / "m", state, trainer_meta(net))
    with pytest.raises(CheckpointMismatchError, match="out.0.bias"):
        load_prior(tmp_path / "m.json")
    with pytest.raises(ValueError, match="architecture= applies"):
        load_prior(tmp_path / "m.json", architecture="tiny")


# -- guided-diffusion checkpoints ---------------------------------------------------------------
def test_guided_diffusion_round_trip(gd_checkpoint) -> None:
    path, net = gd_checkpoint
    prior = load_prior(path, architecture="tiny")
    assert same_weights(prior.net, net)
    assert (prior.parameterization, prior.learn_sigma, prior.schedule) == (
        "eps", False, NoiseSchedule.create("linear", 1000))
    x = images(3)
    assert torch.equal(prior.eps(x, T), net(x, T))
    assert not any(p.requires_grad for p in prior.net.parameters()) and not prior.net.training


def test_learned_sigma_checkpoint_and_flag_yaml(tmp_path: Path) -> None:
    net = tiny_net(seed=13, out_channels=6)
    path = tmp_path / "ls.pt"
    torch.save(net.state_dict(), path)
    yaml_file = tmp_path / "model_config.yaml"  # guided-diffusion's flags, as DPS ships them
    yaml_file.write_text("image_size: 16\nnum_channels: 32\nnum_res_blocks: 1\nchannel_mult: '1,2'\n"
                         "learn_sigma: True\nclass_cond: False\nuse_checkpoint: False\nattention_resolutions: 4\n"
                         "num_heads: 2\nnum_head_channels: -1\nnum_heads_upsample: -1\nuse_scale_shift_norm: True\n"
                         "dropout: 0.0\nresblock_updown: False\nuse_fp16: False\nuse_new_attention_order: False\n"
                         "model_path: ls.pt\n")
    prior = load_prior(path, architecture=str(yaml_file))
    assert prior.learn_sigma and same_weights(prior.net, net)
    x = images(2)
    assert torch.equal(prior.eps(x, T[:2]), net(x, T[:2])[:, :3])
    partial = load_prior(path, architecture={"image_size": 16, "num_heads": 2})  # the rest from the shapes
    assert partial.net.config.attention_resolutions == ()  # tiny's (4,) is never reached: the same network
    assert torch.equal(partial.eps(x, T[:2]), prior.eps(x, T[:2]))


def test_no_architecture_is_an_error_that_names_the_fix(gd_checkpoint) -> None:
    path, _ = gd_checkpoint
    with pytest.raises(ArchitectureError, match="architecture=") as err:
        load_prior(path)
    assert "head count" in str(err.value) and "'tiny'" in str(err.value)
    with pytest.raises(ArchitectureError, match="num_heads"):
        load_prior(path, architecture={"image_size": 16})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.pop("input_blocks.1.0.out_layers.3.weight"), "lacks key 'input_blocks.1.0.out_layers.3.weight'"),
    (lambda s: s.update({"extra.weight": torch.zeros(1)}), "unexpected key 'extra.weight'"),
    (lambda s: s.update({"input_blocks.1.0.in_layers.2.bias": torch.zeros(33)}),
     r"'input_blocks.1.0.in_layers.2.bias' of shape \(33,\) where preset 'tiny' needs \(32,\)"),
])
def test_strict_failures_name_the_first_problem(tmp_path: Path, edit, message: str) -> None:
    state = tiny_net().state_dict()
    edit(state)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointMismatchError, match=message):
        load_prior(tmp_path / "bad.pt", architecture="tiny")


@pytest.mark.parametrize(("override", "field"), [
    ({"num_res_blocks": 2}, "num_res_blocks"),
    ({"model_channels": 64}, "model_channels"),
    ({"use_scale_shift_norm": False}, "use_scale_shift_norm"),
    ({"out_channels": 6}, "out_channels"),
    ({"attention_resolutions": (8,)}, "attention levels"),
])
def test_contradicting_architecture_raises(gd_checkpoint, override: dict, field: str) -> None:
    path, _ = gd_checkpoint
    with pytest.raises(ArchitectureError, match=f"says {field}"):
        load_prior(path, architecture=preset("tiny", **override))


def test_wrong_head_count_loads_but_computes_another_function(gd_checkpoint) -> None:
    path, net = gd_checkpoint
    x = images(3)
    right = load_prior(path, architecture="tiny").eps(x, T)
    wrong = load_prior(path, architecture=preset("tiny", num_heads=4)).eps(x, T)
    order = load_prior(path, architecture=preset("tiny", use_new_attention_order=True)).eps(x, T)
    assert torch.equal(right, net(x, T))
    assert (wrong - right).abs().max() > 1e-3 and (order - right).abs().max() > 1e-3


def test_not_a_checkpoint(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a guided-diffusion"):
        load_prior(tmp_path / "other.pt", architecture="tiny")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="plain state dict"):
        load_prior(tmp_path / "list.pt", architecture="tiny")
    with pytest.raises(FileNotFoundError, match="faces64"):
        load_prior(tmp_path / "missing.pt")
    with pytest.raises(ArchitectureError, match="neither a preset"):
        torch.save(tiny_net().state_dict(), tmp_path / "ok.pt")
        load_prior(tmp_path / "ok.pt", architecture="no-such-preset")


# -- built-in priors ----------------------------------------------------------------------------
def test_builtin_registry(tmp_path: Path, monkeypatch) -> None:
    assert registry.weights_dir() == Path(invdiff.__file__).resolve().parent / "weights"
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path)
    info = {p.name: p for p in available_priors()}
    assert "faces64" in info and not info["faces64"].installed and info["faces64"].description
    with pytest.raises(FileNotFoundError, match="not installed"):
        load_prior("faces64")
    net = tiny_net(seed=14)
    write_prior(tmp_path / "faces64", net.state_dict(), {**trainer_meta(net), "name": "faces64"})
    assert {p.name: p.installed for p in available_priors()}["faces64"]
    prior = load_prior("faces64")
    assert prior.name == "faces64" and same_weights(prior.net, net)


def test_lazy_top_level_export() -> None:
    assert invdiff.load_prior is load_prior and invdiff.available_priors is available_priors
    assert isinstance(invdiff.__version__, str)


# -- diffusers folders --------------------------------------------------------------------------
def test_scheduler_configs() -> None:
    linear, param, learned = schedule_from_config({"beta_schedule": "linear", "num_train_timesteps": 1000})
    assert torch.allclose(linear.betas, NoiseSchedule.create("linear", 1000).betas) and (param, learned) == ("eps", False)
    cos, param, learned = schedule_from_config({"beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction",
                                                "variance_type": "learned_range"})
    assert cos == NoiseSchedule.create("cosine", 1000) and (param, learned) == ("v", True)
    scaled, param, _ = schedule_from_config({"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                                             "beta_end": 0.012, "prediction_type": "sample"})
    assert scaled.betas[-1].item() == pytest.approx(0.012) and param == "x0"
    for bad in ({"prediction_type": "score"}, {"beta_schedule": "sigmoid"}, {"variance_type": "learned"},
                {"rescale_betas_zero_snr": True}):
        with pytest.raises(ValueError):
            schedule_from_config(bad)


def test_diffusers_missing_gives_install_hint(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now raises ImportError
    with pytest.raises(ImportError, match=r"pip install invdiff\[diffusers\]"):
        load_prior(tmp_path)


def test_diffusers_folder_round_trip(tmp_path: Path) -> None:
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)  # diffusers initialises through the global generator; only this test touches it
    unet = diffusers.UNet2DModel(sample_size=16, block_out_channels=(32, 32), down_block_types=(
        "DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8)
    unet.save_pretrained(tmp_path / "unet")
    diffusers.DDPMScheduler(num_train_timesteps=1000, prediction_type="v_prediction").save_pretrained(
        tmp_path / "scheduler")
    prior = load_prior(tmp_path)
    assert isinstance(prior, DiffusionPrior) and prior.parameterization == "v" and prior.resolution == 16
    x = images(2)
    a = prior.alphas_cumprod[T[:2]].float()[:, None, None, None]
    v = unet(x, T[:2]).sample
    assert torch.allclose(prior.x0(x, T[:2]), a.sqrt() * x - (1 - a).sqrt() * v, atol=1e-5)


# -- the published checkpoints' shapes, on the meta device (no memory, no file) -------------------
def ffhq_meta_state() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return ADMUNet(preset("adm-ffhq256")).state_dict()


def test_dps_model_config_flags_resolve_to_the_ffhq_preset() -> None:
    flags = {"image_size": 256, "num_channels": 128, "num_res_blocks": 1, "channel_mult": "", "learn_sigma": True,
             "class_cond": False, "use_checkpoint": False, "attention_resolutions": 16, "num_heads": 4,
             "num_head_channels": 64, "num_heads_upsample": -1, "use_scale_shift_norm": True, "dropout": 0.0,
             "resblock_updown": True, "use_fp16": False, "use_new_attention_order": False,
             "model_path": "models/ffhq_10m.pt"}
    config = config_from_dict(flags, infer_architecture(ffhq_meta_state()))
    assert config.to_dict() == preset("adm-ffhq256").to_dict()


def test_ffhq_shaped_checkpoint_loads_with_its_preset_only() -> None:
    prior = prior_from_state_dict(ffhq_meta_state(), "adm-ffhq256", source="ffhq_10m.pt")
    assert (prior.learn_sigma, prior.resolution, prior.parameterization, prior.name) == (True, 256, "eps", "ffhq_10m")
    with pytest.raises(ArchitectureError, match="says model_channels=256"):
        prior_from_state_dict(ffhq_meta_state(), "adm-imagenet256-uncond", source="ffhq_10m.pt")
    with pytest.raises(ArchitectureError, match=r"\['adm-ffhq256'\]"):
        prior_from_state_dict(ffhq_meta_state(), None, source="ffhq_10m.pt")


def test_int8_encoding_round_trips_within_half_a_step_and_is_smaller(tmp_path):
    from invdiff.priors.native import SCALE_SUFFIX, read_prior, weight_files

    prior = tiny_prior(seed=5)
    plain = save_prior(prior, tmp_path / "p16.json", dtype=torch.float16)
    small = save_prior(prior, tmp_path / "p8.json", dtype=torch.float16, encoding="int8-per-channel")
    size = lambda p: sum(f.stat().st_size for f in weight_files(p))
    assert size(small) < 0.7 * size(plain)
    state, meta = read_prior(small)
    assert meta["weights_encoding"] == "int8-per-channel" and not any(k.endswith(SCALE_SUFFIX) for k in state)
    for k, w in prior.net.state_dict().items():
        assert state[k].shape == w.shape
        if w.dim() >= 2:  # |error| ≤ half a quantisation step of that output channel (+ fp16 rounding of w)
            step = w.abs().flatten(1).amax(1).clamp_min(1e-12) / 127
            err = (state[k].float() - w.half().float()).abs().flatten(1).amax(1)
            assert (err <= 0.5 * step * 1.001 + 1e-7).all(), k
    loaded = load_prior(small)
    x, t = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([10, 500])
    rel = (loaded.eps(x, t) - prior.eps(x, t)).norm() / prior.eps(x, t).norm()
    assert 0 < rel < 0.05


def test_unknown_weights_encoding_is_refused(tmp_path):
    import json

    path = save_prior(tiny_prior(seed=5), tmp_path / "p.json")
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "weights_encoding": "int3-magic"}))
    with pytest.raises(ValueError, match="int3-magic"):
        load_prior(path)
    with pytest.raises(ValueError, match="unknown weights encoding"):
        save_prior(tiny_prior(seed=5), tmp_path / "q.json", encoding="int4")


def test_shards_of_a_prior_whose_name_extends_another_are_kept_apart(tmp_path):
    from invdiff.priors.native import weight_files

    short = save_prior(tiny_prior(seed=1), tmp_path / "faces.json", shard_bytes=20_000)
    longer = save_prior(tiny_prior(seed=2), tmp_path / "faces-sr4.json", shard_bytes=20_000)
    assert all("-sr4-" not in p.name for p in weight_files(short))
    assert all("-sr4-" in p.name for p in weight_files(longer))
    torch.testing.assert_close(load_prior(short).net.state_dict(), tiny_prior(seed=1).net.state_dict())
    save_prior(tiny_prior(seed=3), tmp_path / "faces-sr4.json", shard_bytes=20_000)  # rewriting one leaves the other
    assert load_prior(short) is not None and len(weight_files(short)) > 1
