"""``invdiff tasks``, ``invdiff methods`` and ``invdiff priors``: what can be solved, by what, with what.

Three sub-commands in one module: :data:`COMMANDS` maps each name to an object with the
``add_parser(sub)`` / ``run(args)`` pair that :mod:`invdiff.cli` expects of a sub-command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: When ``--input`` is read as the measurement, per task (see invdiff.api).
MEASUREMENT_WHEN = {
    "inpaint": "--mask, or an alpha channel with α = 0 pixels",
    "gaussian_blur": "--kernel",
    "motion_blur": "--kernel",
    "sr4": "--scale (fixed-size prior: or side = prior size / 4)",
    "jpeg": "a JPEG file",
}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _describe(details: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in details.items())


def run_tasks(args: argparse.Namespace) -> int:
    from ..tasks import TASKS, make_problem

    size = args.resolution
    rows = [["task", f"default protocol at {size}×{size}", "--input is the measurement when"]]
    for task in TASKS:
        problem = make_problem(task, size, torch.Generator().manual_seed(0))
        rows.append([task, _describe(problem.details), MEASUREMENT_WHEN[task]])
    print(_table(rows))
    print("\nOtherwise --input is a clean image, degraded with the protocol first (random parts drawn from --seed).")
    print("σ_y is on the [-1, 1] scale. --degrade / --no-degrade force either reading.")
    return 0


def run_methods(args: argparse.Namespace) -> int:
    from ..solvers import available_solvers, build_solver, compatibility
    from ..tasks import TASKS

    table = compatibility(list(TASKS))
    notes: dict[tuple[str, str], list[str]] = {}  # (method, reason) → tasks: one note per distinct reason
    rows = [["method", *TASKS]]
    for method in available_solvers():
        cells = []
        for task in TASKS:
            reason = table[method][task]
            if reason is None:
                cells.append("yes")
            else:
                notes.setdefault((method, reason), []).append(task)
                cells.append(f"no ({list(notes).index((method, reason)) + 1})")
        rows.append([method, *cells])
    print(_table(rows))
    if notes:
        print("\n" + "\n".join(f"({i}) {method} × {', '.join(tasks)}: {reason}"
                                for i, ((method, reason), tasks) in enumerate(notes.items(), 1)))
    print("\ndefault settings (override with --steps, or methods: in a --config file):")
    for method in available_solvers():
        settings = build_solver(method).settings()
        for key, value in settings.items():
            if value is None:
                settings[key] = per_task_default(method, key)
        print(f"  {method}: {_describe(settings)}")
    return 0


def per_task_default(method: str, key: str) -> str:
    """What a setting left at None means: the per-task value the solver takes (DPS's ζ, ``dps.STEP``)."""
    if (method, key) == ("dps", "zeta"):
        from ..solvers.dps import STEP

        values = set(STEP.values())
        return f"{values.pop():g} (every task)" if len(values) == 1 else \
            "per task (" + ", ".join(f"{t} {v:g}" for t, v in STEP.items()) + ")"
    raise KeyError(f"{method} leaves {key!r} unset and invdiff methods does not know its per-task value.")


def run_priors(args: argparse.Namespace) -> int:
    from ..priors import available_priors

    rows = [["name", "installed", "description"]]
    rows += [[p.name, "yes" if p.installed else f"no (expects {p.path})", p.description] for p in available_priors()]
    print(_table(rows))
    print("\n--prior also takes a path: an invdiff prior (NAME.json + .safetensors, or its folder), a guided-diffusion "
          ".pt (with --prior-architecture PRESET) or a diffusers UNet2DModel folder.")
    return 0


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, one-line help and what it runs."""

    name: str
    help: str
    runner: Callable[[argparse.Namespace], int]

    def add_parser(self, sub: argparse._SubParsersAction) -> None:
        p = sub.add_parser(self.name, help=self.help, description=self.help)
        if self.name == "tasks":
            p.add_argument("--resolution", type=int, default=64, help="image size to describe the protocols at")

    def run(self, args: argparse.Namespace) -> int:
        return self.runner(args)


COMMANDS = {
    "tasks": Command("tasks", "list the tasks, their default protocols and what --input means for each", run_tasks),
    "methods": Command("methods", "the method × task compatibility matrix and each method's defaults", run_methods),
    "priors": Command("priors", "the built-in priors and whether their weights are installed", run_priors),
}
