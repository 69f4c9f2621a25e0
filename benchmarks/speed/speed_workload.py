"""What the speed benchmark (``solvers.py``) runs on: the image size, a shipped prior, the problem at H×W.

Kept apart from ``solvers.py`` so that the timing script stays short. The problems are built by
``invdiff.tasks.make_problem``, as the benchmark suites build them (``configs/bench/natural.yaml``:
``mask_kind: box, centred: true``), so a non-square image gets the same centred half-of-each-side box
as a 768×512 photo of the natural suite; at a square size the mask, the operator and the measurement
are the ones the earlier hand-built problem gave (a centred ``box_mask``, σ_y = 0.05).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from invdiff.bench.sizes import size_problem
from invdiff.priors import DiffusionPrior, load_prior
from invdiff.solvers import seeded_generators
from invdiff.tasks import make_problem

HW = tuple[int, int]


def parse_size(text: str) -> HW:
    """``"512x768"`` (height × width; ``×`` also accepted) or ``"256"`` (a square) → ``(H, W)``.

    Raises ``ValueError`` with one sentence for anything else (argparse turns it into a usage error).
    """
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x×]\s*(\d+))?\s*", text)
    if match is None or int(match.group(1)) < 1 or (match.group(2) is not None and int(match.group(2)) < 1):
        raise ValueError(f"--size must be HxW (height x width, e.g. 512x768) or one side N, got {text!r}.")
    h = int(match.group(1))
    return h, int(match.group(2) or h)


def shipped_prior(name: str, device: torch.device, hw: HW | None) -> DiffusionPrior:
    """A prior by name or path through the project's loader (which dequantises the shipped int8 weights).

    Loaded as ``load_prior`` gives it: eager fp32, contiguous (the eager-fp32 reference of the
    benchmark); the fast mode is configured later, as for a preset. ``hw`` (None: the prior's own
    square resolution) is checked with the benchmarks' size rule, so a fixed-size prior with
    attention is not timed at a size where its output would be noise.
    """
    prior = load_prior(name, device=device)
    if hw is not None:
        reason = size_problem(prior, *hw)
        if reason is not None:
            raise ValueError(reason)
    return prior


def parameter_count(prior: DiffusionPrior) -> int:
    """Parameters of the prior's network (what the JSON records next to the size)."""
    return int(sum(p.numel() for p in prior.net.parameters()))


def smooth_images(hw: HW, batch: int) -> torch.Tensor:
    """A smooth random image batch on [0, 1] (bicubic up-sampling of 8×8 noise; seed 0, on the CPU)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(batch, 3, 8, 8, generator=gen), size=hw, mode="bicubic")
    return x.clamp(0, 1)


def _task(task: str, hw: HW, **params: Any):
    """``make_problem`` of ``task`` at ``hw`` with σ_y = 0.05 and seed 0: the one place the workload is defined."""
    return make_problem(task, hw, torch.Generator().manual_seed(0), sigma_y=0.05, **params)


def _measured(task: str, hw: HW, batch: int, device: torch.device, **params: Any) -> tuple[Any, torch.Tensor]:
    op = _task(task, hw, **params).operator.to(device)
    return op, op.measure(smooth_images(hw, batch).to(device), seeded_generators(1, batch, device))


def problem(hw: HW, batch: int, device: torch.device) -> tuple[Any, torch.Tensor]:
    """A centred box hole of half of each side (a quarter of the area), σ_y = 0.05, on smooth random images.

    Returns (operator on ``device``, measurement y). The mask comes from ``make_problem`` with the
    natural suite's ``mask_kind: box, centred: true`` (384×256 in a 768×512 image).
    """
    return _measured("inpaint", hw, batch, device, mask_kind="box", centred=True)


def sr_problem(hw: HW, batch: int, device: torch.device) -> tuple[Any, torch.Tensor]:
    """The sr4 task (×4 bicubic, σ_y = 0.05) on a smooth random image batch."""
    return _measured("sr4", hw, batch, device)


def problem_details(hw: HW) -> dict[str, Any]:
    """The inpainting problem as ``make_problem`` records it (mask kind, fraction missing, σ_y)."""
    details = _task("inpaint", hw, mask_kind="box", centred=True).details
    return {"mask": "centred box, half of each side", **details}

