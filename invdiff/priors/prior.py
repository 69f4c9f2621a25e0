"""The one object every solver talks to: a diffusion network with its training noise schedule.

Two views of the same model:

* **VP (discrete)**, the view DPS, RePaint and DDRM are written in: ``x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε``
  on the ``[-1, 1]`` scale, ``t`` an *original training* timestep; :meth:`DiffusionPrior.eps` gives
  ε̂(x_t, t) and :meth:`DiffusionPrior.x0` gives x̂₀(x_t, t).
* **VE (continuous)**, the view of EDM-style samplers: ``x = x₀ + σ ε`` and the denoiser
  :meth:`DiffusionPrior.denoise` ``D(x, σ) ≈ E[x₀ | x]``. The two are linked by
  ``x_t = x √ᾱ`` with ``ᾱ = 1/(1 + σ²)``, and ``σ_t = √((1 − ᾱ_t)/ᾱ_t)`` on the grid.

Between grid points the timestep is interpolated linearly in log σ (a fractional ``t`` is fed to
the network's sinusoidal embedding); ``σ`` below ``σ_min = σ_0`` maps to ``t = 0`` while the
conversion still uses the exact σ (so ``D(x, σ) → x`` as ``σ → 0`` for ε-networks); ``σ`` above
``σ_max = σ_{T−1}`` is an error (the network never saw such noise). Range checks on CPU inputs
raise; inputs already on an accelerator are not checked (that would cost a host–device sync
per call): there an out-of-range σ or fractional t gives NaN and an out-of-range integer t fails
in the index lookup, never a silently clamped number.

Any image size: every network call pads H×W by reflection to a multiple of the network's stride
and crops the output back, and runs on overlapping blended tiles when the image exceeds the
memory budget of :attr:`DiffusionPrior.tiling` (:mod:`invdiff.priors.tiling`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import nn

from .adapters import PARAMETERIZATIONS, eps_and_x0, learned_range_log_variance
from .fast import NetRunner, SpeedConfig
from .schedule import NoiseSchedule
from .tiling import TileConfig, TilePlan, attention_layers, make_plan, network_stride, run_network

TimeLike = torch.Tensor | int | float


class CallLimitReached(Exception):
    """A prior inside :meth:`DiffusionPrior.limit_calls` was asked for one network evaluation too many."""


class Prediction(NamedTuple):
    """What one network evaluation gives: ε̂, x̂₀ and (learned-σ models) the variance channels."""

    eps: torch.Tensor
    x0: torch.Tensor
    var_values: torch.Tensor | None


class DiffusionPrior(nn.Module):
    """A network ``net(x_t, t[, y])`` plus its full training schedule, seen through ε̂, x̂₀ and D(x, σ).

    ``parameterization`` says what the network outputs ("eps", "x0" or "v"); with ``learn_sigma``
    it outputs ``2·channels`` maps, the second half being guided-diffusion's learned-range variance
    values. ``nfe`` counts network evaluations (one per call, whatever the batch size). The
    network is put in eval mode with frozen weights; gradients still flow to the *inputs*.
    """

    def __init__(self, net: nn.Module, schedule: NoiseSchedule, *, resolution: int, channels: int = 3,
                 parameterization: str = "eps", learn_sigma: bool = False,
                 data_range: tuple[float, float] = (-1.0, 1.0), name: str = "prior", meta: dict | None = None):
        super().__init__()
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"unknown parameterization {parameterization!r}; choose one of {PARAMETERIZATIONS}.")
        if len(schedule) < 2 or not torch.equal(schedule.timesteps, torch.arange(len(schedule))):
            raise ValueError("a prior needs its full training schedule (≥ 2 steps, not respaced); "
                             "respace it when sampling instead.")
        if tuple(float(v) for v in data_range) != (-1.0, 1.0):
            raise ValueError(f"invdiff priors run on the [-1, 1] scale; this one states data_range {data_range}.")
        self.net = net.eval().requires_grad_(False)
        self.schedule = schedule
        self.parameterization = parameterization
        self.learn_sigma = bool(learn_sigma)
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.data_range = (-1.0, 1.0)
        self.name = name
        self.meta = dict(meta or {})
        self.nfe = 0
        self._calls_left: int | None = None  # set only inside limit_calls
        self._abar = schedule.alphas_cumprod
        self._log_sigmas = (0.5 * ((1 - self._abar) / self._abar).log())
        self._tables: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._runner = NetRunner(self.net)
        self._tiling = TileConfig()
        self._stride, self._attention = network_stride(self.net), attention_layers(self.net)  # fixed by the architecture
        self.eval()

    # -- schedule ---------------------------------------------------------------------------
    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t of the training schedule, float64 on the CPU."""
        return self._abar

    @property
    def num_timesteps(self) -> int:
        return len(self.schedule)

    @property
    def sigma_min(self) -> float:
        """σ_0, the smallest noise level the network was trained on (VE scale)."""
        return float(self._log_sigmas[0].exp())

    @property
    def sigma_max(self) -> float:
        """σ_{T−1}, the largest noise level the network was trained on (VE scale)."""
        return float(self._log_sigmas[-1].exp())

    @property
    def device(self) -> torch.device:
        """Where the network's weights (or buffers) live; the CPU for a network with neither."""
        tensor = next(itertools.chain(self.net.parameters(), self.net.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def _table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(ᾱ, log σ) as float64 on ``device``, cached."""
        key = str(device)
        if key not in self._tables:
            self._tables[key] = (self._abar.to(device), self._log_sigmas.to(device))
        return self._tables[key]

    def t_to_sigma(self, t: TimeLike) -> torch.Tensor:
        """σ at (possibly fractional) training timesteps ``t``, linear in log σ between grid points."""
        t = torch.as_tensor(t, dtype=torch.float64)
        last = self.num_timesteps - 1
        if t.device.type == "cpu" and bool(((t < 0) | (t > last)).any()):
            raise ValueError(f"timesteps must lie in [0, {last}], got values in [{t.min():g}, {t.max():g}].")
        _, log_sigmas = self._table(t.device)
        low = t.floor().clamp(0, last - 1).long()
        log_sigma = torch.lerp(log_sigmas[low], log_sigmas[low + 1], t - low)
        return torch.where((t >= 0) & (t <= last), log_sigma.exp(), torch.nan)

    def sigma_to_t(self, sigma: TimeLike) -> torch.Tensor:
        """Fractional training timestep whose σ_t is ``sigma`` (float64); σ < σ_min gives 0, σ > σ_max fails."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        last = self.num_timesteps - 1
        if sigma.device.type == "cpu" and bool(((sigma < 0) | (sigma > self.sigma_max * (1 + 1e-9))).any()):
            raise ValueError(f"σ must lie in [0, σ_max = {self.sigma_max:.4g}] for this prior, "
                             f"got values up to {sigma.max():.4g}; start samplers at prior.sigma_max.")
        _, log_sigmas = self._table(sigma.device)
        log_sigma = sigma.log().reshape(-1)
        low = (torch.searchsorted(log_sigmas, log_sigma, right=True) - 1).clamp(0, last - 1)
        w = ((log_sigma - log_sigmas[low]) / (log_sigmas[low + 1] - log_sigmas[low])).clamp(min=0)
        t = (low + w).reshape(sigma.shape)
        return torch.where(t <= last + 1e-6, t.clamp(max=last), torch.nan)

    def _abar_at(self, t: torch.Tensor) -> torch.Tensor:
        """ᾱ at integer (gathered) or fractional (log-σ interpolated) timesteps, float64."""
        if not t.is_floating_point():
            return self._table(t.device)[0][t]
        return 1 / (1 + self.t_to_sigma(t) ** 2)

    def _timesteps(self, t: TimeLike, n: int, device: torch.device) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64) if isinstance(t, float) else torch.as_tensor(t)
        if t.dim() == 0:
            t = t.expand(n)
        if t.shape != (n,):
            raise ValueError(f"t must be a scalar or have shape ({n},) to match the batch, not {tuple(t.shape)}.")
        last = self.num_timesteps - 1
        if t.device.type == "cpu" and bool(((t < 0) | (t > last)).any()):
            raise ValueError(f"timesteps must lie in [0, {last}] (original training steps), "
                             f"got [{t.min().item():g}, {t.max().item():g}].")
        return t.to(device)

    # -- the network ------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected N×{self.channels}×H×W input, got shape {tuple(x.shape)}.")

    def _run(self, x_t: torch.Tensor, t_net: torch.Tensor, abar: torch.Tensor,
             y: torch.Tensor | None) -> Prediction:
        """One network evaluation at ``x_t`` with ᾱ ``abar`` (N,), converted to ε̂ and x̂₀."""
        if self._calls_left is not None:
            if self._calls_left == 0:
                raise CallLimitReached(f"{self.name}: the network-call limit of this block is spent.")
            self._calls_left -= 1
        self.nfe += 1
        out = run_network(self._runner, x_t, t_net, y, self.network_plan(x_t.shape),
                          fixed_chunks=self.speed.compile_mode is not None)
        var_values = None
        if self.learn_sigma:
            if out.shape[1] != 2 * self.channels:
                raise ValueError(f"a learned-σ network must output {2 * self.channels} channels, not {out.shape[1]}.")
            out, var_values = out.split(self.channels, dim=1)
        a = abar.to(x_t.dtype)[:, None, None, None]
        eps, x0 = eps_and_x0(out, x_t, a, self.parameterization)
        return Prediction(eps, x0, var_values)

    def predict(self, x_t: torch.Tensor, t: TimeLike, y: torch.Tensor | None = None) -> Prediction:
        """ε̂, x̂₀ (and variance values) from ONE network call at VP state ``x_t`` and timesteps ``t``.

        ``t``: python int, 0-d or (N,) tensor of original training timesteps (a respaced
        schedule's ``.timesteps``); a floating ``t`` is a fractional timestep (log-σ interpolated).
        """
        self._check_input(x_t)
        t = self._timesteps(t, x_t.shape[0], x_t.device)
        t_net = t.float() if t.is_floating_point() else t
        return self._run(x_t, t_net, self._abar_at(t), y)

    def eps(self, x_t: torch.Tensor, t: TimeLike, y: torch.Tensor | None = None) -> torch.Tensor:
        """ε̂(x_t, t), variance channels dropped."""
        return self.predict(x_t, t, y).eps

    def x0(self, x_t: torch.Tensor, t: TimeLike, y: torch.Tensor | None = None) -> torch.Tensor:
        """x̂₀(x_t, t) = E[x₀ | x_t] as the network estimates it (not clipped)."""
        return self.predict(x_t, t, y).x0

    def model_output(self, x_t: torch.Tensor, t: TimeLike, y: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(ε̂, variance values or None): what a guided-diffusion p_mean_variance step needs."""
        p = self.predict(x_t, t, y)
        return p.eps, p.var_values

    def forward(self, x_t: torch.Tensor, t: TimeLike, y: torch.Tensor | None = None) -> torch.Tensor:
        """Same as :meth:`eps`, so a prior is an ``eps_fn`` for :func:`~invdiff.priors.sampling.ddpm_sample`."""
        return self.eps(x_t, t, y)

    def denoise(self, x: torch.Tensor, sigma: TimeLike, y: torch.Tensor | None = None) -> torch.Tensor:
        """D(x, σ): the x̂₀ estimate for a VE state ``x = x₀ + σ ε`` (σ a float or an (N,) tensor)."""
        self._check_input(x)
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        sigma = sigma.expand(x.shape[0]) if sigma.dim() == 0 else sigma
        if sigma.shape != (x.shape[0],):
            raise ValueError(f"sigma must be a scalar or have shape ({x.shape[0]},), not {tuple(sigma.shape)}.")
        t = self.sigma_to_t(sigma).to(x.device)  # range-checked while still on the CPU
        sigma = sigma.to(x.device)
        abar = 1 / (1 + sigma**2)
        x_t = x * abar.sqrt().to(x.dtype)[:, None, None, None]
        return self._run(x_t, t.float(), abar, y).x0

    def log_variance(self, var_values: torch.Tensor, step: int | torch.Tensor,
                     schedule: NoiseSchedule | None = None) -> torch.Tensor:
        """log Σ_θ of a learned-range model at index ``step`` of ``schedule`` (default: the training one).

        Give the respaced schedule a sampler actually steps on: β_t and β̃_t are those of its
        steps, exactly as guided-diffusion computes them after respacing.
        """
        if not self.learn_sigma:
            raise ValueError(f"prior {self.name!r} has a fixed variance (learn_sigma=False).")
        schedule = schedule or self.schedule
        i = torch.as_tensor(step).long().expand(var_values.shape[0]).cpu()
        log_beta = schedule.betas.log()[i].to(var_values)[:, None, None, None]
        log_post = schedule.posterior_log_variance_clipped[i].to(var_values)[:, None, None, None]
        return learned_range_log_variance(var_values, log_beta, log_post)

    # -- bookkeeping ------------------------------------------------------------------------
    def reset_nfe(self) -> int:
        """Set the evaluation counter to 0; returns the count it had."""
        n, self.nfe = self.nfe, 0
        return n

    @contextmanager
    def limit_calls(self, calls: int) -> Iterator[None]:
        """Within the block, allow only ``calls`` network evaluations; the next raises :class:`CallLimitReached`.

        Used to warm up a compiled prior: the first few calls of a real solve compile the network and
        record its CUDA graphs for that batch shape, so the rest of the solve need not run twice.
        """
        if calls < 0:
            raise ValueError(f"calls must be ≥ 0, got {calls}.")
        self._calls_left = int(calls)
        try:
            yield
        finally:
            self._calls_left = None

    def configure(self, dtype: str = "fp32", channels_last: bool = False, compile: bool | str = False,
                  compile_backend: str = "inductor", tiling: TileConfig | dict | None = None,
                  dynamic: bool = False) -> DiffusionPrior:
        """Speed switches (see :mod:`invdiff.priors.fast`) and, if given, the tiling; returns the prior itself.

        ``tiling`` (a :class:`~invdiff.priors.tiling.TileConfig` or its dict, e.g. ``{"mode": "auto",
        "tile_size": 512, "overlap": 64, "max_pixels": 2**21, "tile_batch": None}``) says when the
        network runs on blended tiles (:mod:`invdiff.priors.tiling`); None keeps the current one.
        """
        if tiling is not None:
            tiling = tiling if isinstance(tiling, TileConfig) else TileConfig.from_dict(tiling)
            if tiling.mode != "off":
                tiling.check_stride(self.stride)
            self._tiling = tiling
        self._runner = NetRunner(self.net, SpeedConfig(dtype, channels_last, compile, compile_backend, dynamic))
        return self

    @property
    def speed(self) -> SpeedConfig:
        return self._runner.speed

    # -- image size -------------------------------------------------------------------------
    @property
    def tiling(self) -> TileConfig:
        """When the network runs on tiles (set with :meth:`configure`)."""
        return self._tiling

    @property
    def stride(self) -> int:
        """H and W are padded to multiples of this; also the smallest image side the network takes."""
        return self._stride

    @property
    def size_agnostic(self) -> bool:
        """True when the network has no attention layer: it may run on tiles, and sees any size alike."""
        return not self._attention

    def network_plan(self, shape: tuple[int, ...]) -> TilePlan:
        """Padding, tiles and chunks of one network call on an N×C×H×W batch (raises for too small an image)."""
        return make_plan(tuple(shape), self._stride, self._tiling, self._attention, self.name)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, parameterization={self.parameterization!r}, learn_sigma={self.learn_sigma}, "
                f"resolution={self.resolution}, channels={self.channels}, "
                f"schedule={self.schedule.kind}×{self.num_timesteps}, speed={self.speed}, tiling={self.tiling}")
