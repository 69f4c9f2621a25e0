"""Batches of solve cases: which cases share one solver call, and that call.

Kept apart from :mod:`invdiff.api` (which re-exports every name here, as the CLI and users reach them there)
so that module stays short.
"""

from __future__ import annotations

import hashlib

import torch

import operators

from .cases import Case


def batch_key(case: Case) -> tuple:
    """Cases with equal keys can share one solver call (inpainting masks are stacked per image)."""
    op = case.operator
    digest = hashlib.sha1()
    if op.name != "inpaint":
        for name, buf in sorted(op.named_buffers()):
            digest.update(name.encode() + buf.detach().cpu().numpy().tobytes())
    return (type(op).__name__, "" if op.name == "inpaint" else op.extra_repr(), repr(op.noise),
            digest.hexdigest(), tuple(case.y.shape[1:]), case.shape)


def merge_operator(cases: list[Case]) -> operators.Operator:
    """One operator for a batch of cases with equal :func:`batch_key`."""
    first = cases[0].operator
    if len(cases) == 1 or first.name != "inpaint":
        return first
    return operators.Inpainting(torch.stack([c.mask for c in cases]), channels=first.channels, noise=first.noise)


def sampler_generators(cases: list[Case], device: str | torch.device, fast: bool = False) -> list[torch.Generator]:
    """The solver's generator per case: the case's own (CPU, continuing after the protocol draws), or with
    ``fast`` a new generator on ``device`` seeded with the case's seed (noise drawn where it is used)."""
    if not fast:
        return [c.generator for c in cases]
    return [torch.Generator(device).manual_seed(c.generator.initial_seed()) for c in cases]


def solve_cases(cases: list[Case], solver, prior, device: str | torch.device = "cpu", progress: bool = False,
                fast: bool = False):
    """Solve a batch of cases with equal keys in one call, in their ``y``'s dtype; returns the ``SolveResult``.

    ``fast``: the sampler's noise comes from CUDA generators (:func:`sampler_generators`); the
    prior itself must already be configured (:func:`get_prior` with ``fast=True``).
    """
    y = torch.cat([c.y for c in cases]).to(device)
    return solver.solve(y, merge_operator(cases), prior, generator=sampler_generators(cases, device, fast),
                        image_shape=(len(cases), *cases[0].shape), progress=progress)


def group_cases(indices: list[int], cases: dict[int, Case], batch_size: int) -> list[list[int]]:
    """Consecutive runs of equal :func:`batch_key`, at most ``batch_size`` long."""
    groups: list[list[int]] = []
    for i in indices:
        if groups and len(groups[-1]) < batch_size and batch_key(cases[groups[-1][0]]) == batch_key(cases[i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
