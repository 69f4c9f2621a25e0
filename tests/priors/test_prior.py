"""DiffusionPrior on a tiny random ADM U-Net (CPU, float32): the API the solvers rely on."""

from __future__ import annotations

import pytest
import torch

from invdiff.priors import CallLimitReached, DiffusionPrior, NoiseSchedule
from invdiff.priors.adapters import v_from_eps_x0, x0_from_eps
from invdiff.priors.sampling import ddpm_sample

from .helpers import images, noise_like, tiny_net, tiny_prior

T = torch.tensor([0, 10, 250, 500, 999])


@pytest.fixture(scope="module")
def prior() -> DiffusionPrior:
    return tiny_prior()


def vp_state(prior: DiffusionPrior, t: torch.Tensor, seed: int = 1) -> torch.Tensor:
    x0 = images(len(t), seed)
    a = prior.alphas_cumprod[t].float()[:, None, None, None]
    return a.sqrt() * x0 + (1 - a).sqrt() * noise_like(x0, seed + 1)


def test_eps_and_x0_are_consistent(prior: DiffusionPrior) -> None:
    x_t = vp_state(prior, T)
    eps, x0 = prior.eps(x_t, T), prior.x0(x_t, T)
    a = prior.alphas_cumprod[T].float()[:, None, None, None]
    assert eps.shape == x_t.shape and eps.dtype == torch.float32
    assert torch.allclose(x0, (x_t - (1 - a).sqrt() * eps) / a.sqrt(), atol=1e-5)
    assert torch.equal(prior.predict(x_t, T).x0, x0) and torch.equal(prior(x_t, T), eps)


def test_timestep_forms(prior: DiffusionPrior) -> None:
    x_t = vp_state(prior, torch.full((3,), 400))
    ref = prior.eps(x_t, torch.full((3,), 400))
    assert torch.equal(prior.eps(x_t, 400), ref) and torch.equal(prior.eps(x_t, torch.tensor(400)), ref)
    respaced = NoiseSchedule.create("linear", 1000).respace(20)
    assert prior.eps(x_t, respaced.timesteps[7]).shape == x_t.shape  # original timesteps of a respaced step
    for bad in (1000, -1, torch.tensor([1, 2])):
        with pytest.raises(ValueError):
            prior.eps(x_t, bad)
    with pytest.raises(ValueError, match="N×3×H×W"):
        prior.eps(x_t[:, :2], 5)


def test_batch_order_equivariance_and_one_by_one(prior: DiffusionPrior) -> None:
    x_t = vp_state(prior, T)
    full = prior.eps(x_t, T)
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert torch.allclose(prior.eps(x_t[perm], T[perm]), full[perm], atol=1e-5)
    singles = torch.cat([prior.eps(x_t[i:i + 1], T[i:i + 1]) for i in range(len(T))])
    assert torch.allclose(singles, full, atol=1e-5)


def test_nfe_counts_calls_not_samples(prior: DiffusionPrior) -> None:
    x_t = vp_state(prior, T)
    prior.reset_nfe()
    prior.eps(x_t, T)
    prior.x0(x_t[:1], T[:1])
    prior.predict(x_t, T)
    prior.model_output(x_t, T)
    prior.denoise(x_t, 1.0)
    assert prior.nfe == 5
    assert prior.reset_nfe() == 5 and prior.nfe == 0


def test_limit_calls_lets_exactly_that_many_through_then_raises(prior: DiffusionPrior) -> None:
    x_t = vp_state(prior, T)
    prior.reset_nfe()
    with pytest.raises(CallLimitReached, match="network-call limit"), prior.limit_calls(2):
        prior.eps(x_t, T)
        prior.x0(x_t, T)
        prior.eps(x_t, T)
    assert prior.nfe == 2
    prior.eps(x_t, T)  # the limit ends with the block, also when the block raised
    assert prior.nfe == 3
    with prior.limit_calls(5):
        prior.eps(x_t, T)
    with pytest.raises(ValueError, match="calls must be ≥ 0"), prior.limit_calls(-1):
        pass


def test_vp_ve_conversions_round_trip(prior: DiffusionPrior) -> None:
    t = torch.arange(1000)
    sigma = prior.t_to_sigma(t)
    assert torch.allclose(sigma, prior.schedule.sigmas, rtol=1e-12)
    assert torch.allclose(prior.sigma_to_t(sigma), t.double(), atol=1e-9, rtol=0)
    frac = torch.tensor([0.0, 0.25, 3.5, 499.9, 998.01, 999.0], dtype=torch.float64)
    assert torch.allclose(prior.sigma_to_t(prior.t_to_sigma(frac)), frac, atol=1e-9, rtol=0)
    mid = prior.t_to_sigma(torch.tensor(10.5, dtype=torch.float64))  # geometric mean of the neighbours
    assert torch.allclose(mid, (prior.schedule.sigmas[10] * prior.schedule.sigmas[11]).sqrt())
    assert prior.sigma_to_t(0.0).item() == 0 and prior.sigma_to_t(prior.sigma_min / 2).item() == 0
    assert prior.sigma_max == pytest.approx(prior.schedule.sigmas[-1].item())
    with pytest.raises(ValueError, match="σ_max"):
        prior.sigma_to_t(prior.sigma_max * 1.01)
    with pytest.raises(ValueError, match="timesteps"):
        prior.t_to_sigma(999.5)


def test_denoiser_view_matches_vp_view(prior: DiffusionPrior) -> None:
    t = torch.tensor([3, 100, 700])
    x_t = vp_state(prior, t)
    a = prior.alphas_cumprod[t].float()[:, None, None, None]
    x = x_t / a.sqrt()  # VE state x = x₀ + σ_t ε
    d = prior.denoise(x, prior.t_to_sigma(t))
    assert torch.allclose(d, prior.x0(x_t, t), atol=1e-4, rtol=1e-5)
    tiny = prior.denoise(x, 1e-9)  # below σ_min: t = 0, exact σ in the conversion, D → x
    assert torch.allclose(tiny, x, atol=1e-6)
    with pytest.raises(ValueError, match="σ_max"):
        prior.denoise(x, 1e4)


def test_fractional_timestep_interpolates_abar(prior: DiffusionPrior) -> None:
    x_t = vp_state(prior, torch.full((2,), 300))
    p = prior.predict(x_t, torch.tensor([300.5, 300.5], dtype=torch.float64))
    abar = 1 / (1 + prior.t_to_sigma(300.5) ** 2)
    assert torch.allclose(p.x0, x0_from_eps(x_t, p.eps, abar.float().item()), atol=1e-5)


def test_gradients_flow_through_the_network() -> None:
    prior = tiny_prior(seed=3)
    prior.net.double()
    t = torch.tensor([20, 600])
    x = vp_state(prior, t).double().requires_grad_(True)
    direction = noise_like(x, 9)
    (grad,) = torch.autograd.grad(prior.x0(x, t).square().sum(), x)
    h = 1e-6
    with torch.no_grad():
        fd = (prior.x0(x + h * direction, t).square().sum() - prior.x0(x - h * direction, t).square().sum()) / (2 * h)
    assert grad.abs().sum() > 0
    assert (grad * direction).sum().item() == pytest.approx(fd.item(), rel=1e-5)
    assert all(p.grad is None and not p.requires_grad for p in prior.net.parameters())


def test_works_inside_no_grad_and_enable_grad(prior: DiffusionPrior) -> None:
    x = vp_state(prior, T)
    with torch.no_grad():
        assert not prior.eps(x, T).requires_grad
        with torch.enable_grad():  # DPS inside a no-grad sampling loop
            xg = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(prior.x0(xg, T).sum(), xg)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("parameterization", ["x0", "v"])
def test_other_parameterizations_agree_with_eps(parameterization: str) -> None:
    """The same function written as an x₀- or v-network gives the same ε̂ and x̂₀."""
    eps_prior = tiny_prior(seed=4)

    class Reparameterized(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = eps_prior.net

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            a = eps_prior.alphas_cumprod[t].float()[:, None, None, None]
            eps = self.inner(x, t)
            x0 = x0_from_eps(x, eps, a)
            return x0 if parameterization == "x0" else v_from_eps_x0(eps, x0, a)

    other = DiffusionPrior(Reparameterized(), eps_prior.schedule, resolution=16, parameterization=parameterization)
    x_t = vp_state(eps_prior, T)
    assert torch.allclose(other.eps(x_t, T), eps_prior.eps(x_t, T), atol=2e-3, rtol=1e-4)
    assert torch.allclose(other.x0(x_t, T), eps_prior.x0(x_t, T), atol=1e-4, rtol=1e-4)


def test_learned_sigma_drops_variance_channels() -> None:
    prior = tiny_prior(seed=5, out_channels=6)
    assert prior.learn_sigma
    x_t = vp_state(prior, T)
    eps, var_values = prior.model_output(x_t, T)
    assert eps.shape == x_t.shape and var_values.shape == x_t.shape
    raw = prior.net(x_t, T)
    assert torch.allclose(eps, raw[:, :3]) and torch.allclose(var_values, raw[:, 3:])
    respaced = prior.schedule.respace(50)
    i = 10
    logvar = prior.log_variance(torch.full((1, 3, 2, 2), -1.0), i, respaced)
    assert torch.allclose(logvar, respaced.posterior_log_variance_clipped[i].float().expand_as(logvar))
    logvar = prior.log_variance(torch.ones(1, 3, 2, 2), i, respaced)
    assert torch.allclose(logvar, respaced.betas[i].log().float().expand_as(logvar))
    with pytest.raises(ValueError, match="learn_sigma"):
        tiny_prior().log_variance(var_values, 3)


def test_constructor_checks() -> None:
    net, schedule = tiny_net(), NoiseSchedule.create("linear", 1000)
    with pytest.raises(ValueError, match="parameterization"):
        DiffusionPrior(net, schedule, resolution=16, parameterization="score")
    with pytest.raises(ValueError, match="full training schedule"):
        DiffusionPrior(net, schedule.respace(10), resolution=16)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        DiffusionPrior(net, schedule, resolution=16, data_range=(0, 1))


def test_prior_drives_ddpm_sampling_and_state_dict_is_the_net() -> None:
    prior = tiny_prior(seed=6)
    prior.reset_nfe()
    x = ddpm_sample(prior, prior.schedule.respace(4), (2, 3, 16, 16), torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 16, 16) and torch.isfinite(x).all() and prior.nfe == 4
    assert set(prior.state_dict()) == {f"net.{k}" for k in prior.net.state_dict()}


def test_bf16_autocast_close_to_fp32_and_channels_last_identical() -> None:
    prior = tiny_prior(seed=7)
    x_t = vp_state(prior, T)
    ref = prior.eps(x_t, T)
    prior.configure(channels_last=True)
    cl = prior.eps(x_t, T)
    assert cl.is_contiguous() and torch.allclose(cl, ref, atol=1e-5)
    prior.configure(dtype="bf16", channels_last=True)
    low = prior.eps(x_t, T)
    assert low.dtype == torch.float32
    assert ((low - ref).norm() / ref.norm()).item() < 2e-2
    xg = x_t.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(prior.x0(xg, T).sum(), xg)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()
    prior.configure()
    assert torch.equal(prior.eps(x_t, T), ref)
    with pytest.raises(ValueError, match="dtype"):
        prior.configure(dtype="fp8")


def test_compile_switch_keeps_outputs() -> None:
    prior = tiny_prior(seed=8).configure(compile=True, compile_backend="eager")
    x_t = vp_state(prior, T)
    ref = prior.net(x_t, T)
    assert torch.allclose(prior.eps(x_t, T), ref, atol=1e-6)
    assert set(prior.state_dict()) == {f"net.{k}" for k in prior.net.state_dict()}
