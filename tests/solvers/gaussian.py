"""An exact Gaussian prior: x₀ ~ N(μ, Σ) on [-1, 1] images, with its closed-form optimal denoiser.

For x_t = √ᾱ x₀ + √(1−ᾱ) ε the MMSE denoiser is
    E[x₀ | x_t] = μ + √ᾱ Σ (ᾱ Σ + (1−ᾱ) I)⁻¹ (x_t − √ᾱ μ),
and for a linear measurement y' = A x₀ + n, n ~ N(0, σ² I), the posterior is Gaussian with
    μ_post = μ + Σ Aᵀ (A Σ Aᵀ + σ² I)⁺ (y' − A μ),   Σ_post = Σ − Σ Aᵀ (A Σ Aᵀ + σ² I)⁺ A Σ.
The prior object implements the interface solvers use (eps, x0, schedule, nfe, channels,
resolution) so every solver can be checked against the exact answer.
"""

from __future__ import annotations

import torch

from invdiff.priors.schedule import NoiseSchedule


def smooth_covariance(c: int, h: int, w: int, length: float = 2.0, std: float = 0.22, nugget: float = 0.02):
    """A structured covariance: squared-exponential correlation over the pixel grid, per channel."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    pos = torch.stack([yy.flatten(), xx.flatten()], 1)
    d2 = (pos[:, None] - pos[None]).square().sum(-1)
    k = std**2 * torch.exp(-d2 / (2 * length**2)) + nugget**2 * torch.eye(h * w, dtype=torch.float64)
    return torch.block_diag(*[k] * c)


class GaussianPrior:
    """x₀ ~ N(μ, Σ) with the exact ε̂(x_t, t) of the linear VP schedule (1000 steps)."""

    def __init__(self, mu: torch.Tensor, sigma: torch.Tensor, shape: tuple[int, int, int]) -> None:
        self.shape, self.channels, self.resolution = shape, shape[0], shape[1]
        self.mu, self.sigma = mu.double(), sigma.double()
        self.schedule = NoiseSchedule.create("linear", 1000)
        self.alphas_cumprod = self.schedule.alphas_cumprod
        self.nfe = 0
        # gain_t = √ᾱ Σ (ᾱΣ + (1−ᾱ)I)⁻¹ = Q diag(√ᾱ λ / (ᾱλ + 1 − ᾱ)) Qᵀ with Σ = Q diag(λ) Qᵀ, made when first used
        lam, self._q = torch.linalg.eigh(self.sigma)
        self._lam = lam.clamp_min(0)
        self._gains: dict[int, torch.Tensor] = {}

    def gain(self, t: int) -> torch.Tensor:
        if t not in self._gains:
            a = self.alphas_cumprod[t]
            self._gains[t] = (self._q * (a.sqrt() * self._lam / (a * self._lam + 1 - a))) @ self._q.T
        return self._gains[t]

    def reset_nfe(self) -> None:
        self.nfe = 0

    def x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        n = x_t.shape[0]
        t = torch.as_tensor(t).expand(n).long().cpu()
        a = self.alphas_cumprod[t].to(x_t)[:, None]
        flat = x_t.reshape(n, -1).double()
        centred = flat - a.double().sqrt() * self.mu.to(flat.device)
        if bool((t == t[0]).all()):  # one timestep for the whole batch (every solver here): one matrix
            out = self.mu.to(flat.device) + centred @ self.gain(int(t[0])).to(flat.device).T
        else:
            gains = torch.stack([self.gain(int(ti)) for ti in t]).to(flat.device)
            out = self.mu.to(flat.device) + torch.einsum("nij,nj->ni", gains, centred)
        return out.to(x_t.dtype).reshape(x_t.shape)

    @property
    def sigma_min(self) -> float:
        a = float(self.alphas_cumprod[0])
        return ((1 - a) / a) ** 0.5

    @property
    def sigma_max(self) -> float:
        a = float(self.alphas_cumprod[-1])
        return ((1 - a) / a) ** 0.5

    def denoise(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """E[x₀ | x₀ + σ ε = x] = μ + Σ (Σ + σ² I)⁻¹ (x − μ) for one σ (VE view), by the eigenbasis of Σ."""
        self.nfe += 1
        flat = x.reshape(x.shape[0], -1).double() - self.mu.to(x.device)
        gain = (self._q * (self._lam / (self._lam + float(sigma) ** 2))) @ self._q.T
        return (self.mu.to(x.device) + flat @ gain.to(x.device).T).to(x.dtype).reshape(x.shape)

    def eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = x_t.shape[0]
        t = torch.as_tensor(t).expand(n).long().cpu()
        a = self.alphas_cumprod[t].to(x_t)[:, None, None, None]
        x0 = self.x0(x_t, t)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        chol = torch.linalg.cholesky(self.sigma)
        z = torch.randn(n, len(self.mu), generator=generator, dtype=torch.float64)
        return (self.mu + z @ chol.T).reshape(n, *self.shape)


def dense_matrix(operator, shape: tuple[int, int, int]) -> torch.Tensor:
    """The operator as an M×D matrix (column j = A e_j), float64."""
    d = shape[0] * shape[1] * shape[2]
    basis = torch.eye(d, dtype=torch.float64).reshape(d, *shape)
    return operator.apply(basis).reshape(d, -1).T.contiguous()


def posterior(prior: GaussianPrior, a_mat: torch.Tensor, y_prior: torch.Tensor, sigma_y: float):
    """Exact posterior mean (D,) and covariance (D×D) for one measurement y' (flattened, [-1,1] scale)."""
    s, mu = prior.sigma, prior.mu
    gram = a_mat @ s @ a_mat.T + sigma_y**2 * torch.eye(a_mat.shape[0], dtype=torch.float64)
    gain = s @ a_mat.T @ torch.linalg.pinv(gram, hermitian=True)
    return mu + gain @ (y_prior - a_mat @ mu), s - gain @ a_mat @ s
