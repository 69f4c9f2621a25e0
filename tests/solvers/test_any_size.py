"""Every solver at any H×W (odd, non-square) on an attention-free tiny U-Net, whole and on tiles.

The solvers already work in the image's own shape (``image_shape=``); the prior pads each network
call by reflection to the stride (8 here) and crops back. What must hold: the output has the
image's shape, the network only ever sees stride multiples, nothing of the padding leaks into the
result (noiseless inpainting returns the observed pixels exactly, in place), and a tiled solve
agrees with the whole-image solve (measured: see ``benchmarks/tiling/``).
"""

from __future__ import annotations

import pytest
import torch

from invdiff.solvers import build_solver, seeded_generators
from operators import GaussianBlur, Inpainting, SuperResolution
from tests.priors.conv_helpers import conv_conditional_prior, conv_prior
from tests.solvers.conftest import FAST_SETTINGS

H, W = 37, 53  # padded to 40×56


def smooth(h: int, w: int, n: int = 1, seed: int = 3) -> torch.Tensor:
    x = torch.rand(n, 3, 5, 7, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def psnr01(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).square().mean()))


@pytest.fixture(scope="module")
def prior():
    return conv_prior(seed=0)


@pytest.fixture
def net_inputs(prior):
    """The shapes the network is called with during a test."""
    shapes: list[torch.Size] = []
    handle = prior.net.register_forward_pre_hook(lambda module, args: shapes.append(args[0].shape))
    yield shapes
    handle.remove()
    prior.configure(tiling={"mode": "auto"})


@pytest.mark.parametrize("method", ["dps", "ddrm", "repaint"])
def test_solvers_restore_an_odd_size_image_at_its_size(method, prior, net_inputs):
    x = smooth(H, W)
    mask = (torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    op = Inpainting(mask, noise=0.0)
    y = op.measure(x)
    res = build_solver(method, **FAST_SETTINGS[method]).solve(y, op, prior, seeded_generators(0, 1),
                                                               image_shape=x.shape)
    assert res.x.shape == x.shape and torch.isfinite(res.x).all()
    assert net_inputs and {s[-2:] for s in net_inputs} == {(40, 56)}
    if method != "dps":  # σ_y = 0 and η_b = 1 / line 8: the observed pixels come back exactly, in their place
        torch.testing.assert_close(res.x * mask, x * mask, rtol=0, atol=1e-6)


def test_sr3_restores_4h_by_4w_from_an_h_by_w_measurement():
    prior = conv_conditional_prior(seed=0)
    shapes = []
    prior.net.register_forward_pre_hook(lambda module, args: shapes.append((*args[0].shape[1:], *args[2].shape[1:])))
    x = smooth(36, 52)
    op = SuperResolution(4, noise=0.05)
    y = op.measure(x, seeded_generators(0, 1))
    assert y.shape[-2:] == (9, 13)
    res = build_solver("sr3", **FAST_SETTINGS["sr3"]).solve(y, op, prior, seeded_generators(0, 1), image_shape=x.shape)
    assert res.x.shape == x.shape and torch.isfinite(res.x).all()
    assert set(shapes) == {(3, 40, 56, 3, 40, 56)}  # x_t and the condition c, both padded alike


@pytest.mark.parametrize("method", ["ddrm", "dps", "sr3"])
def test_a_tiled_solve_stays_near_the_whole_image_solve(method, prior):
    """Same seeds, 32-px tiles with 16 px of overlap vs one call: tiling moves a short solve far less than a new seed.

    Random tiny networks are the worst case for tiling: a 32-px tile leaves their 32-channel GroupNorm
    a 4×4 bottleneck to normalise over, so tiles and the whole image differ by ~20 dB here
    (``benchmarks/tiling/README.md`` states the measurements and the command for a trained prior).
    """
    solver_prior = conv_conditional_prior(seed=0) if method == "sr3" else prior
    x = smooth(44, 60) if method == "sr3" else smooth(H, W)
    op = SuperResolution(4, noise=0.05) if method == "sr3" else GaussianBlur(1.5, 7, noise=0.05)
    y = op.measure(x, seeded_generators(1, 1))
    solver = build_solver(method, **FAST_SETTINGS[method])

    def solve(seed: int = 0, **tiling):
        solver_prior.configure(tiling={"mode": "off", **tiling})
        return solver.solve(y, op, solver_prior, seeded_generators(seed, 1), image_shape=x.shape).x

    whole, other_seed = solve(), solve(seed=5)
    tiled = solve(mode="on", tile_size=32, overlap=16)
    solver_prior.configure(tiling={"mode": "auto"})
    assert tiled.shape == whole.shape == x.shape
    assert psnr01(tiled, whole) > psnr01(other_seed, whole) + 3, (psnr01(tiled, whole), psnr01(other_seed, whole))
