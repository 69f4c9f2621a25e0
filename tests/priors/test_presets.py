"""The published ADM presets, built on the meta device (no memory, no init), key for key."""

from __future__ import annotations

import pytest
import torch

from invdiff.priors import ADMUNet, preset
from invdiff.priors.guided_diffusion import _contradictions, infer_architecture


def meta_state(name: str, **overrides) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return ADMUNet(preset(name, **overrides)).state_dict()


@pytest.mark.parametrize(("name", "millions", "tensors"), [
    ("adm-ffhq256", 93.56, 362),  # DPS ffhq_10m.pt
    ("adm-imagenet256-uncond", 552.81, 566),  # 256x256_diffusion_uncond.pt, RePaint celeba/places
])
def test_published_preset_sizes(name: str, millions: float, tensors: int) -> None:
    state = meta_state(name)
    assert len(state) == tensors
    assert round(sum(v.numel() for v in state.values()) / 1e6, 2) == millions


def test_faces64_preset_is_frozen() -> None:
    # A prior is being trained with this preset: its parameter names and shapes must not move.
    state = meta_state("faces64")
    assert (len(state), sum(v.numel() for v in state.values())) == (384, 19_224_643)
    assert state["input_blocks.0.0.weight"].shape == (64, 3, 3, 3)
    assert state["middle_block.1.qkv.weight"].shape == (3 * 192, 192, 1)
    assert state["out.2.weight"].shape == (3, 64, 3, 3)


def test_ffhq_key_names_and_shapes() -> None:
    s = meta_state("adm-ffhq256")
    assert s["time_embed.0.weight"].shape == (512, 128)
    assert s["time_embed.2.weight"].shape == (512, 512)
    assert s["input_blocks.1.0.in_layers.2.weight"].shape == (128, 128, 3, 3)
    assert s["input_blocks.1.0.emb_layers.1.weight"].shape == (256, 512)  # scale and shift
    assert s["input_blocks.1.0.out_layers.3.weight"].shape == (128, 128, 3, 3)
    assert s["input_blocks.2.0.in_layers.0.weight"].shape == (128,)  # a down-sampling ResBlock
    assert s["input_blocks.5.0.skip_connection.weight"].shape == (256, 128, 1, 1)
    assert s["middle_block.1.qkv.weight"].shape == (3 * 512, 512, 1)
    assert s["middle_block.1.proj_out.weight"].shape == (512, 512, 1)
    assert s["output_blocks.0.0.in_layers.0.weight"].shape == (1024,)  # 512 + 512 skip
    assert s["out.0.weight"].shape == (128,)
    assert s["out.2.weight"].shape == (6, 128, 3, 3)
    # attention only at 16×16 (downsampling 16, level 4 of 0…5): input block 9, not 7 (32×32) or 11 (8×8)
    assert "input_blocks.9.1.qkv.weight" in s
    assert "input_blocks.7.1.qkv.weight" not in s and "input_blocks.11.1.qkv.weight" not in s


def test_imagenet_attention_levels() -> None:
    s = meta_state("adm-imagenet256-uncond")
    assert s["middle_block.1.qkv.weight"].shape == (3 * 1024, 1024, 1)
    attn_blocks = sorted({int(k.split(".")[1]) for k in s if k.startswith("input_blocks") and ".qkv." in k})
    assert attn_blocks == [10, 11, 13, 14, 16, 17]  # 32×32, 16×16 and 8×8 levels, two blocks each


@pytest.mark.parametrize("name", ["adm-ffhq256", "adm-imagenet256-uncond", "faces64", "tiny"])
def test_shapes_reveal_each_preset(name: str) -> None:
    inferred = infer_architecture(meta_state(name))
    assert _contradictions(preset(name), inferred) == []
    assert inferred.model_channels == preset(name).model_channels
    other = preset(name, num_res_blocks=preset(name).num_res_blocks + 1)
    assert [f for f, _, _ in _contradictions(other, inferred)] == ["num_res_blocks"]


def test_shapes_reveal_updown_attention_and_fractional_mult() -> None:
    s = meta_state("tiny", model_channels=64, channel_mult=(0.5, 1, 2), attention_resolutions=(8,), resblock_updown=True,
                   use_scale_shift_norm=False, out_channels=6)
    inferred = infer_architecture(s)
    assert inferred.channel_mult == (0.5, 1, 2)
    assert inferred.attention_ds == (2,)
    assert (inferred.resblock_updown, inferred.conv_resample) == (True, None)
    assert (inferred.use_scale_shift_norm, inferred.out_channels, inferred.num_res_blocks) == (False, 6, 1)
    s = meta_state("tiny", num_classes=10)
    assert (infer_architecture(s).num_classes, infer_architecture(s).conv_resample) == (10, True)
