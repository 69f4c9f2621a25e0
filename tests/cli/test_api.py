"""``invdiff.solve``: types in = types out, the input rule, seeds, batches, composable objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import invdiff
from invdiff.solvers import UnsupportedTaskError, build_solver


def smooth(n: int = 1, seed: int = 0) -> torch.Tensor:
    x = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(x, size=16, mode="bilinear", align_corners=False)


def test_tensor_in_tensor_out(tiny_path):
    x = smooth()[0].double()
    r = invdiff.solve(x, task="sr4", method="ddrm", prior=tiny_path, steps=2)
    assert isinstance(r.image, torch.Tensor) and r.image.shape == (3, 16, 16) and r.image.dtype == torch.float64
    assert r.measurement.shape == (3, 4, 4) and (r.nfe, r.seed) == (2, 0) and r.seconds > 0
    assert r.settings["images"][0]["reading"] == "clean" and r.settings["solver"]["steps"] == 2
    assert r.operator.name == "sr4" and r.prior.resolution == 16 and r.solver.name == "ddrm"


def test_numpy_and_pil_keep_their_type_mode_and_dtype(tiny_path):
    u8 = (smooth()[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    r = invdiff.solve(u8, task="gaussian_blur", method="ddrm", prior=tiny_path, steps=2)
    assert isinstance(r.image, np.ndarray) and r.image.dtype == np.uint8 and r.image.shape == (16, 16, 3)
    gray = u8[..., 0]
    r = invdiff.solve(gray, task="gaussian_blur", method="ddrm", prior=tiny_path, steps=2)
    assert r.image.shape == (16, 16) and r.image.dtype == np.uint8
    r = invdiff.solve(Image.fromarray(gray), task="inpaint", method="ddrm", prior=tiny_path, steps=2)
    assert isinstance(r.image, Image.Image) and r.image.mode == "L" and r.measurement.mode == "LA"


def test_alpha_holes_make_a_measurement_and_the_measurement_round_trips(tiny_path):
    rgba = np.concatenate([(smooth()[0].permute(1, 2, 0).numpy() * 255).round(), np.full((16, 16, 1), 255.0)], -1)
    rgba[2:6, 3:9, 3] = 0
    r = invdiff.solve(Image.fromarray(rgba.astype(np.uint8), "RGBA"), task="inpaint", method="repaint",
                      prior=tiny_path, steps=2, jump_length=1, resamples=1)
    assert r.settings["images"][0]["reading"] == "measurement" and r.image.mode == "RGB"
    assert float(r.mask.sum()) == 256 - 24
    again = invdiff.solve(r.measurement, task="inpaint", method="repaint", prior=tiny_path, steps=2, jump_length=1,
                          resamples=1)
    assert torch.equal(again.mask, r.mask) and torch.allclose(again.cases[0].y, r.cases[0].y, atol=1 / 255)


def test_seeds_are_reproducible_and_zero_is_a_seed(tiny_path):
    x = smooth()
    run = lambda seed: invdiff.solve(x, task="inpaint", method="ddrm", prior=tiny_path, steps=2, seed=seed)
    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    assert not torch.equal(a.mask, c.mask)  # the protocol's box is drawn from the same generator


def test_batch_equals_one_by_one(tiny_path):
    x = smooth(3, seed=4)
    batch = invdiff.solve(x, task="inpaint", method="dps", prior=tiny_path, steps=2, seed=10)
    for i in range(3):
        one = invdiff.solve(x[i], task="inpaint", method="dps", prior=tiny_path, steps=2, seed=10 + i)
        assert torch.allclose(batch.image[i], one.image, atol=1e-4)  # float32 batched convolutions


def test_composable_objects_and_errors(tiny_path):
    prior = invdiff.load_prior(tiny_path)
    solver = build_solver("ddrm", steps=2)
    r = invdiff.solve(smooth(), task="sr4", method=solver, prior=prior, sigma_y=0.0)
    assert r.solver is solver and r.prior is prior and r.operator.noise.sigma_y == 0.0
    y = r.operator.apply(smooth())  # the operator is an ordinary operators.Operator
    assert y.shape == (1, 3, 4, 4)
    with pytest.raises(UnsupportedTaskError):
        invdiff.solve(smooth(), task="jpeg", method="ddrm", prior=prior)
    with pytest.raises(ValueError, match="unknown task"):
        invdiff.solve(smooth(), task="deblur", method="ddrm", prior=prior)
    with pytest.raises(ValueError, match="no setting 'zeta'"):
        invdiff.solve(smooth(), task="sr4", method="ddrm", prior=prior, zeta=1.0)


def test_fit_to_prior_is_explicit(tiny_path):
    big = Image.fromarray(np.zeros((40, 30, 3), np.uint8))
    fitted = invdiff.fit_to_prior(big, invdiff.load_prior(tiny_path))
    assert isinstance(fitted, Image.Image) and fitted.size == (16, 16)
    assert invdiff.fit_to_prior(torch.rand(3, 20, 24), 16).shape == (3, 16, 16)
