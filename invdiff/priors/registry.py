"""``load_prior``: the one way in, for every checkpoint format, plus the built-in priors.

``load_prior(x)`` accepts

* a built-in prior's name (``available_priors()`` lists them, and whether their weights are installed),
* invdiff's own format: ``NAME.json`` (+ safetensors), or a folder holding exactly one such JSON
  (a JSON with ``"conditioning"`` gives a :class:`~invdiff.priors.conditional.ConditionalPrior`),
* an OpenAI guided-diffusion ``.pt`` state dict, with ``architecture=`` (a preset, YAML or dict),
* a diffusers ``UNet2DModel`` folder (``unet/`` + ``scheduler/``, or flat), through ``diffusers``.

Built-in weights are looked up inside the installed package (``invdiff/weights/``), so they are
found after a regular ``pip install`` whatever the working directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from .conditional import ConcatConditionedUNet, ConditionalPrior, SRConditioning, is_conditional
from .diffusers_folder import load_diffusers_folder, unet_dir
from .guided_diffusion import prior_from_state_dict, read_state_dict
from .native import FORMAT, read_prior, weight_files, write_prior
from .prior import DiffusionPrior
from .schedule import NoiseSchedule
from .unet import ADMUNet, UNetConfig, load_adm_unet

REQUIRED_KEYS = ("architecture", "schedule", "parameterization", "learn_sigma", "data_range", "resolution", "channels")


@dataclass(frozen=True)
class PriorInfo:
    """A built-in prior: its name, a one-line description, where its JSON lives, and whether it is there."""

    name: str
    description: str
    path: Path
    installed: bool


#: Built-in priors: name → (JSON file under invdiff/weights/, one-line description).
BUILTIN_PRIORS: dict[str, tuple[str, str]] = {
    "faces64": ("faces64.json",
                "64×64 faces, ADM U-Net (19 M params), ε-prediction, linear β × 1000 steps, trained by invdiff"),
    "natural": ("natural.json",
                ("natural photographs at any size: fully convolutional ADM U-Net (19.4 M params, no attention), "
                 "ε-prediction, linear β × 1000 steps, trained by invdiff on random crops")),
    "faces64-sr4": ("faces64-sr4.json",
                    ("SR3-style ×4 super-resolution of 64×64 faces (16×16 → 64×64), conditioned on the bicubic-"
                     "upsampled low-resolution image; for method sr3 (trained by invdiff)")),
}


def weights_dir() -> Path:
    """``invdiff/weights`` inside the installed package."""
    return Path(str(resources.files("invdiff"))) / "weights"


def _installed(json_path: Path) -> bool:
    if not json_path.is_file():
        return False
    try:
        weight_files(json_path)
    except FileNotFoundError:
        return False
    return True


def available_priors() -> list[PriorInfo]:
    """Every built-in prior, with whether its weights are installed."""
    root = weights_dir()
    return [PriorInfo(name, desc, root / file, _installed(root / file))
            for name, (file, desc) in sorted(BUILTIN_PRIORS.items())]


def _parse_schedule(schedule: NoiseSchedule | dict | None) -> NoiseSchedule | None:
    if schedule is None or isinstance(schedule, NoiseSchedule):
        return schedule
    unknown = set(schedule) - {"kind", "num_steps"}
    if unknown:
        raise ValueError(f"a schedule dict takes 'kind' and 'num_steps', not {sorted(unknown)}.")
    return NoiseSchedule.create(schedule.get("kind", "linear"), int(schedule.get("num_steps", 1000)))


def load_native(json_path: str | Path, verify_hash: bool = True) -> DiffusionPrior:
    """A prior in invdiff's format (safetensors + JSON written by :func:`write_prior`)."""
    json_path = Path(json_path)
    state, meta = read_prior(json_path, verify_hash=verify_hash)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{json_path.name} lacks {missing}; it was not written by invdiff's export.")
    arch = dict(meta["architecture"])
    if arch.pop("type", None) != "adm-unet":
        raise ValueError(f"{json_path.name}: only architecture type 'adm-unet' is supported.")
    config = UNetConfig.from_dict(arch)
    cond = SRConditioning.from_dict(meta["conditioning"]) if meta.get("conditioning") else None
    inputs = meta["channels"] + (cond.channels if cond else 0)  # a conditional net also takes c
    if (meta["resolution"], inputs) != (config.image_size, config.in_channels):
        raise ValueError(f"{json_path.name}: resolution/input channels {meta['resolution']}/{inputs} contradict "
                         f"its architecture ({config.image_size}/{config.in_channels}).")
    net = load_adm_unet(config, state, json_path.name, target="the architecture in its JSON",
                        cls=ConcatConditionedUNet if cond else ADMUNet)
    kwargs = {"resolution": meta["resolution"], "channels": meta["channels"],
              "parameterization": meta["parameterization"], "learn_sigma": meta["learn_sigma"],
              "data_range": tuple(meta["data_range"]), "name": meta.get("name", json_path.stem), "meta": meta}
    if cond:
        return ConditionalPrior(net, _parse_schedule(meta["schedule"]), conditioning=cond, **kwargs)
    return DiffusionPrior(net, _parse_schedule(meta["schedule"]), **kwargs)


def save_prior(prior: DiffusionPrior, path: str | Path, dtype: torch.dtype | None = None,
               shard_bytes: int | None = None, encoding: str | None = None, **card) -> Path:
    """Write an ADM-U-Net prior in invdiff's format (e.g. to convert a guided-diffusion .pt); returns the JSON.

    ``card`` adds model-card entries (``training=…``, ``license=…``) to the JSON; ``encoding``
    ("int8-per-channel") stores the weights quantised (see :mod:`invdiff.priors.native`).
    """
    if not isinstance(prior.net, ADMUNet):
        raise TypeError("only ADM U-Net priors can be saved in invdiff's format; keep diffusers folders as they are.")
    meta = {
        "name": prior.name, "architecture": {"type": "adm-unet", **prior.net.config.to_dict()},
        "schedule": {"kind": prior.schedule.kind, "num_steps": prior.num_timesteps},
        "parameterization": prior.parameterization, "learn_sigma": prior.learn_sigma,
        "data_range": list(prior.data_range), "resolution": prior.resolution, "channels": prior.channels, **card,
    }
    if is_conditional(prior):
        meta["conditioning"] = prior.conditioning.to_dict()
    if prior.schedule != NoiseSchedule.create(prior.schedule.kind, prior.num_timesteps):
        raise ValueError("the prior's schedule is not a standard named one; invdiff's format cannot state it.")
    return write_prior(path, prior.net.state_dict(), meta, dtype=dtype, shard_bytes=shard_bytes, encoding=encoding)


def _is_native_json(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _native_json_in(folder: Path) -> Path | None:
    ours = [p for p in sorted(folder.glob("*.json")) if _is_native_json(p)]
    if len(ours) > 1:
        raise ValueError(f"{folder} holds {len(ours)} invdiff priors ({[p.name for p in ours]}); pass one JSON file.")
    return ours[0] if ours else None


def load_prior(name_or_path: str | Path, *, architecture=None, device: str | torch.device = "cpu",
               schedule: NoiseSchedule | dict | None = None, verify_hash: bool = True) -> DiffusionPrior:
    """Load any supported prior onto ``device``, in eval mode with frozen weights.

    ``architecture`` (guided-diffusion checkpoints only): a preset name, a YAML/JSON file or a dict
    (our field names or guided-diffusion's flags). ``schedule`` overrides the training schedule of
    checkpoints that do not state one (guided-diffusion: linear × 1000 otherwise).
    """
    path = Path(name_or_path).expanduser()
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_PRIORS and not path.exists():
        kind, target = "builtin", weights_dir() / BUILTIN_PRIORS[name_or_path][0]
        if not _installed(target):
            raise FileNotFoundError(f"the weights of built-in prior {name_or_path!r} are not installed: expected "
                                    f"{target.name} and its .safetensors in {target.parent}.")
    elif not path.exists():
        raise FileNotFoundError(f"{str(name_or_path)!r} is neither a file, a folder nor a built-in prior "
                                f"({sorted(BUILTIN_PRIORS)}).")
    elif path.is_dir():
        target = _native_json_in(path)
        kind = "native" if target else "diffusers" if unet_dir(path) else ""
        if not kind:
            raise ValueError(f"{path} holds neither an invdiff prior JSON nor a diffusers UNet2DModel folder.")
        target = target or path
    elif path.suffix == ".json":
        if not _is_native_json(path) and unet_dir(path.parent):
            raise ValueError(f"{path} is a diffusers config; pass its folder {path.parent} instead.")
        kind, target = "native", path
    elif path.suffix == ".safetensors" and path.with_suffix(".json").is_file():
        kind, target = "native", path.with_suffix(".json")
    else:
        kind, target = "guided-diffusion", path
    if architecture is not None and kind != "guided-diffusion":
        raise ValueError(f"architecture= applies to guided-diffusion .pt checkpoints; {path.name} states its own.")
    if schedule is not None and kind in ("native", "builtin"):
        raise ValueError(f"schedule= cannot override the schedule stated in {target.name}.")
    if kind in ("native", "builtin"):
        prior = load_native(target, verify_hash=verify_hash)
    elif kind == "diffusers":
        prior = load_diffusers_folder(target, _parse_schedule(schedule))
    else:
        prior = prior_from_state_dict(read_state_dict(target), architecture, source=target.name,
                                      schedule=_parse_schedule(schedule))
    return prior.to(device)
