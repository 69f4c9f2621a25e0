"""Any image size in the prior: reflection padding to the network's stride, and blended tiles (tiling.py)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from invdiff.priors.tiling import (
    ImageSizeError,
    TileConfig,
    hann_ramp,
    make_plan,
    run_network,
    tile_starts,
)
from tests.priors.conv_helpers import conv_conditional_prior, conv_prior, smoothing_prior
from tests.priors.helpers import tiny_prior


@pytest.fixture(scope="module")
def prior():
    return conv_prior(seed=0)


def field(shape, seed=1):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 2.0) -> float:
    return float(10 * torch.log10(peak**2 / (a - b).square().mean()))


def tiled(prior, **tiling):
    """A copy-free reconfiguration: the same prior with ``tiling`` (restored by the caller's fixture use)."""
    return prior.configure(tiling={"mode": "on", **tiling})


@pytest.fixture(autouse=True)
def whole_by_default(prior):
    prior.configure(tiling=TileConfig())
    yield
    prior.configure(tiling=TileConfig())


# -- padding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(37, 53), (16, 24), (8, 8), (9, 31)])
def test_network_call_is_the_reflection_padded_call_cropped(prior, size):
    """ε̂ at any H×W = net(reflect-pad to the stride) cropped to [:H, :W] — exactly (off-by-one crops differ)."""
    h, w = size
    x, t = field((2, 3, h, w)), torch.tensor([10, 700])
    assert prior.stride == 8
    hp, wp = -(-h // 8) * 8, -(-w // 8) * 8
    with torch.no_grad():
        manual = prior.net(F.pad(x, (0, wp - w, 0, hp - h), mode="reflect"), t)
        eps = prior.eps(x, t)
    assert eps.shape == x.shape
    torch.testing.assert_close(eps, manual[..., :h, :w], rtol=0, atol=0)
    if (hp, wp) != (h, w):  # a crop one pixel off (same shape) would not pass
        assert not torch.allclose(eps, manual[..., 1 : h + 1, :w]) and not torch.allclose(eps, manual[..., :h, 1 : w + 1])


def test_padding_is_reflection_not_zeros(prior):
    x, t = field((1, 3, 37, 53)), torch.tensor([300])
    with torch.no_grad():
        zero = prior.net(F.pad(x, (0, 3, 0, 3)), t)[..., :37, :53]
        assert not torch.allclose(prior.eps(x, t), zero, atol=1e-3)


def test_image_smaller_than_the_stride_is_one_clear_error(prior):
    with pytest.raises(ImageSizeError, match=r"7×20 image is smaller than the 8×8 .* 'conv'"):
        prior.eps(field((1, 3, 7, 20)), 10)


# -- the tile grid ------------------------------------------------------------------------------
@pytest.mark.parametrize("length,tile,overlap", [(304, 256, 64), (1000, 256, 64), (256, 256, 64), (40, 16, 8),
                                                 (72, 32, 8), (4000, 512, 64)])
def test_tiles_have_one_size_cover_the_axis_and_overlap_enough(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length  # the last tile is shifted inward, never padded
    assert all(s % 8 == 0 for s in starts)  # stride-aligned: lengths, tiles and overlaps are multiples of 8
    assert all(b - a <= size - overlap for a, b in itertools.pairwise(starts))
    assert list(starts) == sorted(set(starts))


def test_hann_ramps_of_neighbours_sum_to_one_and_skip_the_cut_edge():
    cpu, f64 = torch.device("cpu"), torch.float64
    w = hann_ramp(32, 8, True, True, cpu, f64)
    assert (w[:2] == 0).all() and (w[-2:] == 0).all() and (w[6:26] == 1).all()  # a quarter of the overlap weighs 0
    assert (w[2:6] > 0).all() and (w[2:6] < 1).all()
    torch.testing.assert_close(w[-8:] + w[:8], torch.ones(8, dtype=f64))  # a fall + the neighbour's rise
    assert (hann_ramp(32, 8, False, True, cpu, f64)[:24] == 1).all()  # no ramp on the image border's side
    assert (hann_ramp(16, 0, True, True, cpu, f64) == 1).all()
    small = hann_ramp(16, 3, True, True, cpu, f64)
    assert (small > 0).all()


def test_blend_weights_cover_every_pixel_of_a_shifted_grid():
    """The last tile shifted inward overlaps more: every pixel still has weight, and a constant blends to itself."""
    x = torch.ones(1, 1, 104, 72)
    plan = make_plan(x.shape, 8, TileConfig(mode="on", tile_size=48, overlap=16), [])
    assert plan.rows == (0, 32, 56) and plan.cols == (0, 24)
    out = run_network(lambda a, t, y: a, x, torch.zeros(1), None, plan)
    torch.testing.assert_close(out, x, rtol=1e-6, atol=1e-6)


def test_plan_auto_whole_under_budget_tiles_above():
    config = TileConfig(tile_size=32, overlap=8, max_pixels=64 * 64)
    whole = make_plan((1, 3, 60, 60), 8, config, [])
    assert whole.whole and whole.padded == (64, 64)
    big = make_plan((2, 3, 100, 60), 8, config, [])
    assert not big.whole and big.tile == (32, 32) and big.tiles == len(big.rows) * len(big.cols) > 1
    assert big.chunk == 4  # max_pixels // 32² tiles per call
    assert make_plan((2, 3, 100, 60), 8, TileConfig(mode="off", max_pixels=1), []).whole


def test_auto_never_tiles_because_of_the_batch():
    """Whether an image is tiled depends on its own size only: a large batch runs whole images in chunks."""
    plan = make_plan((5, 3, 60, 60), 8, TileConfig(tile_size=32, overlap=8, max_pixels=2 * 64 * 64), [])
    assert plan.tiles == 1 and plan.tile == (64, 64) and plan.chunk == 2 and plan.calls == 3 and not plan.whole


def test_attention_prior_runs_whole_at_any_size_but_refuses_tiles():
    prior = tiny_prior(seed=0)  # middle-block attention
    assert not prior.size_agnostic and prior.stride == 2
    assert prior.eps(field((1, 3, 21, 13)), 5).shape == (1, 3, 21, 13)
    prior.configure(tiling={"mode": "on", "tile_size": 8, "overlap": 2})
    with pytest.raises(ImageSizeError, match="attention layers .* cannot run on tiles"):
        prior.eps(field((1, 3, 21, 13)), 5)
    assert prior.eps(field((3, 3, 8, 8)), 5).shape == (3, 3, 8, 8)  # one tile an image: chunks of whole images


def test_configure_checks_the_tiling_and_keeps_it_across_speed_changes(prior):
    with pytest.raises(ImageSizeError, match="multiples of the network's stride 8"):
        prior.configure(tiling={"tile_size": 20, "overlap": 4})
    with pytest.raises(ValueError, match="unknown tiling keys"):
        prior.configure(tiling={"tile": 32})
    with pytest.raises(ValueError, match="overlap < tile_size"):
        TileConfig(tile_size=16, overlap=16)
    prior.configure(tiling={"mode": "on", "tile_size": 16, "overlap": 8})
    prior.configure(dtype="fp32")
    assert prior.tiling == TileConfig(mode="on", tile_size=16, overlap=8)


# -- blending -----------------------------------------------------------------------------------
def test_blending_is_exact_for_a_pointwise_network_and_cuts_the_condition_like_x():
    """A network whose output at p depends on x(p), c(p) only: tiles blend back to the whole call exactly."""
    x, c = field((2, 3, 37, 53), 1), field((2, 3, 37, 53), 2)
    t = torch.tensor([3, 4])
    fn = lambda x, t, c: torch.tanh(x) * t[:, None, None, None] - 2 * c
    plan = make_plan(x.shape, 8, TileConfig(mode="on", tile_size=16, overlap=8, tile_batch=5), [])
    assert plan.tiles == 4 * 6 and plan.calls == 10
    torch.testing.assert_close(run_network(fn, x, t, c, plan), fn(x, t, c), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("overlap,exact", [(16, True), (24, True), (8, False), (0, False)])
def test_tiles_reproduce_a_local_network_once_the_margin_covers_its_receptive_field(overlap, exact):
    """A 7×7 local denoiser (radius 3): tiles equal the whole call iff the overlap's weight-free quarter is ≥ 3 px."""
    prior = smoothing_prior(radius=3)
    x, t = field((2, 3, 45, 61)), torch.tensor([50, 500])
    with torch.no_grad():
        whole = prior.configure(tiling={"mode": "off"}).eps(x, t)
        tiles = prior.configure(tiling={"mode": "on", "tile_size": 32, "overlap": overlap}).eps(x, t)
    assert prior.network_plan(x.shape).tiles > 1
    assert torch.allclose(tiles, whole, rtol=1e-5, atol=1e-5) == exact, float((tiles - whole).abs().max())


def test_chunks_of_one_tile_or_all_tiles_agree_and_compiled_runs_see_one_shape(prior):
    x, t = field((2, 3, 21, 29)), torch.tensor([100, 900])
    with torch.no_grad():
        one = tiled(prior, tile_size=16, overlap=8, tile_batch=1).eps(x, t)
        all_ = tiled(prior, tile_size=16, overlap=8, tile_batch=1000).eps(x, t)
    torch.testing.assert_close(one, all_, rtol=1e-5, atol=1e-5)
    shapes = []
    plan = make_plan(x.shape, 8, TileConfig(mode="on", tile_size=16, overlap=8, tile_batch=5), [])
    assert plan.tiles * 2 == 12 and plan.chunk == 4  # 12 tiles in 3 even chunks of 4 (not 5, 5, 2)
    plan = make_plan(x.shape, 8, TileConfig(mode="on", tile_size=16, overlap=8, tile_batch=7), [])
    run_network(lambda a, b, c: shapes.append(a.shape) or a, x, t, None, plan, fixed_chunks=True)
    assert len(shapes) == plan.calls == 2 and set(shapes) == {(6, 3, 16, 16)}


def test_one_tile_an_image_is_batch_chunking(prior):
    """Tiles as large as the image: whole images in chunks, equal to one call up to the convolutions' rounding."""
    x, t = field((3, 3, 21, 29)), torch.tensor([5, 50, 500])
    with torch.no_grad():
        whole = prior.eps(x, t)
        chunked = prior.configure(tiling={"mode": "on", "tile_size": 64, "overlap": 8, "tile_batch": 1}).eps(x, t)
    assert prior.network_plan(x.shape).calls == 3
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)  # batch 1 vs 3 convolutions round differently


def test_one_network_evaluation_counts_once_however_many_tiles(prior):
    tiled(prior, tile_size=16, overlap=8, tile_batch=2)
    prior.reset_nfe()
    with torch.no_grad():
        prior.eps(field((1, 3, 24, 24)), 10)
    assert prior.nfe == 1


def test_tiles_approach_the_whole_image_as_the_overlap_grows(prior):
    """Tiled vs whole ε̂ (72×72, 32-px tiles): agreement grows with the overlap (the net's receptive field is cut)."""
    x, t = field((1, 3, 72, 72)), torch.tensor([400])
    with torch.no_grad():
        whole = prior.eps(x, t)
        scores = [psnr(tiled(prior, tile_size=32, overlap=o).eps(x, t), whole) for o in (0, 8, 16, 24)]
    assert scores == sorted(scores), scores
    assert scores[-1] > scores[0] + 3, scores


def test_gradients_flow_through_checkpointed_tiles():
    """DPS back-propagates: chunked (checkpointed) tiles give the gradient of one call on all tiles (float64)."""
    prior = conv_prior(seed=0)
    prior.net.double()
    x, t = field((2, 3, 21, 29)).double(), torch.tensor([200, 600])

    def grad(**tiling):
        prior.configure(tiling={"mode": "on", "tile_size": 16, "overlap": 8, **tiling})
        x_in = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(prior.x0(x_in, t).square().sum(), x_in)
        return g

    g_one, g_all = grad(tile_batch=5), grad(tile_batch=1000)
    assert prior.network_plan(x.shape).calls == 1
    torch.testing.assert_close(g_one, g_all, rtol=1e-9, atol=1e-9)
    assert g_one.abs().sum() > 0


def test_conditional_prior_cuts_its_condition_with_the_tiles():
    prior = conv_conditional_prior(seed=0)
    x, c, t = field((1, 3, 20, 28), 1), field((1, 3, 20, 28), 2), torch.tensor([100])
    with torch.no_grad():
        whole = prior.eps(x, t, c)
        assert whole.shape == x.shape
        prior.configure(tiling={"mode": "on", "tile_size": 16, "overlap": 8})
        near = prior.eps(x, t, c)
        shifted = prior.eps(x, t, torch.roll(c, 4, dims=-1))  # a condition cut out of place
    assert psnr(near, whole) > psnr(shifted, whole) + 3
