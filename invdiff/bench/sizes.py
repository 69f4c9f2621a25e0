"""Which image sizes a prior can serve: a benchmark never runs a prior where its numbers would be noise.

A network with attention layers attends over the whole image, so its statistics depend on the
image size: such a prior serves only the square resolution it was trained at (``faces64`` at
32×32 gave 6–11 dB of noise, issue 17). A fully convolutional prior (no attention, e.g.
``natural``) sees the same statistics per pixel at any size and serves any H×W down to its
smallest size (its down-sampling factor, or ``prior.min_size`` where the prior states one; padding
to a multiple of the factor is the prior's job). A prior may state ``any_size`` (True/False) as an
attribute or in its card (``prior.meta["any_size"]``, e.g. windowed attention); otherwise it is
read from its modules.
"""

from __future__ import annotations

from typing import Any


def attention_layers(prior: Any) -> int:
    """How many global attention modules the prior's network holds (windowed attention is local: not counted)."""
    from ..priors.tiling import attention_layers as global_attention

    net = getattr(prior, "net", None)
    return 0 if net is None else len(global_attention(net))


def any_size(prior: Any) -> bool:
    """Whether ``prior`` serves sizes other than its training resolution (module docstring)."""
    stated = getattr(prior, "any_size", None)
    if stated is None:
        stated = (getattr(prior, "meta", None) or {}).get("any_size")
    return bool(stated) if stated is not None else attention_layers(prior) == 0


def min_size(prior: Any) -> int:
    """The smallest image side a size-agnostic prior takes."""
    stated = getattr(prior, "min_size", None)
    return int(stated) if stated else int(getattr(getattr(prior, "net", None), "downsampling_factor", 1))


def size_problem(prior: Any, height: int, width: int) -> str | None:
    """``None`` if ``prior`` serves ``height×width`` images, else one sentence saying why not and what to do."""
    r = int(prior.resolution)
    if (height, width) == (r, r):
        return None
    if not any_size(prior):
        return (f"prior {prior.name!r} was trained at {r}×{r} and has attention layers, so it cannot serve "
                f"{height}×{width} images (its output there is noise): run it on {r}×{r} images, or use a "
                f"size-agnostic prior such as 'natural'.")
    smallest = min_size(prior)
    if min(height, width) < smallest:
        return (f"prior {prior.name!r} takes images of at least {smallest}×{smallest}, got {height}×{width}.")
    return None
