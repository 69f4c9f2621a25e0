"""Tiny attention-free (fully convolutional) random priors for the any-size and tiling tests."""

from __future__ import annotations

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
