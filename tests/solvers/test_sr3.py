"""The sr3 solver: conditional ancestral sampling with a tiny conditional prior, its errors, and an exact oracle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from invdiff.priors import ConditionalPrior, ConditioningError, NoiseSchedule, SRConditioning
from invdiff.priors.conditional import upsample_measurement
from invdiff.solvers import (
    UnsupportedTaskError,
    build_solver,
    compatibility,
    default_prior,
    prior_mismatch,
    seeded_generators,
)
from invdiff.tasks import TASKS, make_problem
from tests.priors.helpers import tiny_conditional_prior


def sr4(sigma_y: float = 0.05, **params):
    return make_problem("sr4", 16, torch.Generator().manual_seed(0), sigma_y=sigma_y, **params).operator


@pytest.fixture(scope="module")
def cprior():
    return tiny_conditional_prior(seed=0)


@pytest.fixture
def measured(clean_images):
    op = sr4()
    return op, op.measure(clean_images, seeded_generators(0, 2))


def test_sr3_runs_reports_nfe_and_is_seeded(cprior, measured, clean_images):
    op, y = measured
    solver = build_solver("sr3", steps=4)
    a = solver.solve(y, op, cprior, seeded_generators(0, 2))
    assert a.x.shape == clean_images.shape and a.x.dtype == torch.float32
    assert torch.isfinite(a.x).all() and a.x.min() >= 0 and a.x.max() <= 1
    assert a.nfe == 4 and not a.backprop and a.method == "sr3" and a.settings["steps"] == 4
    assert torch.equal(a.x, solver.solve(y, op, cprior, seeded_generators(0, 2)).x)
    assert not torch.allclose(a.x, solver.solve(y, op, cprior, seeded_generators(1, 2)).x)
    singles = [solver.solve(y[i:i + 1], op, cprior, seeded_generators(i, 1)).x for i in range(2)]
    torch.testing.assert_close(a.x, torch.cat(singles), atol=1e-4, rtol=0)


def test_full_chain_is_the_default():
    assert build_solver("sr3").steps == 1000 and default_prior("sr3") == "faces64-sr4"
    assert default_prior("ddrm") == default_prior(None) == "natural"


class PointMassNet(nn.Module):
    """ε of the data law δ(x − c): the exact conditional ε for p(x | c) = δ(x − c), in a network's call shape."""

    def __init__(self, abar: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("abar", abar.float())
        self.unused = nn.Parameter(torch.zeros(()))  # a prior's network has parameters

    def forward(self, x, t, c):
        a = self.abar[t.long()][:, None, None, None]
        return (x - a.sqrt() * c) / (1 - a).sqrt()


@pytest.mark.parametrize("steps", [1000, 7])
def test_an_exact_point_mass_model_returns_its_condition(steps, clean_images):
    """With ε_θ exact for p(x | c) = δ(x − c), x̂₀ = c at every step, so ancestral sampling must end at c = up(2y − 1)."""
    schedule = NoiseSchedule.create("linear", 1000)
    cond = SRConditioning.for_task("sr4", 16)
    prior = ConditionalPrior(PointMassNet(schedule.alphas_cumprod), schedule, conditioning=cond, resolution=16,
                             channels=3, name="oracle")
    op = sr4()
    y = op.measure(clean_images, seeded_generators(0, 2))
    res = build_solver("sr3", steps=steps).solve(y, op, prior, seeded_generators(0, 2))
    c = upsample_measurement(2 * y - 1, 4)  # rows of the bicubic operator sum to 1: A𝟙 = 𝟙
    torch.testing.assert_close(res.x, ((c + 1) / 2).clamp(0, 1), atol=2e-5, rtol=0)
    assert res.nfe == steps


def test_sr3_supports_sr4_only():
    matrix = compatibility()
    assert matrix["sr3"]["sr4"] is None
    assert all("only sr4" in matrix["sr3"][t] for t in TASKS if t != "sr4")
    with pytest.raises(UnsupportedTaskError, match="sr3 cannot solve inpaint"):
        build_solver("sr3").check(make_problem("inpaint", 16, torch.Generator().manual_seed(0)).operator)


def test_errors_for_priors_and_operators_that_do_not_fit(cprior, measured, clean_images):
    from tests.priors.helpers import tiny_prior

    op, y = measured
    solver = build_solver("sr3", steps=2)
    with pytest.raises(ConditioningError, match="unconditional"):
        solver.solve(y, op, tiny_prior(), seeded_generators(0, 2))
    with pytest.raises(UnsupportedTaskError, match="trained for ×4 bicubic"):
        op2 = sr4(factor=2)
        solver.solve(op2.measure(clean_images, seeded_generators(0, 2)), op2, cprior, seeded_generators(0, 2))
    with pytest.raises(UnsupportedTaskError, match="trained for ×4 bicubic"):
        avg = sr4(kernel_type="average")
        solver.solve(avg.measure(clean_images, seeded_generators(0, 2)), avg, cprior, seeded_generators(0, 2))
    with pytest.raises(UnsupportedTaskError, match="σ_y ≤ 0.1"):
        noisy = sr4(sigma_y=0.3)
        solver.solve(noisy.measure(clean_images, seeded_generators(0, 2)), noisy, cprior, seeded_generators(0, 2))
    # the conditional prior refuses the unconditional solvers, and says which method to use
    with pytest.raises(ConditioningError, match="only method sr3"):
        build_solver("ddrm", steps=2).solve(y, op, cprior, seeded_generators(0, 2))
    assert "only method sr3" in prior_mismatch("dps", cprior) and prior_mismatch("sr3", cprior) is None
    assert "unconditional" in prior_mismatch("sr3", tiny_prior()) and prior_mismatch("ddrm", tiny_prior()) is None
