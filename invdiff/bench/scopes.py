"""Which images each table and grid covers, from the suite's record (``meta.json``'s ``suite``).

A suite may hold several image sets and run its expensive methods on a named subset only. Every
table is *paired*: a **scope** is one set's images, or one set's images that are also in a subset,
and its table shows each method on exactly the scope's images it has rows for — so the subset
table compares DPS and RePaint with DDRM and the baselines on the same images. The grid shows, per
set, the first ``grid_images`` images that every method runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scope:
    """A table's image set: ``label`` (e.g. ``kodak24`` or ``kodak24 ∩ gpu8``) and its image names."""

    label: str
    images: frozenset[str]
    subset: str | None = None


def set_labels(suite: dict[str, Any]) -> list[str]:
    """The image-set labels of a recorded suite (one set: the dataset folder)."""
    sets = suite.get("sets") or []
    return [s["label"] for s in sets] or [suite["dataset"]]


def set_of_name(suite: dict[str, Any], name: str) -> str:
    labels = set_labels(suite)
    return name.split("/", 1)[0] if len(labels) > 1 else labels[0]


def method_subsets(suite: dict[str, Any]) -> dict[str, str]:
    """Method label → the subset it is restricted to (methods on every image are absent)."""
    return {m["label"]: m["images"] for m in suite.get("methods") or [] if m.get("images")}


def scopes(suite: dict[str, Any], names: list[str]) -> list[Scope]:
    """Every set's images, then the set's images in each subset used by a method (non-empty ones only)."""
    subsets = {k: set(v) for k, v in (suite.get("subsets") or {}).items()}
    used = sorted(set(method_subsets(suite).values()))
    labels = set_labels(suite)
    out = []
    for label in labels:
        mine = frozenset(n for n in names if set_of_name(suite, n) == label)
        if not mine:
            continue
        out.append(Scope(label, mine))
        for sub in used:
            part = frozenset(mine & subsets.get(sub, set()))
            if part:
                out.append(Scope(f"{label} ∩ {sub}", part, sub))
    return out


def grid_names(suite: dict[str, Any], ordered: list[str]) -> list[str]:
    """Per set, the first ``grid_images`` of ``ordered`` that every method runs on (module docstring)."""
    subsets = {k: set(v) for k, v in (suite.get("subsets") or {}).items()}
    needed = [subsets[s] for s in set(method_subsets(suite).values()) if s in subsets]
    taken: dict[str, int] = {}
    out = []
    for name in ordered:
        label = set_of_name(suite, name)
        if taken.get(label, 0) < int(suite["grid_images"]) and all(name in s for s in needed):
            taken[label] = taken.get(label, 0) + 1
            out.append(name)
    return out
