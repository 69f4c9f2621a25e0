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


def loop_reference(block_fn, x: torch.Tensor, window: int) -> torch.Tensor:
    """The definition, window by window: each window's output added where it came from, overlaps averaged."""
    h, w = x.shape[-2:]
    wh, ww = min(window, h), min(window, w)
    total, count = torch.zeros_like(x), torch.zeros(1, 1, h, w)
    for r in window_starts(h, window):
        for q in window_starts(w, window):
            total[..., r:r + wh, q:q + ww] += block_fn(x[..., r:r + wh, q:q + ww])
            count[..., r:r + wh, q:q + ww] += 1
    return total / count


def test_windowed_equals_the_window_by_window_definition_at_any_size():
    glob = block(0)
    for h, w in [(16, 24), (20, 12), (60, 40), (8, 30), (5, 19)]:
        x = torch.randn(2, 32, h, w, generator=torch.Generator().manual_seed(h * w))
        torch.testing.assert_close(block(8)(x), loop_reference(glob, x, 8))


def test_the_traced_graph_does_not_grow_with_the_number_of_windows():
    """At 768×512 the natural prior's bottleneck holds 96 windows; one slice and one in-place add per window made
    a chain of 192 scatters that inductor fused into nested masked loads (its code generation took minutes)."""
    from torch._dynamo.testing import CompileCounterWithBackend

    sizes = {}
    for h, w in [(16, 16), (64, 96), (60, 40)]:
        torch._dynamo.reset()
        counter = CompileCounterWithBackend("eager")
        torch.compile(block(8), backend=counter, dynamic=False)(torch.randn(1, 32, h, w))
        sizes[(h, w)] = sum(len(g.graph.nodes) for g in counter.graphs)
    assert max(sizes.values()) - min(sizes.values()) <= 4, sizes  # 4, 96 and 40 windows


def test_window_positions_follow_window_starts():
    """``windowed`` builds its gather index arithmetically; ``window_starts`` stays the definition it must follow."""
    from invdiff.priors.unet_blocks import _window_index

    for length in [1, 5, 8, 12, 16, 20, 40, 60, 64, 96, 97]:
        expected = [s + i for s in window_starts(length, 8) for i in range(min(8, length))]
        assert _window_index(length, 8, torch.device("cpu")).tolist() == expected


def test_the_wide_natural_preset_is_the_natural_layout_one_and_a_half_times_wider():
    """natural-wide (issue 20's capacity experiment): natural's layout, attention and stride at 96 base channels —
    43.6 M parameters against 19.4 M — so a comparison of the two measures width alone."""
    narrow, wide = preset("natural").to_dict(), preset("natural-wide").to_dict()
    assert {k: v for k, v in wide.items() if narrow[k] != v} == {"model_channels": 96}
    net = ADMUNet(preset("natural-wide"))
    assert sum(p.numel() for p in net.parameters()) == 43_631_043
    assert net.middle_block[1].window == 8 and not preset("natural-wide").attention_resolutions
