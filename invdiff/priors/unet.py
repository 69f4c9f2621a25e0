"""The ADM U-Net (guided-diffusion architecture) with named presets.

``UNetConfig`` states the architecture in the terms of the guided-diffusion flags; attention
resolutions are given in **pixels** (``(16,)`` at image size 256 means attention on the 16×16
feature maps), as in that project's command-line flags. The presets reproduce the checkpoints
that DPS, DDRM and RePaint use, key for key and shape for shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from .unet_blocks import (
    AttentionBlock,
    Downsample,
    GroupNorm32,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
    timestep_embedding,
    zero_module,
)


def check_known_fields(cls: type, d: dict, what: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the keys of ``d`` that are not fields of the dataclass ``cls``."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise error(f"unknown {what} keys {unknown}; known keys are {sorted(known)}.")


def default_channel_mult(image_size: int) -> tuple[int, ...]:
    """guided-diffusion's default channel multipliers for an image size."""
    table = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4), 32: (1, 2, 2, 2)}
    if image_size not in table:
        raise ValueError(f"no default channel_mult for image size {image_size}; give channel_mult explicitly.")
    return table[image_size]


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of an ADM U-Net; field names follow guided-diffusion's flags."""

    image_size: int = 64
    in_channels: int = 3
    model_channels: int = 128
    out_channels: int = 3
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16, 8)
    dropout: float = 0.0
    channel_mult: tuple[float, ...] = field(default=())
    conv_resample: bool = True
    num_classes: int | None = None
    num_heads: int = 4
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = False
    use_new_attention_order: bool = False
    attention_window: int = 0  # > 0: attention within windows of this many feature pixels (0 = all positions)

    def resolved_channel_mult(self) -> tuple[float, ...]:
        return tuple(self.channel_mult) if self.channel_mult else default_channel_mult(self.image_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["attention_resolutions"] = list(self.attention_resolutions)
        d["channel_mult"] = list(self.resolved_channel_mult())
        return d

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        check_known_fields(cls, d, "U-Net config")
        d = dict(d)
        for key in ("attention_resolutions", "channel_mult"):
            if key in d and d[key] is not None:
                d[key] = tuple(d[key])
        return cls(**d)


class ADMUNet(nn.Module):
    """ε-prediction (optionally with learned variance) U-Net of Dhariwal & Nichol (2021).

    ``forward(x, t, y=None)`` takes ``x`` (N×in_channels×H×W on the [-1, 1] scale), integer or
    fractional timesteps ``t`` (N,) and optional class labels ``y``; it returns
    N×out_channels×H×W (``out_channels = 6`` for learned-σ models: ε then the variance logits).
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = c = config
        mult = c.resolved_channel_mult()
        attention_ds = {c.image_size // int(r) for r in c.attention_resolutions}
        heads_up = c.num_heads if c.num_heads_upsample == -1 else c.num_heads_upsample
        emb_dim = 4 * c.model_channels

        def attention(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(ch, heads, c.num_head_channels, legacy_order=not c.use_new_attention_order,
                                  window=c.attention_window)

        def resblock(ch: int, out: int, **updown: bool) -> ResBlock:
            return ResBlock(ch, emb_dim, c.dropout, out, c.use_scale_shift_norm, **updown)

        self.time_embed = nn.Sequential(nn.Linear(c.model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if c.num_classes is not None:
            self.label_emb = nn.Embedding(c.num_classes, emb_dim)

        ch = int(mult[0] * c.model_channels)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
        skip_chans, ds = [ch], 1
        for level, m in enumerate(mult):
            for _ in range(c.num_res_blocks):
                layers: list[nn.Module] = [resblock(ch, int(m * c.model_channels))]
                ch = int(m * c.model_channels)
                if ds in attention_ds:
                    layers.append(attention(ch, c.num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_chans.append(ch)
            if level != len(mult) - 1:
                down = resblock(ch, ch, down=True) if c.resblock_updown else Downsample(ch, c.conv_resample, ch)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_chans.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(resblock(ch, ch), attention(ch, c.num_heads), resblock(ch, ch))

        self.output_blocks = nn.ModuleList([])
        for level, m in list(enumerate(mult))[::-1]:
            for i in range(c.num_res_blocks + 1):
                layers = [resblock(ch + skip_chans.pop(), int(c.model_channels * m))]
                ch = int(c.model_channels * m)
                if ds in attention_ds:
                    layers.append(attention(ch, heads_up))
                if level and i == c.num_res_blocks:
                    layers.append(resblock(ch, ch, up=True) if c.resblock_updown else Upsample(ch, c.conv_resample, ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            GroupNorm32(ch), nn.SiLU(), zero_module(nn.Conv2d(ch, c.out_channels, 3, padding=1))
        )

    @property
    def downsampling_factor(self) -> int:
        """Spatial sizes must be divisible by this (2 to the number of down-sampling stages)."""
        return 2 ** (len(self.config.resolved_channel_mult()) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (self.config.num_classes is None) != (y is None):
            raise ValueError("pass class labels y exactly when the model is class-conditional.")
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels).to(x.dtype))
        if y is not None:
            emb = emb + self.label_emb(y)
        hs, h = [], x
        for module in self.input_blocks:
            h = module(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


#: Named architectures. Attention resolutions are pixel sizes, heads fixed by ``num_head_channels``.
PRESETS: dict[str, UNetConfig] = {
    # DPS FFHQ 256 (ffhq_10m.pt): 93.6 M parameters, 362 tensors.
    "adm-ffhq256": UNetConfig(
        image_size=256, model_channels=128, out_channels=6, num_res_blocks=1, attention_resolutions=(16,),
        channel_mult=(1, 1, 2, 2, 4, 4), num_heads=4, num_head_channels=64, resblock_updown=True,
    ),
    # OpenAI ImageNet 256 unconditional (256x256_diffusion_uncond.pt), also RePaint's CelebA/Places: 552.8 M.
    "adm-imagenet256-uncond": UNetConfig(
        image_size=256, model_channels=256, out_channels=6, num_res_blocks=2, attention_resolutions=(32, 16, 8),
        channel_mult=(1, 1, 2, 2, 4, 4), num_heads=4, num_head_channels=64, resblock_updown=True,
    ),
    # Our 64×64 face prior (faces64): 19.2 M parameters, 38 MB in fp16, trainable inside a session's GPU budget.
    "faces64": UNetConfig(
        image_size=64, model_channels=64, out_channels=3, num_res_blocks=2, attention_resolutions=(16, 8),
        channel_mult=(1, 2, 3, 3), num_heads=4, num_head_channels=32, resblock_updown=True, dropout=0.0,
    ),
    # faces64 conditioned SR3-style on a ×4-upsampled low-resolution image: x_t and c concatenated (3 + 3 inputs).
    "faces64-sr4": UNetConfig(
        image_size=64, in_channels=6, model_channels=64, out_channels=3, num_res_blocks=2,
        attention_resolutions=(16, 8), channel_mult=(1, 2, 3, 3), num_heads=4, num_head_channels=32,
        resblock_updown=True, dropout=0.0,
    ),
    # The natural-image prior (natural): no attention but the middle block's, which attends within 8×8 windows
    # (the whole bottleneck of a 64² training crop), so one local network serves any H×W; trained on random 64²
    # crops (and down-scaled crops) of photographs. 19.4 M parameters (≈19.7 MB as int8).
    "natural": UNetConfig(
        image_size=64, model_channels=64, out_channels=3, num_res_blocks=2, attention_resolutions=(),
        channel_mult=(1, 2, 2, 4), num_heads=4, num_head_channels=32, resblock_updown=True, dropout=0.0,
        attention_window=8,
    ),
    # natural one and a half times wider (96 base channels): 43.6 M parameters. Issue 20's capacity experiment — the
    # shipped natural is level with a 32 M-parameter probe (benchmarks/results/natural-probe-bar/); not shipped (at
    # int8 it would take the shipped weights past 60 MB, and plain int4 costs too much: benchmarks/quantize/low_bit.md).
    "natural-wide": UNetConfig(
        image_size=64, model_channels=96, out_channels=3, num_res_blocks=2, attention_resolutions=(),
        channel_mult=(1, 2, 2, 4), num_heads=4, num_head_channels=32, resblock_updown=True, dropout=0.0,
        attention_window=8,
    ),
    # Tiny network for CPU tests.
    "tiny": UNetConfig(
        image_size=16, model_channels=32, out_channels=3, num_res_blocks=1, attention_resolutions=(4,),
        channel_mult=(1, 2), num_heads=2, num_head_channels=-1,
    ),
    # tiny without attention (size-agnostic): CPU tests of crop training and any-size solving.
    "tiny-any": UNetConfig(
        image_size=16, model_channels=32, out_channels=3, num_res_blocks=1, attention_resolutions=(),
        channel_mult=(1, 2), num_heads=2, num_head_channels=-1,
    ),
}


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys or shapes do not fit the architecture it is loaded into."""


def check_state_dict(expected: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor], source: str,
                     target: str) -> None:
    """Raise one :class:`CheckpointMismatchError` naming the first missing key, extra key or wrong shape.

    ``expected`` maps every key of the architecture to its shape; nothing is loaded here.
    """
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return
    if missing:
        first = f"lacks key {missing[0]!r}"
    elif unexpected:
        first = f"has unexpected key {unexpected[0]!r}"
    else:
        k = wrong[0]
        first = f"has {k!r} of shape {tuple(state[k].shape)} where {target} needs {tuple(expected[k])}"
    counts = f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} of the wrong shape"
    raise CheckpointMismatchError(
        f"{source} does not fit {target}: it {first} ({counts}); pass the architecture the weights were trained with."
    )


def load_adm_unet(config: UNetConfig, state: dict[str, torch.Tensor], source: str, target: str = "",
                  cls: type[ADMUNet] = ADMUNet) -> ADMUNet:
    """Build an :class:`ADMUNet` (or subclass ``cls``) and fill it with ``state`` (strict; weights cast to float32).

    The network is built on the meta device and the checkpoint's tensors are assigned to it, so
    no random initialisation is computed and no parameter is ever left uninitialised.
    """
    with torch.device("meta"):
        net = cls(config)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    check_state_dict(expected, state, source, target or "the ADM U-Net architecture")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    net.load_state_dict(state, strict=True, assign=True)
    return net


def preset(name: str, **overrides) -> UNetConfig:
    """A preset's config, with field overrides (e.g. ``preset("tiny", in_channels=6)``)."""
    if name not in PRESETS:
        raise KeyError(f"unknown U-Net preset {name!r}; choose one of {sorted(PRESETS)}.")
    return UNetConfig.from_dict({**PRESETS[name].to_dict(), **overrides})
