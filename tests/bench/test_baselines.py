"""Classical baselines: where each applies, and that each does its job on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import operators
from invdiff.baselines import (
    DEFAULT_GRAD_STD,
    QUANTISATION_VAR,
    _grad,
    _grad_adjoint,
    applicable,
    run_baseline,
    wiener_solution,
)
from invdiff.metrics import psnr
from invdiff.tasks import make_problem

from .conftest import sample_image

SHAPE = (1, 3, 48, 48)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return torch.from_numpy(np.array(sample_image("astronaut", (48, 48)))).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def smooth(photo) -> torch.Tensor:
    """The photograph blurred (no detail beyond what ×4 sampling keeps), well inside (0, 1)."""
    blur = operators.GaussianBlur(sigma=2.0, size=13, channels=3)
    return 0.1 + 0.8 * blur.apply(photo)


def measured(task: str, x: torch.Tensor, seed: int = 0, **params):
    gen = torch.Generator().manual_seed(seed)
    op = make_problem(task, x.shape[-1], gen, **params).operator
    return op, op.measure(x, gen)


@pytest.mark.parametrize("task, params, expected", [
    ("inpaint", {}, ["measurement", "biharmonic"]),
    ("gaussian_blur", {}, ["measurement", "pinv", "wiener"]),
    ("motion_blur", {}, ["measurement", "pinv", "wiener"]),
    ("sr4", {}, ["pinv", "bicubic"]),
    ("jpeg", {}, ["measurement"]),
])
def test_which_baselines_apply(task, params, expected):
    op = make_problem(task, 48, torch.Generator().manual_seed(0), **params).operator
    assert applicable(op, SHAPE) == expected


def test_an_inapplicable_baseline_is_an_error(photo):
    op, y = measured("sr4", photo)
    with pytest.raises(ValueError, match="image's shape"):
        run_baseline("measurement", y, op, SHAPE)


def test_gradient_adjoint_is_the_transpose():
    gen = torch.Generator().manual_seed(0)
    x, gh, gw = (torch.randn(s, generator=gen, dtype=torch.float64) for s in [(2, 3, 7, 9), (2, 3, 6, 9), (2, 3, 7, 8)])
    dh, dw = _grad(x)
    lhs = (dh * gh).sum() + (dw * gw).sum()
    assert torch.allclose(lhs, (x * _grad_adjoint(gh, gw)).sum(), rtol=1e-12)


@pytest.mark.parametrize("task", ["gaussian_blur", "motion_blur"])
def test_wiener_solves_its_normal_equations_and_beats_the_blurred_image(task, photo):
    op, y = measured(task, photo)
    assert float(psnr(run_baseline("wiener", y, op, SHAPE), photo)) > float(psnr(y, photo)) + 0.5
    x = wiener_solution(y, op, iters=500)
    lam = ((0.05 / 2) ** 2 + QUANTISATION_VAR) / DEFAULT_GRAD_STD**2
    b = op.adjoint(y.double())
    residual = op.adjoint(op.apply(x)) + lam * _grad_adjoint(*_grad(x)) - b
    assert float(residual.norm() / b.norm()) < 1e-6


def test_pinv_of_noiseless_sr_reproduces_the_measurement(smooth):
    op = operators.SuperResolution(4, "bicubic", channels=3)
    y = op.apply(smooth)
    x_hat = run_baseline("pinv", y, op, SHAPE)
    assert torch.allclose(op.apply(x_hat), y, atol=2e-3)


def test_bicubic_upsampling_keeps_constants_and_restores_smooth_images(smooth):
    op = operators.SuperResolution(4, "bicubic", channels=3)
    flat = run_baseline("bicubic", torch.full((1, 3, 12, 12), 0.3), op, SHAPE)
    assert flat.shape == SHAPE and torch.allclose(flat, torch.full(SHAPE, 0.3), atol=1e-6)
    assert float(psnr(run_baseline("bicubic", op.apply(smooth), op, SHAPE), smooth)) > 30


def test_biharmonic_keeps_observed_pixels_and_fills_the_holes(photo):
    op, y = measured("inpaint", photo, mask_kind="random", missing=0.7)
    x_hat = run_baseline("biharmonic", y, op, SHAPE)
    observed = op.mask.bool().expand(SHAPE)
    assert torch.allclose(x_hat[observed], y.clamp(0, 1)[observed], atol=1e-6)
    assert float(psnr(x_hat, photo)) > float(psnr(y, photo)) + 8
