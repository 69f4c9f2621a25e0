"""DDNM⁺, DiffPIR, ΠGDM and DAPS against their exact output law on a decoupled Gaussian prior (issue 16).

As for DDRM and RePaint in ``test_gaussian_posterior.py``: with a prior diagonal in the operator's SVD
basis and the exact denoiser, each spectral coordinate is its own 1-D problem and every update of
these algorithms is affine in the state plus independent Gaussian noise, so the output's mean and
variance per coordinate follow in closed form. The laws below are written from the papers'
updates as stated in each solver's module docstring, not from the solvers' code: a wrong sign, a
wrong ᾱ index or a halved σ_y moves some coordinate's mean by many Monte-Carlo standard errors
(``benchmarks/mutations/`` records it). Where a method guarantees it (DDNM, DiffPIR at σ_y = 0) the
measured coordinates must equal ȳ exactly.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from invdiff.priors.schedule import NoiseSchedule
from invdiff.solvers import DAPS, DDNM, DiffPIR, PiGDM
from invdiff.solvers.daps import edm_sigmas
from tests.solvers.test_gaussian_posterior import INF, SHAPE, D, N, decoupled_problem, run, spectral_truth


def chain(steps: int) -> list[float]:
    return NoiseSchedule.create("linear", 1000).respace(steps).alphas_cumprod.tolist()


def denoiser(mu: float, v: float, a: float) -> tuple[float, float]:
    """x̂₀ = g x_t + b for the VP state of one coordinate with prior N(mu, v) at level ᾱ = a."""
    g = a**0.5 * v / (a * v + 1 - a)
    return g, mu * (1 - g * a**0.5)


def eps_coeffs(a0: float, b0: float, a: float) -> tuple[float, float]:
    """ε̂ = (x − √ᾱ x̂₀)/√(1−ᾱ) for x̂₀ = a0 x + b0, as (coefficient of x, constant)."""
    return (1 - a**0.5 * a0) / (1 - a) ** 0.5, -(a**0.5) * b0 / (1 - a) ** 0.5


def ddnm_law(mu, v, y_bar, y_std, steps: int, eta: float) -> tuple[float, float]:
    """DDNM⁺: λ = 1 where σ_y/s ≤ σ', else σ' s/σ_y; γ = (1 − ᾱ') − ᾱ'(λ σ_y/s)²; x' = √ᾱ' x̂₀,t + √γ (η z + √(1−η²) ε̂)."""
    ab, m, q = chain(steps), 0.0, 1.0
    for i in reversed(range(steps)):
        a, ap = ab[i], (ab[i - 1] if i else 1.0)
        s_next = ((1 - ap) / ap) ** 0.5
        a0, b0 = denoiser(mu, v, a)
        ae, be = eps_coeffs(a0, b0, a)
        lam = 0.0 if y_std == INF else (1.0 if y_std <= s_next else s_next / y_std)
        std = 0.0 if y_std == INF else y_std
        gamma = max((1 - ap) - ap * (lam * std) ** 2, 0.0)
        keep = gamma**0.5 * (1 - eta**2) ** 0.5
        A = ap**0.5 * (1 - lam) * a0 + keep * ae
        B = ap**0.5 * ((1 - lam) * b0 + lam * y_bar) + keep * be
        m, q = A * m + B, A * A * q + gamma * eta**2
    return m, q


def diffpir_law(mu, v, y_bar, y_std, steps: int, lam: float, zeta: float) -> tuple[float, float]:
    """DiffPIR: x̂₀ → x̂₀ + k (ȳ − x̂₀), k = 1/(1 + λ (σ_y/s)²/σ_t²); x' = √ᾱ' x̂₀ + √(1−ᾱ')(√(1−ζ) ε̂ + √ζ z)."""
    ab, m, q = chain(steps), 0.0, 1.0
    for i in reversed(range(steps)):
        a, ap = ab[i], (ab[i - 1] if i else 1.0)
        a0, b0 = denoiser(mu, v, a)
        k = 0.0 if y_std == INF else 1 / (1 + lam * y_std**2 / ((1 - a) / a))
        a1, b1 = (1 - k) * a0, (1 - k) * b0 + k * y_bar
        ae, be = eps_coeffs(a1, b1, a)
        keep = (1 - ap) ** 0.5 * (1 - zeta) ** 0.5
        A, B = ap**0.5 * a1 + keep * ae, ap**0.5 * b1 + keep * be
        m, q = A * m + B, A * A * q + (1 - ap) * zeta
    return m, q


def pigdm_law(mu, v, y_bar, y_std, steps: int, eta: float, w: float) -> tuple[float, float]:
    """ΠGDM: x̂₀ += w (1−ᾱ)/√ᾱ · g_t, g_t = (∂x̂₀/∂x)(ȳ − x̂₀)/(r² + σ_y²/s²), r² = 1 − ᾱ; then DDIM(η)."""
    ab, m, q = chain(steps), 0.0, 1.0
    for i in reversed(range(steps)):
        a, ap = ab[i], (ab[i - 1] if i else 1.0)
        a0, b0 = denoiser(mu, v, a)
        c = 0.0 if y_std == INF else w * (1 - a) / a**0.5 * a0 / ((1 - a) + y_std**2)
        a1, b1 = (1 - c) * a0, (1 - c) * b0 + c * y_bar
        ae, be = eps_coeffs(a1, b1, a)
        sig = eta * ((1 - ap) / (1 - a) * (1 - a / ap)) ** 0.5
        keep = max(1 - ap - sig**2, 0.0) ** 0.5
        A, B = ap**0.5 * a1 + keep * ae, ap**0.5 * b1 + keep * be
        m, q = A * m + B, A * A * q + sig**2
    return m, q


def daps_law(mu, v, y_bar, prec, steps: int, ode_steps: int, langevin: int, lr: float, ratio: float,
             sigma_y: float, s_min: float, s_max: float) -> tuple[float, float]:
    """DAPS (VE): Euler ODE with D = μ + v/(v+σ²)(x − μ); Langevin x₀ ← x₀ − η(prec (x₀ − ȳ) + (x₀ − x̂₀)/r²) + √(2η) z."""
    levels = edm_sigmas(s_max, s_min, steps)
    m, q = 0.0, levels[0] ** 2
    for k, r in enumerate(levels):
        grid = edm_sigmas(r, s_min, ode_steps) if r > s_min else [r]
        A, B = 1.0, 0.0  # x̂₀ = A x + B
        for s, s_next in itertools.pairwise(grid):
            h = v / (v + s * s)
            f = 1 + (s_next - s) * (1 - h) / s
            A, B = f * A, f * B - (s_next - s) * (1 - h) * mu / s
        h = v / (v + grid[-1] ** 2)
        A, B = h * A, h * B + (1 - h) * mu
        lr_k = lr * (ratio + (1 - ratio) * (1 - k / max(steps - 1, 1)))
        eta = min(lr_k, 1 / (1 / sigma_y**2 + 1 / r**2))
        c = 1 - eta * (prec + 1 / r**2)
        alpha, beta, nv = 1.0, 0.0, 0.0  # x₀ = α x̂₀ + β + noise of variance nv
        for _ in range(langevin):
            alpha, beta, nv = c * alpha + eta / r**2, c * beta + eta * prec * y_bar, c * c * nv + 2 * eta
        m, q = alpha * (A * m + B) + beta, (alpha * A) ** 2 * q + nv
        if k + 1 < steps:
            q += levels[k + 1] ** 2
    return m, q


def compare(solver, name: str, sigma_y: float, law, capsys, exact_on_measured: bool) -> None:
    op, prior, y, spec_mu, spec_var = decoupled_problem(name, sigma_y=sigma_y)
    z = op.V_t(run(solver, op, prior, y).reshape(N, *SHAPE))
    y_bar, y_std = spectral_truth(op, y)
    exact = torch.tensor([law(float(spec_mu[j]), float(spec_var[j]), float(y_bar[j]), float(y_std[j]), j)
                          for j in range(D)], dtype=torch.float64)
    measured = torch.isfinite(y_std)
    check = torch.ones(D, dtype=torch.bool)
    if exact_on_measured and sigma_y == 0:
        torch.testing.assert_close(z[:, measured], y_bar[measured].expand(N, -1), atol=1e-5, rtol=0)
        check = ~measured
    mean_err = (z[:, check].mean(0) - exact[check, 0]) / (exact[check, 1].clamp_min(1e-12) / N).sqrt()
    var_ratio = float(z[:, check].var(0).sum() / exact[check, 1].sum())
    with capsys.disabled():
        print(f"\n[{solver.name} {name} σ_y={sigma_y}] max |mean−law|/MC = {mean_err.abs().max():.2f}, "
              f"Σvar/Σvar_law = {var_ratio:.3f}")
    assert mean_err.abs().max() < 4.5  # 16–64 coordinates, each ~N(0, 1) if right
    assert 0.85 < var_ratio < 1.15  # aggregated over ≥ 16 coordinates


CASES = [("inpaint", 0.0), ("inpaint", 0.1), ("sr2avg", 0.0), ("sr2bicubic", 0.1)]


@pytest.mark.parametrize("name,sigma_y", CASES)
def test_ddnm_matches_its_law(name, sigma_y, capsys):
    solver = DDNM(steps=20, eta=0.85)
    compare(solver, name, sigma_y, lambda mu, v, yb, ys, j: ddnm_law(mu, v, yb, ys, 20, 0.85), capsys, True)


@pytest.mark.parametrize("name,sigma_y", CASES)
def test_diffpir_matches_its_law(name, sigma_y, capsys):
    solver = DiffPIR(steps=20, lam=7.0, zeta=0.3)
    compare(solver, name, sigma_y, lambda mu, v, yb, ys, j: diffpir_law(mu, v, yb, ys, 20, 7.0, 0.3), capsys, True)


@pytest.mark.parametrize("name,sigma_y", CASES)
def test_pigdm_matches_its_law(name, sigma_y, capsys):
    solver = PiGDM(steps=20, eta=0.7, weight=1.0)
    compare(solver, name, sigma_y, lambda mu, v, yb, ys, j: pigdm_law(mu, v, yb, ys, 20, 0.7, 1.0), capsys, False)


@pytest.mark.parametrize("name,sigma_y", [("inpaint", 0.1), ("sr2avg", 0.0), ("sr2bicubic", 0.1)])
def test_daps_matches_its_law(name, sigma_y, capsys):
    solver = DAPS(steps=8, ode_steps=3, langevin_steps=20, lr=1e-3)
    op, prior, *_ = decoupled_problem(name, sigma_y=sigma_y)
    s_full = torch.zeros(D, dtype=torch.float64)
    s = op.singulars_for(SHAPE, dtype=torch.float64)[0]
    s_full[:len(s)] = s
    sig = max(sigma_y, solver.sigma_floor)
    prec = s_full**2 / sig**2
    sig_min = float(((1 - prior.alphas_cumprod[0]) / prior.alphas_cumprod[0]).sqrt())
    sig_max = float(((1 - prior.alphas_cumprod[-1]) / prior.alphas_cumprod[-1]).sqrt())
    law = lambda mu, v, yb, ys, j: daps_law(mu, v, yb, float(prec[j]), 8, 3, 20, 1e-3, solver.lr_min_ratio, sig,
                                            sig_min, sig_max)
    compare(solver, name, sigma_y, law, capsys, False)
