"""diffusers ``UNet2DModel`` folders (e.g. ``google/ddpm-celebahq-256`` saved locally), offline.

Two layouts are read: a pipeline folder with ``unet/`` and ``scheduler/`` sub-folders, or a flat
folder holding the UNet's ``config.json`` (and usually ``scheduler_config.json``) directly. The
optional ``diffusers`` package is imported only here, only when such a folder is loaded. The
scheduler config gives the training β's and the prediction type; only discrete VP models with
positional time embeddings are accepted (the Fourier-embedded score-SDE folders are VE models).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .prior import DiffusionPrior
from .schedule import NoiseSchedule, cosine_betas

INSTALL_HINT = "loading a diffusers folder needs the optional diffusers package: pip install invdiff[diffusers]"
PREDICTION_TYPES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def unet_dir(folder: Path) -> Path | None:
    """The folder holding the UNet2DModel's config.json, or None if ``folder`` is not a diffusers folder."""
    for candidate in (folder / "unet", folder):
        config = _read_json(candidate / "config.json")
        if config is not None and config.get("_class_name") == "UNet2DModel":
            return candidate
    return None


def scheduler_config(folder: Path) -> dict | None:
    """``scheduler/scheduler_config.json`` or a flat ``scheduler_config.json``, if either exists."""
    for path in (folder / "scheduler" / "scheduler_config.json", folder / "scheduler_config.json"):
        config = _read_json(path)
        if config is not None:
            return config
    return None


def schedule_from_config(config: dict) -> tuple[NoiseSchedule, str, bool]:
    """(training schedule, parameterization, learn_sigma) from a DDPM-style scheduler config."""
    n = int(config.get("num_train_timesteps", 1000))
    start, end = float(config.get("beta_start", 1e-4)), float(config.get("beta_end", 0.02))
    kind = config.get("beta_schedule", "linear")
    if config.get("trained_betas") is not None:
        betas, kind = torch.tensor(config["trained_betas"], dtype=torch.float64), "trained"
    elif kind == "linear":
        betas = torch.linspace(start, end, n, dtype=torch.float64)
    elif kind == "scaled_linear":
        betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
    elif kind == "squaredcos_cap_v2":
        betas, kind = cosine_betas(n), "cosine"
    else:
        raise ValueError(f"beta_schedule {kind!r} is not supported; use linear, scaled_linear or squaredcos_cap_v2.")
    if config.get("rescale_betas_zero_snr"):
        raise ValueError("zero-terminal-SNR schedules (ᾱ_T = 0) have no finite σ_max; they are not supported.")
    prediction = config.get("prediction_type", "epsilon")
    if prediction not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type {prediction!r} is not supported; use one of {sorted(PREDICTION_TYPES)}.")
    variance = config.get("variance_type", "fixed_small")
    if variance == "learned":
        raise ValueError("variance_type 'learned' (a raw log-variance output) is not supported; "
                         "'learned_range' and the fixed types are.")
    return NoiseSchedule(betas, torch.arange(len(betas)), kind), PREDICTION_TYPES[prediction], variance == "learned_range"


class DiffusersUNet(nn.Module):
    """A ``UNet2DModel`` called as ``net(x, t[, y]) -> tensor`` like the ADM U-Net."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.unet(x, t, class_labels=y).sample


def load_diffusers_folder(folder: Path, schedule: NoiseSchedule | None = None) -> DiffusionPrior:
    """A prior from a local diffusers folder (no network access: ``local_files_only=True``)."""
    folder = Path(folder)
    where = unet_dir(folder)
    if where is None:
        raise ValueError(f"{folder} holds no UNet2DModel config.json (directly or under unet/).")
    try:
        from diffusers import UNet2DModel
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    unet = UNet2DModel.from_pretrained(str(where), local_files_only=True)
    cfg = unet.config
    if getattr(cfg, "time_embedding_type", "positional") != "positional":
        raise ValueError(f"{folder.name} uses {cfg.time_embedding_type!r} time embeddings (a VE score-SDE model); "
                         "only discrete VP (DDPM) UNets are supported.")
    sched_cfg = scheduler_config(folder)
    if sched_cfg is None and schedule is None:
        raise ValueError(f"{folder} has no scheduler_config.json; pass schedule= (the training noise schedule).")
    parameterization, learn_sigma = "eps", False
    if sched_cfg is not None:
        read, parameterization, learn_sigma = schedule_from_config(sched_cfg)
        schedule = schedule or read
    size = cfg.sample_size
    if isinstance(size, (list, tuple)):
        if len(set(size)) != 1:
            raise ValueError(f"only square models are supported, this one has sample_size {size}.")
        size = size[0]
    expected_out = cfg.in_channels * (2 if learn_sigma else 1)
    if cfg.out_channels != expected_out:
        raise ValueError(f"the UNet outputs {cfg.out_channels} channels but the scheduler implies {expected_out}.")
    meta = {"name": folder.name, "format": "diffusers", "source": str(folder),
            "schedule": {"kind": schedule.kind, "num_steps": len(schedule)}, "parameterization": parameterization,
            "learn_sigma": learn_sigma, "data_range": [-1, 1], "resolution": int(size), "channels": cfg.in_channels,
            "unet_config": dict(cfg), "scheduler_config": sched_cfg}
    return DiffusionPrior(DiffusersUNet(unet), schedule, resolution=int(size), channels=cfg.in_channels,
                          parameterization=parameterization, learn_sigma=learn_sigma, name=folder.name, meta=meta)
