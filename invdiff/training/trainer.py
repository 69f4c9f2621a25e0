"""Training loop for unconditional and conditional (SR3) ε-prediction diffusion priors.

DDPM's simple objective (Ho et al. 2020, eq. 14): draw t ~ U{0…T−1}, ε ~ N(0, I) and minimise
‖ε − ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t)‖². AdamW with linear warm-up, an EMA of the weights (the EMA is
what ships), bf16 autocast and ``torch.compile`` on CUDA, periodic checkpoints that ``--resume``
continues from bit-for-bit in the data order, sample grids, a held-out denoising loss, and a
final export to invdiff's safetensors + JSON format.

**Conditional mode** (``conditional="sr4"``, ``invdiff train --conditional sr4``; SR3, Saharia et
al. 2021): pairs are made on the fly from each batch — y' = A x₀ + σ ε_y with A the ``sr4`` task's
own operator (:mod:`invdiff.tasks`), σ ~ U[0, σ_max] per image on the [-1, 1] scale (so the model
is robust to the protocol's σ_y = 0.05), ε_y drawn from the trainer's device generator — and the
network learns ε_θ([x_t, c], t) with c = up(y') (:mod:`invdiff.priors.conditional`, the function
the ``sr3`` solver uses too). ``init_from`` may then name an unconditional prior of the same
architecture: its weights are copied and the input convolution's extra (condition) channels start
at zero, so training starts from the unconditional model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from operators import trusted_inputs

from ..priors.conditional import SRConditioning
from ..priors.native import INT8, SHIPPED_INT8, shipped_float16, write_prior
from ..priors.sampling import ddpm_sample
from ..priors.schedule import NoiseSchedule
from ..priors.unet import ADMUNet, preset
from . import distributed
from .data import to_model_range
from .evaluation import heldout_losses, save_grid, with_condition
from .sources import training_data

#: The first convolution, whose input channels grow when an unconditional prior seeds a conditional one.
INPUT_CONV = "input_blocks.0.0.weight"


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved with every checkpoint and in the export)."""

    data: str
    out: str
    preset: str = "faces64"
    resolution: int = 64
    batch_size: int = 128
    lr: float = 2e-4
    warmup_steps: int = 500
    lr_decay: str = "none"  # none: constant after the warm-up | linear: to 0 at `steps` (see learning_rate)
    weight_decay: float = 0.0
    ema_decay: float = 0.9995
    steps: int = 100_000
    max_minutes: float | None = None
    bf16: bool = True
    compile: bool = True
    seed: int = 0
    ckpt_every: int = 2000
    sample_every: int = 5000
    log_every: int = 50
    sample_count: int = 64
    sample_steps: int = 100
    heldout: str | None = None
    heldout_count: int = 256
    cache_dir: str | None = None
    init_from: str | None = None
    name: str = "prior"
    export_dtype: str = "float16"  # float16 | bfloat16 | float32 | int8 (as shipped: native.shipped_float16)
    shard_mib: int = 15
    schedule: str = "linear"
    num_timesteps: int = 1000
    training_data_note: str = ""
    license: str = ""
    conditional: str | None = None  # a task ("sr4") for SR3-style conditional training, None = unconditional
    cond_sigma_max: float = 0.1  # conditional: σ_y ~ U[0, cond_sigma_max] on [-1, 1] per training pair
    crop: int | None = None  # random crops of this size at the images' own size (a size-agnostic prior)
    max_scale: float = 2.0  # crop mode: down-scaled crops cover up to max_scale·crop pixels
    full_scale_fraction: float = 0.5  # crop mode: share of each batch cut at the images' own scale
    channels_last: bool = True  # CUDA: channels_last memory format (faster convolutions)
    # CUDA: torch.backends.cudnn.benchmark = True (cuDNN times its convolution algorithms for each new input shape
    # once and keeps the fastest; the batches' shapes never change in training). Process-wide; off = PyTorch's default.
    cudnn_benchmark: bool = False
    extra: dict = field(default_factory=dict)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """η at optimiser step ``step`` (0-based): a linear warm-up to ``cfg.lr`` over ``cfg.warmup_steps``, then
    constant (``lr_decay="none"``) or falling linearly to 0 at ``cfg.steps`` (``"linear"``).

    The linear decay is for a continued run of known length: annealing the step size lets the weights settle
    into the minimum the constant rate keeps stepping around. It is a function of the step alone, so every
    rank of a torchrun job applies the same η (a wall-clock schedule would let the replicas drift apart).
    """
    if cfg.lr_decay not in ("none", "linear"):
        raise ValueError(f"lr_decay must be 'none' or 'linear', not {cfg.lr_decay!r}.")
    warm = max(1, cfg.warmup_steps)
    if step + 1 < warm:
        return cfg.lr * (step + 1) / warm
    if cfg.lr_decay == "none":
        return cfg.lr
    return cfg.lr * max(0.0, (cfg.steps - step) / max(1, cfg.steps - (warm - 1)))


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ, as one multi-tensor ``lerp`` over all parameters.

    One ``_foreach_lerp_`` launches a few fused kernels instead of one per tensor (~300 for the
    natural U-Net); the per-tensor loop was one of the suspects for the 2,150 crops/s per GPU of the
    first natural-prior run (the throughput is to be measured again on the GPU).
    """
    with torch.no_grad():
        ema_params, params = list(ema.parameters()), [p.detach() for p in model.parameters()]
        if len(ema_params) != len(params):
            raise ValueError(f"the EMA has {len(ema_params)} parameter tensors but the model {len(params)}.")
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)


def diffusion_loss(model: torch.nn.Module, x0: torch.Tensor, abar: torch.Tensor, generator: torch.Generator,
                   cond: torch.Tensor | None = None) -> torch.Tensor:
    """DDPM's simple loss on a batch ``x0`` in [-1, 1]; ``abar`` is ᾱ on x0's device (float32).

    ``generator`` lives on x0's device, so no random numbers cross the host–device link. ``cond``
    (conditional models) is concatenated to x_t as extra input channels.
    """
    n = x0.shape[0]
    t = torch.randint(len(abar), (n,), generator=generator, device=x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device)
    a = abar[t][:, None, None, None]
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    return (model(with_condition(x_t, cond), t).float() - eps).square().mean()


def sr_condition(x0: torch.Tensor, operator, conditioning: SRConditioning, generator: torch.Generator,
                 sigma: float | None = None) -> torch.Tensor:
    """c = up(A x₀ + σ ε) for HR images ``x0`` on [-1, 1]: one SR3 training pair per image.

    ``A`` is the task's operator (linear with rows summing to one, so on the [-1, 1] image it gives
    exactly the [0, 1] protocol's measurement mapped by 2y − 1); σ ~ U[0, σ_max] per image unless
    ``sigma`` fixes it (on the [-1, 1] scale). σ, then ε, are drawn on ``generator``'s device.
    """
    n, dev = x0.shape[0], generator.device
    with torch.autocast(x0.device.type, enabled=False), trusted_inputs():  # x0 comes from our own data
        y = operator.apply(x0.float())
    if sigma is None:
        s = torch.rand(n, generator=generator, device=dev) * conditioning.sigma_max
    else:
        s = torch.full((n,), float(sigma), device=dev)
    noise = torch.randn(y.shape, generator=generator, device=dev)
    y = y + (s[:, None, None, None] * noise).to(y.device)
    return conditioning.condition(y)


def prior_meta(cfg: TrainConfig, net_config) -> dict:
    """The exported prior's JSON fields that follow from the run's configuration alone (no training record): what
    ``invdiff train`` writes at the end and ``benchmarks/natural/export_checkpoint.py`` writes from a checkpoint."""
    meta = {"name": cfg.name, "architecture": {"type": "adm-unet", **net_config.to_dict()},
            "schedule": {"kind": cfg.schedule, "num_steps": cfg.num_timesteps},
            "parameterization": "eps", "learn_sigma": False,
            "data_range": [-1, 1], "resolution": cfg.resolution, "channels": 3}
    if cfg.crop:
        meta["any_size"] = True  # fully convolutional, trained on random crops: valid at any H×W
    return meta


class Trainer:
    """Owns the model, EMA, optimiser and data; ``run()`` trains until steps or time run out."""

    def __init__(self, cfg: TrainConfig, device: str | None = None) -> None:
        if cfg.crop:
            cfg = dataclasses.replace(cfg, resolution=cfg.crop)
        self.cfg = cfg
        self.rank, self.device = distributed.init(device)
        if cfg.cudnn_benchmark and self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.conditioning, self.operator = None, None
        overrides: dict = {"image_size": cfg.resolution}
        if cfg.conditional:
            self.conditioning = SRConditioning.for_task(cfg.conditional, cfg.resolution, cfg.cond_sigma_max)
            if cfg.resolution % self.conditioning.factor:
                raise ValueError(f"resolution {cfg.resolution} is not divisible by the ×{self.conditioning.factor} "
                                 f"of task {cfg.conditional}.")
            self.operator = self.conditioning.operator(cfg.resolution)
            overrides["in_channels"] = 3 + self.conditioning.channels
        self.net_config = preset(cfg.preset, **overrides)
        if not cfg.conditional and self.net_config.in_channels != 3:
            raise ValueError(f"preset {cfg.preset!r} takes {self.net_config.in_channels} input channels: it is for "
                             "conditional training (--conditional TASK).")
        if cfg.crop and (self.net_config.attention_resolutions or cfg.conditional):
            raise ValueError(f"crop mode trains a size-agnostic prior: preset {cfg.preset!r} has attention or a "
                             "condition (use e.g. --preset natural).")
        self.model = ADMUNet(self.net_config).to(self.device)
        if cfg.channels_last and self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.init_record: dict = {}
        if cfg.init_from:
            self._init_weights(cfg.init_from)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        # fused AdamW on CUDA: one kernel for every parameter's update (the default is a multi-tensor loop)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                     fused=self.device.type == "cuda" or None)
        self.schedule = NoiseSchedule.create(cfg.schedule, cfg.num_timesteps)
        self.abar = self.schedule.alphas_cumprod.float().to(self.device)
        seed = cfg.seed + 1000 * self.rank.rank  # each rank draws its own batches and noise
        self.gen = torch.Generator().manual_seed(seed)  # data order (CPU)
        self.noise_gen = torch.Generator(self.device).manual_seed(seed + 1)  # t, ε, σ_y, LR noise (device)
        self.step, self.images_seen, self.train_seconds = 0, 0, 0.0
        self.data, self.heldout, self.train_images = training_data(cfg, self.device, self.gen)
        self.ddp = distributed.wrap(self.model, self.rank)
        self.forward = torch.compile(self.ddp) if cfg.compile and self.device.type == "cuda" else self.ddp

    def _init_weights(self, path: str) -> None:
        """Start from a prior's weights (a built-in name or an invdiff JSON); see the module docstring."""
        from ..priors.native import read_prior
        from ..priors.registry import BUILTIN_PRIORS, weights_dir

        json_path = Path(path)
        if not json_path.exists() and path in BUILTIN_PRIORS:
            json_path = weights_dir() / BUILTIN_PRIORS[path][0]
        state, meta = read_prior(json_path)
        state = {k: v.float() for k, v in state.items()}
        own = self.model.state_dict()
        w = state.get(INPUT_CONV)
        if w is not None and INPUT_CONV in own and w.shape[1] < own[INPUT_CONV].shape[1] \
                and (w.shape[0], *w.shape[2:]) == (own[INPUT_CONV].shape[0], *own[INPUT_CONV].shape[2:]):
            grown = torch.zeros(own[INPUT_CONV].shape)
            grown[:, :w.shape[1]] = w  # x_t's channels keep their weights; the condition's start at zero
            state[INPUT_CONV] = grown
        self.model.load_state_dict(state, strict=True)
        self.init_record = {"init_from": meta.get("name", json_path.stem), "init_sha256": meta.get("sha256")}

    # -- checkpoints -------------------------------------------------------------------------
    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        state = {
            "model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
            "step": self.step, "images_seen": self.images_seen, "train_seconds": self.train_seconds,
            "gen": self.gen.get_state(), "noise_gen": self.noise_gen.get_state(), "config": asdict(self.cfg),
            "init_record": self.init_record,
        }
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt_path)

    def resume(self) -> bool:
        """Continue from ``out/checkpoint.pt`` if it exists; returns whether it did."""
        if not self.ckpt_path.exists():
            return False
        state = torch.load(self.ckpt_path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.images_seen = state["step"], state["images_seen"]
        self.train_seconds = state["train_seconds"]
        if self.rank.world == 1:
            self.gen.set_state(state["gen"].cpu())
            self.noise_gen.set_state(state["noise_gen"].cpu())
        else:  # the checkpoint holds rank 0's streams: each rank restarts its own from the step (not bit-exact)
            seed = self.cfg.seed + 1000 * self.rank.rank + 7919 * self.step
            self.gen.manual_seed(seed)
            self.noise_gen.manual_seed(seed + 1)
        self.init_record = state.get("init_record", self.init_record)
        return True

    # -- the loop ----------------------------------------------------------------------------
    def train_step(self) -> torch.Tensor:
        cfg = self.cfg
        lr = learning_rate(cfg, self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        x0 = self.data.next()
        cond = None if self.conditioning is None else self.condition(x0, self.noise_gen)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and self.device.type == "cuda"):
            loss = diffusion_loss(self.forward, x0, self.abar, self.noise_gen, cond)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # under torchrun DDP averages the gradients over the ranks here
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
        ema_update(self.ema, self.model, decay)
        self.step += 1
        self.images_seen += x0.shape[0] * self.rank.world
        return loss.detach()

    def condition(self, x0: torch.Tensor, generator: torch.Generator, sigma: float | None = None) -> torch.Tensor:
        """The SR3 condition for HR images ``x0`` (conditional runs only): see :func:`sr_condition`."""
        return sr_condition(x0, self.operator, self.conditioning, generator, sigma)

    def _protocol_condition(self, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The condition at the task's protocol σ_y (held-out loss and sample grids)."""
        from ..tasks import DEFAULT_SIGMA_Y

        return self.condition(x0, generator, DEFAULT_SIGMA_Y[self.conditioning.task])

    def log(self, record: dict) -> None:
        if not self.rank.main:
            return
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _out_of_time(self, deadline: float) -> bool:
        """Whether the wall-time budget is spent; under torchrun all ranks agree (checked at log steps)."""
        late = time.time() >= deadline
        if self.rank.world == 1:
            return late
        if self.step % self.cfg.log_every:
            return False
        flag = torch.tensor(float(late), device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def run(self, progress: bool = True) -> Path:
        cfg = self.cfg
        deadline = time.time() + 60 * cfg.max_minutes if cfg.max_minutes else math.inf
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (progress and self.rank.main), desc="train",
                   dynamic_ncols=True)
        losses, t_last, n_last = [], time.time(), 0
        while self.step < cfg.steps and not self._out_of_time(deadline):
            t0 = time.time()
            losses.append(self.train_step())
            self.train_seconds += time.time() - t0
            n_last += 1
            bar.update(1)
            if self.step % cfg.log_every == 0:
                loss = torch.stack(losses).mean().item()
                ips = n_last * cfg.batch_size * self.rank.world / max(1e-9, time.time() - t_last)
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{ips:.0f}")
                self.log({"step": self.step, "loss": loss, "images_per_s": ips, "images_seen": self.images_seen,
                          "train_seconds": round(self.train_seconds, 1)})
                losses, t_last, n_last = [], time.time(), 0
            if self.step % cfg.ckpt_every == 0 and self.rank.main:
                self.evaluate()
                self.save_checkpoint()
            if self.step % cfg.sample_every == 0 and self.rank.main:
                self.sample_grid(self.out / f"samples_{self.step:07d}.png")
        bar.close()
        path = self.out / f"{cfg.name}.json"
        if self.rank.main:
            self.evaluate()
            self.save_checkpoint()
            self.sample_grid(self.out / "samples_final.png")
            path = self.export()
        distributed.barrier(self.rank)
        return path

    def evaluate(self) -> None:
        if self.heldout is None:
            return
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16 and self.device.type == "cuda"):
            record = heldout_losses(self.ema, self.heldout, self.abar,
                                    condition=self._protocol_condition if self.conditioning else None)
        self.log({"step": self.step, "heldout": record})

    def sample_grid(self, path: Path, seed: int = 0) -> None:
        """``sample_count`` EMA samples with a ``sample_steps``-step respaced DDPM sampler, as one PNG grid.

        Conditional runs: up to 16 held-out images (training images without ``heldout``) as
        triplets *upsampled noisy LR | SR3 sample | HR*, four per row, LR at the protocol's σ_y.
        """
        if self.conditioning is not None:
            return self._conditional_grid(path, seed)
        n, steps = self.cfg.sample_count, self.cfg.sample_steps
        gen = torch.Generator().manual_seed(seed)
        shape = (n, 3, self.cfg.resolution, self.cfg.resolution)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16 and self.device.type == "cuda"):
            x = ddpm_sample(self.ema, self.schedule.respace(steps), shape, gen, self.device)
        save_grid(x, path)
        if self.cfg.crop:  # a size-agnostic prior: also a few samples at a size it never saw in training
            big = (4, 3, 4 * self.cfg.crop, 6 * self.cfg.crop)
            with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                enabled=self.cfg.bf16 and self.device.type == "cuda"):
                x = ddpm_sample(self.ema, self.schedule.respace(steps), big, gen, self.device)
            save_grid(x, path.with_name(path.stem + "_large.png"), nrow=2)

    def _conditional_grid(self, path: Path, seed: int) -> None:
        source = self.heldout if self.heldout is not None else self.data.images
        hr = to_model_range(source[: min(self.cfg.sample_count, 16, len(source))])
        gen = torch.Generator().manual_seed(seed)
        c = self._protocol_condition(hr, gen)

        def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.ema(with_condition(x_t, c), t)

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16 and self.device.type == "cuda"):
            x = ddpm_sample(eps_fn, self.schedule.respace(self.cfg.sample_steps), tuple(hr.shape), gen, self.device)
        triplets = torch.stack([c.float(), x.float(), hr.float()], dim=1).flatten(0, 1)
        save_grid(triplets, path, nrow=3 * min(4, len(hr)))

    def export(self) -> Path:
        cfg = self.cfg
        meta = {
            **prior_meta(cfg, self.net_config),
            "training": {
                "data": cfg.training_data_note or cfg.data, "steps": self.step, "images_seen": self.images_seen,
                "batch_size": cfg.batch_size, "lr": cfg.lr, "lr_decay": cfg.lr_decay, "ema_decay": cfg.ema_decay,
                "train_seconds": round(self.train_seconds, 1),
                "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
                "weights": f"EMA, stored as {cfg.export_dtype}", **self.init_record, **cfg.extra,
            },
            "license": cfg.license,
        }
        if cfg.crop:
            meta["training"].update({"crop": cfg.crop, "max_scale": cfg.max_scale,
                                     "full_scale_fraction": cfg.full_scale_fraction,
                                     "training_images": self.train_images, "gpus": self.rank.world})
        if self.conditioning is not None:
            meta["conditioning"] = self.conditioning.to_dict()
        shard_bytes = cfg.shard_mib * 2**20 if cfg.shard_mib else None
        state = self.ema.state_dict()
        if cfg.export_dtype == "int8":  # what ships (≈ half a float16 file): a wider prior can come back from the GPU
            meta["training"]["weights"] = f"EMA, stored as {SHIPPED_INT8}"
            return write_prior(self.out / cfg.name, state, meta, shard_bytes=shard_bytes, encoding=INT8,
                               keep_float=shipped_float16(state))
        return write_prior(self.out / cfg.name, state, meta, dtype=getattr(torch, cfg.export_dtype),
                           shard_bytes=shard_bytes)
