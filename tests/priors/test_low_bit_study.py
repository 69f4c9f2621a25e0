"""benchmarks/quantize/low_bit_study.py: the int4 fake quantiser is what it claims (15 levels a group, error at most
half a step, groups along each output channel's inputs) and the size count matches a hand count."""

from __future__ import annotations

import torch

from tests.bench.conftest import load_script

study = load_script("benchmarks/quantize/low_bit_study.py")


def test_int4_groups_have_15_levels_and_half_step_error():
    w = torch.randn(6, 5, 3, 3, generator=torch.Generator().manual_seed(0))
    for group in (0, 8, 45, 7):
        q = study.fake_int4(w, group)
        flat, qf = w.flatten(1), q.flatten(1)
        g = flat.shape[1] if group == 0 else group
        for row in range(6):
            for start in range(0, flat.shape[1], g):
                block, qblock = flat[row, start:start + g], qf[row, start:start + g]
                step = block.abs().max() / 7
                assert (block - qblock).abs().max() <= step / 2 + 1e-6
                assert len(torch.unique((qblock / step).round())) <= 15
                assert torch.allclose(qblock / step, (qblock / step).round(), atol=1e-4)  # on the group's own grid


def test_groups_follow_the_output_channel_not_the_whole_tensor():
    w = torch.ones(2, 4)
    w[1] *= 100.0  # one channel 100× larger: a per-tensor scale would wipe out the small one
    assert torch.equal(study.fake_int4(w, 0), w)
    w[0, :2] = 0.01  # within the small channel, groups of 2 keep both halves exact
    assert torch.allclose(study.fake_int4(w, 2), w)


def test_size_counts_4_bits_a_weight_plus_a_scale_per_group():
    state = {"a.weight": torch.zeros(4, 10), "a.bias": torch.zeros(4), "input_blocks.0.0.weight": torch.zeros(2, 3)}
    keys = study.quantised_keys(state)
    assert keys == ["a.weight"]  # biases and the edge layer stay float16
    per_channel = (40 * 4 + 4 * 16 + (4 + 6) * 16) / 8 / 1e6
    grouped = (40 * 4 + 4 * 3 * 16 + (4 + 6) * 16) / 8 / 1e6  # groups of 4 over 10 inputs: 3 a channel
    assert study.size_mb(state, keys, 0) == per_channel and study.size_mb(state, keys, 4) == grouped


def test_int8_kept_tensors_count_8_bits_and_a_float32_scale_a_channel():
    state = {"a.weight": torch.zeros(4, 10), "emb_layers.1.weight": torch.zeros(8, 5)}
    keys = study.quantised_keys(state)
    kept = study.size_mb(state, keys, 0, ("emb",))
    assert kept == (40 * 4 + 4 * 16 + 40 * 8 + 8 * 32) / 8 / 1e6
    assert kept > study.size_mb(state, keys, 0)
