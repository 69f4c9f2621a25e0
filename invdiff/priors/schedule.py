"""Discrete variance-preserving noise schedules (DDPM) and timestep respacing.

The forward process is ``x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε`` for ``t = 0 … T−1`` (index 0 is the
least noisy step, as in guided-diffusion). The same state seen as a variance-exploding denoiser
input is ``x = x_t / √ᾱ_t = x₀ + σ ε`` with ``σ_t = √((1 − ᾱ_t) / ᾱ_t)``.

All schedule arithmetic is float64; tensors are cast at the point of use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def linear_betas(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's linear β schedule, rescaled so that other step counts keep the same shape."""
    scale = 1000.0 / num_steps
    return torch.linspace(scale * beta_start, scale * beta_end, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule: ᾱ(t) = cos²((t/T + s)/(1 + s) · π/2)."""

    def alpha_bar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta) for i in range(num_steps)]
    return torch.tensor(betas, dtype=torch.float64)


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete VP schedule: β_t, and the original training timestep of every step.

    ``timesteps[i]`` is the timestep the *network* was trained with for step ``i`` (identical to
    ``i`` unless the schedule was respaced), which is what the network must be fed.
    """

    betas: torch.Tensor
    timesteps: torch.Tensor
    kind: str = "linear"

    def __post_init__(self) -> None:
        if self.betas.dim() != 1 or len(self.betas) != len(self.timesteps):
            raise ValueError("betas and timesteps must be 1-D and of equal length.")
        if not bool(((self.betas > 0) & (self.betas < 1)).all()):
            raise ValueError("every β_t must lie in (0, 1).")

    @classmethod
    def create(cls, kind: str = "linear", num_steps: int = 1000) -> NoiseSchedule:
        """The standard schedules by name: ``linear`` (DDPM, β 1e-4 → 0.02) or ``cosine``."""
        makers = {"linear": linear_betas, "cosine": cosine_betas}
        if kind not in makers:
            raise ValueError(f"unknown schedule {kind!r}; choose one of {sorted(makers)}.")
        return cls(makers[kind](num_steps), torch.arange(num_steps), kind)

    def __len__(self) -> int:
        return len(self.betas)

    def __eq__(self, other: object) -> bool:
        """Equal when β's, timesteps and kind are identical (tensors compared exactly)."""
        if not isinstance(other, NoiseSchedule):
            return NotImplemented
        return (self.kind == other.kind and torch.equal(self.betas, other.betas)
                and torch.equal(self.timesteps, other.timesteps))

    __hash__ = None  # type: ignore[assignment]  # mutable tensors inside: not hashable

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t = ∏_{s ≤ t} (1 − β_s)."""
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        """ᾱ_{t−1}, with ᾱ_{−1} = 1."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    @property
    def sigmas(self) -> torch.Tensor:
        """Variance-exploding noise level of every step: σ_t = √((1 − ᾱ_t)/ᾱ_t)."""
        a = self.alphas_cumprod
        return ((1 - a) / a).sqrt()

    @property
    def posterior_variance(self) -> torch.Tensor:
        """β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), the variance of q(x_{t−1} | x_t, x₀) (DDPM eq. 7)."""
        return self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)

    @property
    def posterior_log_variance_clipped(self) -> torch.Tensor:
        """log β̃_t with β̃_0 (= 0) replaced by β̃_1, as guided-diffusion does for learned-range σ."""
        var = self.posterior_variance
        if len(var) == 1:
            return self.betas.log()
        return torch.cat([var[1:2], var[1:]]).log()

    def posterior_table(self) -> list[tuple[float, float, float]]:
        """Per step ``i``: ``(c₀, c_t, β̃)`` of DDPM's posterior q(x_{i−1} | x_i, x₀) = N(c₀ x₀ + c_t x_i, β̃ I).

        ``c₀ = √ᾱ_{i−1} β_i / (1 − ᾱ_i)``, ``c_t = √α_i (1 − ᾱ_{i−1}) / (1 − ᾱ_i)`` (Ho et al. 2020, eq. 7);
        ``β̃`` is 0 at ``i = 0``, whose sample is the mean. Plain floats, for sampling loops.
        """
        abar, prev, betas = self.alphas_cumprod, self.alphas_cumprod_prev, self.betas
        c0 = prev.sqrt() * betas / (1 - abar)
        ct = (1 - betas).sqrt() * (1 - prev) / (1 - abar)
        var = betas * (1 - prev) / (1 - abar)
        var[0] = 0.0
        return list(zip(c0.tolist(), ct.tolist(), var.tolist()))

    def respace(self, num_steps: int) -> NoiseSchedule:
        """Keep ``num_steps`` evenly spaced steps of this schedule (Nichol & Dhariwal 2021, §4).

        The new β's are chosen so the kept steps have exactly the original ᾱ's:
        ``β'_i = 1 − ᾱ_{t_i} / ᾱ_{t_{i−1}}``. Keeping every step returns this schedule itself.
        """
        if not 1 <= num_steps <= len(self):
            raise ValueError(f"can respace {len(self)} steps to 1…{len(self)} steps, not {num_steps}.")
        if num_steps == len(self):
            return self
        keep = evenly_spaced(len(self), num_steps)
        abar = self.alphas_cumprod[keep]
        prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        return NoiseSchedule(1.0 - abar / prev, self.timesteps[keep], self.kind)


def evenly_spaced(total: int, count: int) -> torch.Tensor:
    """``count`` indices spread evenly over ``0 … total−1``, always including the first and last.

    For ``count ≥ 2`` this is guided-diffusion's ``space_timesteps(total, [count])`` (one section);
    for ``count = 1`` it keeps the last step (that rule would keep step 0, useless for sampling).
    """
    if count == 1:
        return torch.tensor([total - 1])
    stride = (total - 1) / (count - 1)
    return torch.tensor(sorted({round(i * stride) for i in range(count)}), dtype=torch.long)
