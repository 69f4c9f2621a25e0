"""Issue 14's solver options and small fixes on tiny networks: learned variance, raw samples, DDRM's ε̂
after clipping, networks without parameters, and the NaN/inf-free noiseless case at a large size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import operators
from invdiff.priors import DiffusionPrior, NoiseSchedule
from invdiff.solvers import DDRM, DPS, RePaint, seeded_generators
from invdiff.solvers.base import spectral_measurement
from invdiff.tasks import make_problem
from tests.priors.helpers import tiny_net

FAST = {"dps": lambda **kw: DPS(steps=4, **kw), "repaint": lambda **kw: RePaint(steps=6, jump_length=2, resamples=2, **kw)}


class WithVariance(nn.Module):
    """A learned-σ network: ``net``'s ε̂ plus variance channels fixed at ``v`` (v = −1: Σ_θ = β̃, v = 1: Σ_θ = β)."""

    def __init__(self, net: nn.Module, v: float) -> None:
        super().__init__()
        self.net, self.v = net, v

    def forward(self, x, t, y=None):
        eps = self.net(x, t)
        return torch.cat([eps, torch.full_like(eps, self.v)], dim=1)


def learned_prior(v: float) -> DiffusionPrior:
    return DiffusionPrior(WithVariance(tiny_net(0), v), NoiseSchedule.create("linear", 1000), resolution=16,
                          channels=3, learn_sigma=True, name=f"tiny-learned{v:+g}")


def fixed_prior() -> DiffusionPrior:
    return DiffusionPrior(tiny_net(0), NoiseSchedule.create("linear", 1000), resolution=16, channels=3, name="tiny")


def solve(solver, prior, clean_images, task="inpaint", sigma_y=0.05):
    op = make_problem(task, 16, torch.Generator().manual_seed(0), sigma_y=sigma_y).operator
    y = op.measure(clean_images, torch.Generator().manual_seed(1))
    return solver.solve(y, op, prior, seeded_generators(0, len(y)), image_shape=tuple(clean_images.shape))


@pytest.mark.parametrize("method", ["dps", "repaint"])
def test_learned_variance_is_used(method, clean_images):
    """Σ_θ = β̃ (v = −1) reproduces the fixed variance; Σ_θ = β (v = 1) changes the sample; auto = learned."""
    make = FAST[method]
    as_fixed = solve(make(variance="learned"), learned_prior(-1.0), clean_images).x
    fixed = solve(make(variance="fixed"), learned_prior(-1.0), clean_images).x
    torch.testing.assert_close(as_fixed, fixed, atol=1e-5, rtol=0)
    upper = solve(make(variance="learned"), learned_prior(1.0), clean_images).x
    auto = solve(make(), learned_prior(1.0), clean_images).x
    assert (upper - fixed).abs().max() > 1e-3
    torch.testing.assert_close(auto, upper, atol=0, rtol=0)
    plain = solve(make(), fixed_prior(), clean_images).x  # auto on a fixed-variance prior: β̃
    torch.testing.assert_close(plain, solve(make(variance="fixed"), fixed_prior(), clean_images).x, atol=0, rtol=0)


@pytest.mark.parametrize("method", ["dps", "repaint"])
def test_learned_variance_needs_a_prior_that_has_it(method, clean_images):
    with pytest.raises(ValueError, match="learned variance"):
        solve(FAST[method](variance="learned"), fixed_prior(), clean_images)
    with pytest.raises(ValueError, match="variance must be"):
        FAST[method](variance="big")


def test_raw_sample_is_the_unclamped_result(prior, clean_images):
    res = solve(DPS(steps=3, zeta=5.0), prior, clean_images, sigma_y=0.3)
    assert res.raw is not None and res.raw.dtype == res.x.dtype
    torch.testing.assert_close(res.x, res.raw.clamp(0, 1), atol=0, rtol=0)
    assert bool(((res.raw < 0) | (res.raw > 1)).any())  # a large DPS step overshoots: the raw sample keeps it


class Recorder:
    """Wraps a prior and records every network input (x_t) with ε̂ = 3 everywhere, so x̂₀ leaves [-1, 1]."""

    def __init__(self, prior) -> None:
        self.inner, self.inputs = prior, []
        self.schedule, self.channels, self.resolution, self.nfe = prior.schedule, prior.channels, 16, 0

    def reset_nfe(self) -> None:
        self.nfe = 0

    def eps(self, x, t):
        self.inputs.append(x.clone())
        self.nfe += 1
        return torch.full_like(x, 3.0)

    def x0(self, x, t):
        """Tweedie's x̂₀ of that ε̂ (solvers on the step core ask for x̂₀)."""
        a = self.inner.alphas_cumprod[torch.as_tensor(t).flatten()[0].long()].item()
        return (x - (1 - a) ** 0.5 * self.eps(x, t)) / a**0.5


def test_ddrm_eps_agrees_with_the_clipped_x0(prior):
    """Nothing measured, η = 0: x̄_{t−1} = x̂₀ + σ_{t−1} ε̂ must hold with ε̂ = (x̄_t − x̂₀)/σ_t for the clipped x̂₀."""
    op = operators.Inpainting(torch.zeros(16, 16), channels=3, noise=0.0)
    rec = Recorder(prior)
    DDRM(steps=2, eta=0.0).solve(torch.zeros(1, 3, 16, 16), op, rec, torch.Generator().manual_seed(0),
                                 image_shape=(1, 3, 16, 16))
    abar = prior.schedule.respace(2).alphas_cumprod.tolist()
    sig = [((1 - a) / a) ** 0.5 for a in abar]
    x_bar_T = rec.inputs[0] / abar[1] ** 0.5
    x0 = ((rec.inputs[0] - (1 - abar[1]) ** 0.5 * 3.0) / abar[1] ** 0.5).clamp(-1, 1)
    expected = x0 + sig[0] * (x_bar_T - x0) / sig[1]
    torch.testing.assert_close(rec.inputs[1] / abar[0] ** 0.5, expected, atol=1e-4, rtol=1e-4)


class Parameterless(nn.Module):
    """ε̂ = x_t/2: a network with no parameters at all."""

    def forward(self, x, t):
        return 0.5 * x


def test_network_without_parameters(clean_images):
    prior = DiffusionPrior(Parameterless(), NoiseSchedule.create("linear", 1000), resolution=16, channels=3)
    assert prior.device == torch.device("cpu")
    res = solve(DDRM(steps=3), prior, clean_images)
    assert bool(torch.isfinite(res.x).all())


@pytest.mark.parametrize("sigma_y", [0.0, 0.05])
@pytest.mark.parametrize("task", ["gaussian_blur", "sr4"])
def test_no_nan_or_inf_at_256(task, sigma_y):
    """256², the protocol's operators: ȳ stays finite and bounded (s reaches 1e-34 for the 61×61 Gaussian)."""
    gen = torch.Generator().manual_seed(0)
    op = make_problem(task, 256, gen, sigma_y=sigma_y).operator
    x = torch.rand(1, 3, 256, 256, generator=gen)
    y = op.measure(x, torch.Generator().manual_seed(1))
    y_bar, y_std, measured = spectral_measurement(y, op, (1, 3, 256, 256))
    assert bool(torch.isfinite(y_bar).all()) and bool(measured.any()) and not bool(measured.all())
    assert float(y_bar.abs().max()) < 1e4  # float32 rounding / cut-off ≈ 1e-7 / 3e-4 per unit of ‖y‖
    assert bool((y_std[measured] >= 0).all()) and bool(torch.isfinite(y_std[measured]).all())


@pytest.mark.slow
@pytest.mark.parametrize("sigma_y", [0.0, 0.05])
@pytest.mark.parametrize("method", ["ddrm", "repaint"])
def test_solvers_finite_at_256_with_a_tiny_net(method, sigma_y):
    """A whole solve at 256² (tiny random net, few steps): no NaN or inf at σ_y ∈ {0, 0.05}."""
    prior = DiffusionPrior(tiny_net(0), NoiseSchedule.create("linear", 1000), resolution=256, channels=3)
    op = make_problem("gaussian_blur", 256, torch.Generator().manual_seed(0), sigma_y=sigma_y).operator
    y = op.measure(torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1)), torch.Generator())
    solver = DDRM(steps=2) if method == "ddrm" else RePaint(steps=2, jump_length=1, resamples=1)
    res = solver.solve(y, op, prior, torch.Generator().manual_seed(2), image_shape=(1, 3, 256, 256))
    assert bool(torch.isfinite(res.raw).all())


def test_given_kernel_records_its_boundary():
    """A given kernel makes a circular MotionBlur (issue 14, item 5): the saved details must say so."""
    k = torch.ones(3, 3, dtype=torch.float64) / 9
    problem = make_problem("motion_blur", 16, torch.Generator().manual_seed(0), kernel=k)
    assert problem.details["boundary"] == "circular"
    assert make_problem("gaussian_blur", 16, torch.Generator().manual_seed(0)).details["boundary"] == "reflect"
