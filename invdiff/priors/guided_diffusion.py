"""OpenAI guided-diffusion checkpoints: plain ``.pt`` state dicts of the ADM U-Net.

The weights reveal most of the architecture (channels, blocks per level, channel multipliers,
which levels attend, up/down-sampling style, scale-shift norm, class count), and this module
reads it off the shapes to check the architecture a user names. They do *not* reveal the
attention head count or the qkv split order: a wrong value loads cleanly and computes another
function. So a checkpoint never loads without a preset or a stated architecture, and the
loader never guesses. Those checkpoints are all ε-prediction on [-1, 1] with DDPM's linear β over
1000 steps, which is the schedule used unless the caller gives another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from .prior import DiffusionPrior
from .schedule import NoiseSchedule
from .unet import PRESETS, UNetConfig, load_adm_unet, preset

SIGNATURE_KEYS = ("input_blocks.0.0.weight", "time_embed.0.weight", "out.2.weight")
#: guided-diffusion's command-line flags that change nothing in the function the weights compute.
RUNTIME_FLAGS = ("use_checkpoint", "use_fp16", "model_path")
NUM_CLASSES = 1000  # guided-diffusion's class_cond means ImageNet's 1000 classes


class ArchitectureError(ValueError):
    """The architecture is missing, cannot be read, or contradicts the checkpoint's shapes."""


def is_guided_diffusion(state: dict) -> bool:
    """Whether a state dict has the ADM U-Net's signature keys."""
    return all(k in state for k in SIGNATURE_KEYS)


@dataclass(frozen=True)
class Inferred:
    """What a guided-diffusion state dict's shapes say about its architecture."""

    in_channels: int
    model_channels: int
    out_channels: int
    num_res_blocks: int
    channel_mult: tuple[float, ...]
    attention_ds: tuple[int, ...]  # downsampling factors (1, 2, 4 …) whose levels attend
    resblock_updown: bool | None  # None: a single level has no up/down-sampling to look at
    conv_resample: bool | None  # None: irrelevant (resblock_updown) or not visible
    use_scale_shift_norm: bool
    num_classes: int | None

    def describe(self) -> str:
        attn = ", ".join(f"1/{ds}" for ds in self.attention_ds) or "none"
        return (f"in/out channels {self.in_channels}/{self.out_channels}, model_channels={self.model_channels}, "
                f"channel_mult={self.channel_mult}, num_res_blocks={self.num_res_blocks}, attention at {attn} of "
                f"the image size (and in the middle block), resblock_updown={self.resblock_updown}, "
                f"use_scale_shift_norm={self.use_scale_shift_norm}, num_classes={self.num_classes}")


def _layers(state: dict, prefix: str) -> dict[int, dict[int, set[str]]]:
    """``{block: {layer: {parameter names}}}`` for keys ``prefix.block.layer.name``."""
    out: dict[int, dict[int, set[str]]] = {}
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(\d+)\.(.+)$")
    for key in state:
        m = pattern.match(key)
        if m:
            out.setdefault(int(m[1]), {}).setdefault(int(m[2]), set()).add(m[3])
    return out


def infer_architecture(state: dict[str, torch.Tensor]) -> Inferred:
    """Read the architecture off the shapes, walking the decoder (whose up-sampling layers mark the levels)."""
    mc = state["time_embed.0.weight"].shape[1]
    blocks = _layers(state, "output_blocks")
    if sorted(blocks) != list(range(len(blocks))) or not blocks:
        raise ArchitectureError("the checkpoint's output_blocks are not numbered 0…N−1.")
    groups: list[list[int]] = [[]]
    attends: list[bool] = []
    up_kinds: set[str] = set()
    for j in sorted(blocks):
        later = [blocks[j][k] for k in sorted(blocks[j]) if k > 0]
        groups[-1].append(j)
        attends.append(any("qkv.weight" in names for names in later))
        if any("in_layers.0.weight" in names for names in later):
            up_kinds.add("resblock")
        elif any("conv.weight" in names for names in later):
            up_kinds.add("conv")
        else:
            continue
        groups.append([])
    sizes = {len(g) for g in groups}
    channels = [{state[f"output_blocks.{j}.0.out_layers.3.weight"].shape[0] for j in g} for g in groups]
    if len(sizes) != 1 or len(up_kinds) > 1 or any(len(c) != 1 for c in channels):
        raise ArchitectureError("the decoder's structure cannot be read from the weights (up-sampling without "
                                "weights, or uneven levels); pass a complete architecture.")
    levels = len(groups)
    mult = [next(iter(c)) / mc for c in reversed(channels)]
    ch0 = next(iter(channels[0]))
    return Inferred(
        in_channels=state["input_blocks.0.0.weight"].shape[1],
        model_channels=mc,
        out_channels=state["out.2.weight"].shape[0],
        num_res_blocks=sizes.pop() - 1,
        channel_mult=tuple(int(m) if m == int(m) else m for m in mult),
        attention_ds=tuple(2 ** (levels - 1 - g) for g in reversed(range(levels))
                           if any(attends[j] for j in groups[g])),
        resblock_updown=("resblock" in up_kinds) if up_kinds else None,
        conv_resample=True if up_kinds == {"conv"} else None,
        use_scale_shift_norm=state["output_blocks.0.0.emb_layers.1.weight"].shape[0] == 2 * ch0,
        num_classes=state["label_emb.weight"].shape[0] if "label_emb.weight" in state else None,
    )


def _contradictions(config: UNetConfig, inferred: Inferred) -> list[tuple[str, object, object]]:
    """(field, stated, from the weights) for every inferable field the config gets wrong."""
    levels = len(inferred.channel_mult)
    stated_ds = tuple(sorted(ds for ds in (config.image_size // int(r) for r in config.attention_resolutions)
                             if ds < 2**levels))
    pairs = [
        ("in_channels", config.in_channels, inferred.in_channels),
        ("model_channels", config.model_channels, inferred.model_channels),
        ("out_channels", config.out_channels, inferred.out_channels),
        ("num_res_blocks", config.num_res_blocks, inferred.num_res_blocks),
        ("channel_mult", tuple(config.resolved_channel_mult()), inferred.channel_mult),
        ("attention levels (downsampling factors)", stated_ds, tuple(sorted(inferred.attention_ds))),
        ("use_scale_shift_norm", config.use_scale_shift_norm, inferred.use_scale_shift_norm),
        ("num_classes", config.num_classes, inferred.num_classes),
        ("resblock_updown", config.resblock_updown, inferred.resblock_updown),
        ("conv_resample", config.conv_resample, inferred.conv_resample),
    ]
    # None from the weights means "not visible", except for num_classes where it means unconditional.
    return [(f, a, b) for f, a, b in pairs if (b is not None or f == "num_classes") and a != b]


def config_from_dict(d: dict, inferred: Inferred | None) -> UNetConfig:
    """A UNetConfig from a user dict: our field names or guided-diffusion's flags (``num_channels`` …).

    It must state ``image_size`` and ``num_heads`` or ``num_head_channels`` (never guessed); any
    other field the weights reveal may be left out and is taken from them.
    """
    d = {k: v for k, v in d.items() if k not in RUNTIME_FLAGS}
    if "num_channels" in d:
        d["model_channels"] = d.pop("num_channels")
    if "learn_sigma" in d:
        d["out_channels"] = d.get("in_channels", 3) * (2 if d.pop("learn_sigma") else 1)
    if "class_cond" in d:
        d["num_classes"] = NUM_CLASSES if d.pop("class_cond") else None
    for key in ("attention_resolutions", "channel_mult"):
        if isinstance(d.get(key), (str, int, float)):
            text = str(d[key]).strip()
            d[key] = tuple(float(v) if "." in v else int(v) for v in text.split(",")) if text else ()
    if "image_size" not in d or not ({"num_heads", "num_head_channels"} & set(d)):
        raise ArchitectureError("an architecture dict must state image_size and num_heads or num_head_channels "
                                "(they cannot be read from the weights).")
    if inferred is not None:
        taken = {f.name: getattr(inferred, f.name) for f in fields(Inferred)
                 if f.name not in ("attention_ds",) and getattr(inferred, f.name) is not None}
        taken["attention_resolutions"] = tuple(d["image_size"] // ds for ds in inferred.attention_ds)
        d = {**taken, **d}
    return UNetConfig.from_dict(d)


def resolve_architecture(architecture, inferred: Inferred | None) -> tuple[UNetConfig, str]:
    """(config, label) from a preset name, a YAML/JSON path, a dict or a UNetConfig."""
    if architecture is None:
        looks = f" The checkpoint has {inferred.describe()}." if inferred else ""
        fits = [n for n, c in PRESETS.items() if inferred and not _contradictions(c, inferred)]
        hint = f" Presets that fit these shapes: {fits}." if fits else ""
        raise ArchitectureError("a guided-diffusion checkpoint needs architecture= (a preset name, a YAML file or "
                                "a dict), because its attention head count cannot be read from the weights."
                                + looks + hint)
    if isinstance(architecture, UNetConfig):
        return architecture, "the given UNetConfig"
    if isinstance(architecture, dict):
        return config_from_dict(architecture, inferred), "the given architecture dict"
    name = str(architecture)
    if name in PRESETS:
        return preset(name), f"preset {name!r}"
    path = Path(name).expanduser()
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
        import yaml  # JSON is YAML too

        return config_from_dict(yaml.safe_load(path.read_text()) or {}, inferred), f"architecture file {path.name}"
    raise ArchitectureError(f"architecture {name!r} is neither a preset ({sorted(PRESETS)}) nor a YAML/JSON file.")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A guided-diffusion checkpoint's state dict (``torch.load`` with ``weights_only=True``)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path.name} holds a {type(state).__name__}, not a plain state dict of tensors; "
                         "save model.state_dict() on its own.")
    if not is_guided_diffusion(state):
        missing = [k for k in SIGNATURE_KEYS if k not in state]
        raise ValueError(f"{path.name} is not a guided-diffusion U-Net state dict: it lacks {missing} "
                         f"(its first keys are {list(state)[:3]}).")
    return state


def prior_from_state_dict(state: dict[str, torch.Tensor], architecture, *, source: str = "checkpoint",
                          schedule: NoiseSchedule | None = None) -> DiffusionPrior:
    """Check ``architecture`` against the shapes, load strictly, wrap as an ε-prediction prior."""
    try:
        inferred: Inferred | None = infer_architecture(state)
    except ArchitectureError:
        if architecture is None or isinstance(architecture, dict):
            raise
        inferred = None  # a complete architecture is given; the key-by-key check below still applies
    config, label = resolve_architecture(architecture, inferred)
    wrong = _contradictions(config, inferred) if inferred else []
    if wrong:
        field, stated, actual = wrong[0]
        raise ArchitectureError(f"{label} says {field}={stated} but the weights of {source} say {actual}; "
                                "pass the architecture the checkpoint was trained with.")
    if config.out_channels not in (config.in_channels, 2 * config.in_channels):
        raise ArchitectureError(f"out_channels={config.out_channels} is neither in_channels nor twice it "
                                "(learned σ); this is not an ε-prediction U-Net.")
    net = load_adm_unet(config, state, source, target=label)
    schedule = schedule or NoiseSchedule.create("linear", 1000)
    learn_sigma = config.out_channels == 2 * config.in_channels
    meta = {
        "name": Path(source).stem, "format": "guided-diffusion", "source": source, "architecture_from": label,
        "architecture": {"type": "adm-unet", **config.to_dict()},
        "schedule": {"kind": schedule.kind, "num_steps": len(schedule)},
        "parameterization": "eps", "learn_sigma": learn_sigma, "data_range": [-1, 1],
        "resolution": config.image_size, "channels": config.in_channels,
    }
    return DiffusionPrior(net, schedule, resolution=config.image_size, channels=config.in_channels,
                          parameterization="eps", learn_sigma=learn_sigma, name=meta["name"], meta=meta)
