"""Small random priors for the CPU tests (the presets zero their last layers: randomise everything)."""

from __future__ import annotations

import math

import torch
from torch import nn

from invdiff.priors import ADMUNet, DiffusionPrior, NoiseSchedule, UNetConfig, preset


@torch.no_grad()
def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter a non-trivial value: N(0, 1/fan_in) weights, norms near identity."""
    gen = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / math.sqrt(fan_in))
            if module.bias is not None:
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
        elif isinstance(module, nn.GroupNorm):
            module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=gen))
            module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
        elif isinstance(module, nn.Embedding):
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen))
    return net


def tiny_config(**overrides) -> UNetConfig:
    """The ``tiny`` preset (16×16, attention in the middle block only) with overrides."""
    return preset("tiny", **overrides)


def tiny_net(seed: int = 0, **overrides) -> ADMUNet:
    return randomize(ADMUNet(tiny_config(**overrides)), seed).eval()


def tiny_prior(seed: int = 0, parameterization: str = "eps", **overrides) -> DiffusionPrior:
    net = tiny_net(seed, **overrides)
    c = net.config
    return DiffusionPrior(net, NoiseSchedule.create("linear", 1000), resolution=c.image_size,
                          channels=c.in_channels, parameterization=parameterization,
                          learn_sigma=c.out_channels == 2 * c.in_channels, name="tiny")


def images(n: int, seed: int = 1, size: int = 16, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N×3×size×size values in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, 3, size, size, generator=gen) - 1).to(dtype)


def noise_like(x: torch.Tensor, seed: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(x.shape, generator=gen, dtype=x.dtype)


def tiny_conditional_prior(seed: int = 0, image_size: int = 16, sigma_max: float = 0.1, name: str = "tiny-sr4"):
    """A random ``tiny`` SR3-style prior: 3 + 3 input channels, conditioned like ``invdiff train --conditional sr4``."""
    from invdiff.priors.conditional import ConcatConditionedUNet, ConditionalPrior, SRConditioning

    net = randomize(ConcatConditionedUNet(tiny_config(image_size=image_size, in_channels=6)), seed).eval()
    cond = SRConditioning.for_task("sr4", image_size, sigma_max=sigma_max)
    return ConditionalPrior(net, NoiseSchedule.create("linear", 1000), conditioning=cond, resolution=image_size,
                            channels=3, name=name)
