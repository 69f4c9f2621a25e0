"""Tiny attention-free (fully convolutional) random priors for the any-size and tiling tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from invdiff.priors import ADMUNet, DiffusionPrior, NoiseSchedule
from invdiff.priors.conditional import ConcatConditionedUNet, ConditionalPrior, SRConditioning
from invdiff.priors.unet_blocks import AttentionBlock, TimestepEmbedSequential
from tests.priors.helpers import randomize, tiny_config

#: stride 8 (three down-sampling stages), like the natural prior: 37×53 needs padding
CONV_MULT = (1, 1, 2, 2)


def attention_free(net: ADMUNet) -> ADMUNet:
    """Drop the middle block's attention (the ADM U-Net always builds one); no other attention is configured."""
    net.middle_block = TimestepEmbedSequential(*(m for m in net.middle_block if not isinstance(m, AttentionBlock)))
    return net


def conv_net(seed: int = 0, cls: type[ADMUNet] = ADMUNet, **overrides) -> ADMUNet:
    config = tiny_config(attention_resolutions=(), channel_mult=CONV_MULT, **overrides)
    return randomize(attention_free(cls(config)), seed).eval()


def conv_prior(seed: int = 0, **overrides) -> DiffusionPrior:
    """A random attention-free ADM U-Net (32 ch × (1, 1, 2, 2), one res block a level) with the linear schedule."""
    return DiffusionPrior(conv_net(seed, **overrides), NoiseSchedule.create("linear", 1000), resolution=16,
                          name="conv")


def conv_conditional_prior(seed: int = 0) -> ConditionalPrior:
    """The same network conditioned SR3-style (3 + 3 input channels) for ×4 bicubic SR."""
    net = conv_net(seed, cls=ConcatConditionedUNet, in_channels=6)
    return ConditionalPrior(net, NoiseSchedule.create("linear", 1000), conditioning=SRConditioning.for_task("sr4", 16),
                            resolution=16, channels=3, name="conv-sr4")


class SmoothingNet(nn.Module):
    """ε̂ of a denoiser that blurs, x̂₀ = (k ∗ x_t)/√ᾱ_t (k a normalised (2r+1)² Gaussian, zero padding).

    A local network without normalisation layers, whose receptive field (radius r) is known: tiles
    whose weight-free margin covers r must reproduce the whole image exactly, and tiles that abut
    without blending show seams (their zero padding darkens every tile edge).
    """

    downsampling_factor = 8

    def __init__(self, abar: torch.Tensor, radius: int = 3, sigma: float = 1.5) -> None:
        super().__init__()
        i = torch.arange(-radius, radius + 1, dtype=torch.float64)
        g = torch.exp(-(i**2) / (2 * sigma**2))
        k = (g[:, None] * g[None, :]) / g.sum() ** 2
        self.radius = radius
        self.register_buffer("kernel", k.float().expand(3, 1, -1, -1).clone())
        self.register_buffer("abar", abar.float())
        self.gain = nn.Parameter(torch.ones(()))  # a prior needs one parameter (its device and dtype)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        a = self.abar[t.round().long()].to(x.dtype)[:, None, None, None]
        x0 = F.conv2d(x, self.kernel.to(x.dtype), padding=self.radius, groups=3) / a.sqrt()
        return self.gain * (x - a.sqrt() * x0) / (1 - a).sqrt()


def smoothing_prior(radius: int = 3) -> DiffusionPrior:
    schedule = NoiseSchedule.create("linear", 1000)
    return DiffusionPrior(SmoothingNet(schedule.alphas_cumprod, radius), schedule, resolution=16, name="smoothing")
