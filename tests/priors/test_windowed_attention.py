"""Windowed attention: the trained function on each window, the natural prior local (size-agnostic)."""

from __future__ import annotations

import torch

import invdiff
from invdiff.priors.unet import ADMUNet, preset
from invdiff.priors.unet_blocks import AttentionBlock, window_starts


def block(window: int) -> AttentionBlock:
    torch.manual_seed(0)
    b = AttentionBlock(32, num_heads=2, window=window)
    torch.nn.init.normal_(b.proj_out.weight, std=0.2)  # ADM starts it at zero: make the attention visible
    return b.eval()


def test_window_starts_cover_and_shift_the_last_inward():
    assert window_starts(8, 8) == [0] and window_starts(5, 8) == [0]
    assert window_starts(20, 8) == [0, 8, 12] and window_starts(16, 8) == [0, 8]


def test_no_windowing_up_to_the_window_size():
    x = torch.randn(2, 32, 8, 6)
    torch.testing.assert_close(block(8)(x), block(0)(x))


def test_each_window_sees_only_itself():
    x = torch.randn(1, 32, 16, 24)
    out, glob = block(8)(x), block(0)
    for r in (0, 8):
        for c in (0, 8, 16):
            torch.testing.assert_close(out[..., r:r + 8, c:c + 8], glob(x[..., r:r + 8, c:c + 8]))
    assert (out - glob(x)).abs().max() > 1e-3  # global attention is another function


def test_overlapping_last_window_is_averaged():
    x = torch.randn(1, 32, 8, 12)
    out, glob = block(8)(x), block(0)
    left, right = glob(x[..., :, 0:8]), glob(x[..., :, 4:12])
    torch.testing.assert_close(out[..., :4], left[..., :4])
    torch.testing.assert_close(out[..., 4:8], (left[..., 4:] + right[..., :4]) / 2)
    torch.testing.assert_close(out[..., 8:], right[..., 4:])


def test_a_windowed_network_is_local_and_the_natural_prior_says_so():
    net = ADMUNet(preset("natural", model_channels=32, num_head_channels=16)).eval()
    assert net.middle_block[1].window == 8
    x, t = torch.randn(1, 3, 64, 128), torch.tensor([500])
    with torch.no_grad():
        assert torch.isfinite(net(x, t)).all()
    prior = invdiff.load_prior("natural")
    assert prior.size_agnostic and prior.stride == 8
