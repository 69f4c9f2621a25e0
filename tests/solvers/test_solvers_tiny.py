"""Every registered solver × task on a tiny random-init U-Net: shapes, ranges, NFE, errors, seeds."""

from __future__ import annotations

import itertools

import pytest
import torch

from invdiff.solvers import (
    UnsupportedTaskError,
    build_solver,
    compatibility,
    jump_schedule,
    seeded_generators,
)
from invdiff.tasks import TASKS, make_problem
from tests.solvers.conftest import FAST_SETTINGS

MATRIX = compatibility()
PAIRS = [(m, t) for m in MATRIX for t in TASKS]


def problem(task: str, seed: int = 0, **params):
    return make_problem(task, 16, torch.Generator().manual_seed(seed), **params).operator


def expected_nfe(method: str) -> int:
    s = FAST_SETTINGS[method]
    if method == "repaint":
        ts = jump_schedule(s["steps"], s["jump_length"], s["resamples"])
        return sum(1 for a, b in itertools.pairwise(ts) if b < a)
    if method == "daps":  # ode_steps calls per level, one at the last level (σ_min: x̂₀ = D directly)
        return (s["steps"] - 1) * s["ode_steps"] + 1
    return s["steps"]


@pytest.mark.parametrize("method,task", PAIRS)
def test_every_pair_runs_or_refuses(method, task, prior_for, clean_images):
    prior = prior_for(method)
    op = problem(task)
    solver = build_solver(method, **FAST_SETTINGS[method])
    y = op.measure(clean_images, seeded_generators(0, 2))
    if MATRIX[method][task] is not None:
        with pytest.raises(UnsupportedTaskError, match=method):
            solver.solve(y, op, prior, seeded_generators(0, 2))
        return
    res = solver.solve(y, op, prior, seeded_generators(0, 2), image_shape=clean_images.shape)
    assert res.x.shape == clean_images.shape and res.x.dtype == torch.float32
    assert torch.isfinite(res.x).all() and res.x.min() >= 0 and res.x.max() <= 1
    assert res.nfe == expected_nfe(method) == solver.nfe()
    assert res.backprop == (method in ("dps", "pigdm"))
    assert res.method == method and res.seconds > 0


def test_matrix_covers_the_paper_claims():
    assert MATRIX["dps"] == {t: None for t in TASKS}  # DPS: every task, JPEG through the differentiable codec
    assert MATRIX["repaint"] == {t: None for t in TASKS}  # RePaint: SVD merge, JPEG through the projection
    assert all(MATRIX["ddrm"][t] is None for t in TASKS if t != "jpeg")
    assert "not implemented" in MATRIX["ddrm"]["jpeg"]
    for method in ("diffpir", "ddnm", "pigdm", "daps"):  # issue 16: every task, JPEG by projection or codec
        assert MATRIX[method] == {t: None for t in TASKS}, method


@pytest.mark.parametrize("method", ["ddnm", "diffpir"])
def test_projection_methods_refuse_noisy_jpeg(method):
    with pytest.raises(UnsupportedTaskError, match="σ_y = 0"):
        build_solver(method).check(problem("jpeg", sigma_y=0.05))


@pytest.mark.parametrize("method", ["ddnm", "diffpir"])
def test_projection_methods_jpeg_output_is_consistent_with_the_file(method, prior, clean_images):
    """DDNM's and DiffPIR's JPEG data step is the consistency projection: re-encoding gives y's coefficients."""
    op = problem("jpeg")
    y = op.measure(clean_images, seeded_generators(0, 2))
    res = build_solver(method, **FAST_SETTINGS[method]).solve(y, op, prior, seeded_generators(0, 2))
    bins = lambda im: op.quantise(op.to_dct(im))
    same = torch.cat([(bins(res.x).luma == bins(y).luma).flatten(), (bins(res.x).chroma == bins(y).chroma).flatten()])
    assert same.float().mean() > 0.99, same.float().mean()


def test_repaint_jpeg_output_is_consistent_with_the_file(prior, clean_images):
    """Re-encoding RePaint's JPEG restoration gives the measured quantised coefficients."""
    op = problem("jpeg")
    y = op.measure(clean_images, seeded_generators(0, 2))
    res = build_solver("repaint", **FAST_SETTINGS["repaint"]).solve(y, op, prior, seeded_generators(0, 2))
    bins = lambda im: op.quantise(op.to_dct(im))
    same = torch.cat([(bins(res.x).luma == bins(y).luma).flatten(), (bins(res.x).chroma == bins(y).chroma).flatten()])
    # POCS with the [0, 1] box converges to the intersection; 20 rounds leave a few coefficients at bin edges
    assert same.float().mean() > 0.99, same.float().mean()


def test_repaint_refuses_noisy_jpeg():
    op = problem("jpeg", sigma_y=0.05)
    with pytest.raises(UnsupportedTaskError, match="σ_y = 0"):
        build_solver("repaint").check(op)


@pytest.mark.parametrize("method", ["dps", "ddrm", "repaint", "diffpir", "ddnm", "pigdm", "daps"])
def test_same_seed_same_output_and_seed_zero_is_a_seed(method, prior, clean_images):
    op = problem("sr4")
    y = op.measure(clean_images, seeded_generators(0, 2))
    solver = build_solver(method, **FAST_SETTINGS[method])
    a = solver.solve(y, op, prior, seeded_generators(0, 2)).x
    b = solver.solve(y, op, prior, seeded_generators(0, 2)).x
    c = solver.solve(y, op, prior, seeded_generators(1, 2)).x
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("method", ["dps", "ddrm", "repaint", "diffpir", "ddnm", "pigdm", "daps"])
def test_batch_equals_one_by_one(method, prior, clean_images):
    op = problem("gaussian_blur")
    y = op.measure(clean_images, seeded_generators(0, 2))
    solver = build_solver(method, **FAST_SETTINGS[method])
    batch = solver.solve(y, op, prior, seeded_generators(7, 2)).x
    singles = [solver.solve(y[i:i + 1], op, prior, seeded_generators(7 + i, 1)).x for i in range(2)]
    torch.testing.assert_close(batch, torch.cat(singles), atol=1e-4, rtol=0)  # conv reduction order differs


def test_dps_step_is_per_image_not_per_batch(prior, clean_images):
    """The original DPS code normalises by the batch norm: its step depends on what else is in the batch."""
    op = problem("inpaint")
    y = op.measure(clean_images, seeded_generators(0, 2))
    solver = build_solver("dps", steps=3)
    alone = solver.solve(y[:1], op, prior, seeded_generators(4, 1)).x
    y_other = y.clone()
    y_other[1] = 0.0  # a very different companion image
    together = solver.solve(y_other, op, prior, seeded_generators(4, 2)).x[:1]
    torch.testing.assert_close(alone, together, atol=1e-4, rtol=0)


@pytest.mark.parametrize("method", ["dps", "pigdm", "daps"])
def test_gradient_methods_inside_no_grad(method, prior, clean_images):
    op = problem("motion_blur")
    y = op.measure(clean_images, seeded_generators(0, 2))
    with torch.no_grad():
        res = build_solver(method, **FAST_SETTINGS[method]).solve(y, op, prior, seeded_generators(0, 2))
    assert torch.isfinite(res.x).all()


@pytest.mark.parametrize("method", ["ddrm", "repaint", "ddnm", "diffpir"])
def test_noiseless_inpainting_keeps_observed_pixels(method, prior, clean_images):
    op = problem("inpaint", sigma_y=0.0, mask_kind="random", missing=0.5)
    y = op.measure(clean_images, seeded_generators(0, 2))
    res = build_solver(method, **FAST_SETTINGS[method]).solve(y, op, prior, seeded_generators(0, 2))
    m = op.mask.expand_as(res.x).bool()
    torch.testing.assert_close(res.x[m], y[m], atol=1e-6, rtol=0)
    assert not torch.allclose(res.x[~m], y[~m])  # the holes were filled with something


def test_unknown_method_is_one_clear_error():
    with pytest.raises(KeyError, match="choose one of"):
        build_solver("nope")


def test_measurement_with_nan_is_refused(prior, clean_images):
    op = problem("sr4")
    y = op.measure(clean_images, seeded_generators(0, 2))
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        build_solver("ddrm", steps=2).solve(y, op, prior, seeded_generators(0, 2))


def test_wrong_number_of_generators(prior, clean_images):
    op = problem("sr4")
    y = op.measure(clean_images, seeded_generators(0, 2))
    with pytest.raises(ValueError, match="one per image"):
        build_solver("ddrm", steps=2).solve(y, op, prior, seeded_generators(0, 3))


def test_jump_schedule_counts():
    ts = jump_schedule(250, 10, 10)
    assert ts[0] == 249 and ts[-1] == -1
    assert sum(1 for a, b in itertools.pairwise(ts) if b < a) == 2410  # RePaint's published 250/10/10 cost


@pytest.mark.parametrize("method", ["dps", "ddrm", "repaint"])
def test_smoke_run_on_a_real_image(method, prior):
    """Each solver with its paper schedule shape (fewer steps) on skimage's astronaut at 16×16, in seconds."""
    import time

    from skimage import data

    img = torch.from_numpy(data.astronaut().copy()).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(img, size=16, mode="area")
    op = problem("inpaint")
    y = op.measure(x, seeded_generators(0, 1))
    start = time.perf_counter()
    res = build_solver(method, **FAST_SETTINGS[method]).solve(y, op, prior, seeded_generators(0, 1))
    assert time.perf_counter() - start < 30
    assert torch.isfinite(res.x).all() and res.x.shape == x.shape


class _NaNPrior(torch.nn.Module):
    """Wraps a prior and poisons its ε̂ with NaN: a stand-in for broken weights or a blown-up step."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def eps(self, x_t, t, y=None):
        return self.inner.eps(x_t, t, y) * float("nan")

    def x0(self, x_t, t, y=None):
        return self.inner.x0(x_t, t, y) * float("nan")

    def denoise(self, x, sigma, y=None):
        return self.inner.denoise(x, sigma, y) * float("nan")


@pytest.mark.parametrize("method", ["ddrm", "dps", "repaint", "diffpir", "ddnm", "pigdm", "daps"])
def test_non_finite_result_is_one_clear_error(method, prior, clean_images):
    from invdiff.solvers.base import SolverDivergedError

    op = problem("inpaint")
    y = op.measure(clean_images, seeded_generators(0, 2))
    with pytest.raises(SolverDivergedError, match=f"{method} produced NaN"):
        build_solver(method, **FAST_SETTINGS[method]).solve(y, op, _NaNPrior(prior), seeded_generators(0, 2))


def test_operator_on_another_device_is_moved_as_a_copy():
    from invdiff.solvers.base import on_device

    op = problem("inpaint")
    assert on_device(op, torch.device("cpu")) is op
    moved = on_device(op, torch.device("meta"))
    assert moved is not op and moved.mask.device.type == "meta"
    assert op.mask.device.type == "cpu"  # the caller's operator stays where it was
