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
    rows = [["method", *TASKS, "NFE", "backprop"]]
    for method in available_solvers():
        cells = []
        for task in TASKS:
            reason = table[method][task]
            if reason is None:
                cells.append("yes")
            else:
                notes.setdefault((method, reason), []).append(task)
                cells.append(f"no ({list(notes).index((method, reason)) + 1})")
        solver = build_solver(method)
        rows.append([method, *cells, str(solver.nfe()), "yes" if solver.backprop else "no"])
    print(_table(rows))
    if notes:
        print("\n" + "\n".join(f"({i}) {method} × {', '.join(tasks)}: {reason}"
                                for i, ((method, reason), tasks) in enumerate(notes.items(), 1)))
    print("\nNFE: network evaluations per image at the defaults; backprop: whether each one also back-propagates "
          "through the network (about 3× the time of a forward call).")
    print("\ndefault settings (override with --steps, or methods: in a --config file):")
    for method in available_solvers():
        solver = build_solver(method)
        settings = solver.settings()
        for key, value in settings.items():
            if value is None:
                settings[key] = per_task_default(method, key, solver.task_defaults())
        print(f"  {method}: {_describe(settings)}")
    return 0


def per_task_default(method: str, key: str, defaults: dict[str, dict[str, float]]) -> str:
    """What a setting left at None means: the per-task value the solver takes (e.g. DPS's ζ, ``dps.STEP``)."""
    if key not in defaults:
        raise KeyError(f"{method} leaves {key!r} unset and declares no per-task value for it.")
    values = defaults[key]
    if len(set(values.values())) == 1:
        return f"{next(iter(values.values())):g} (every task)"
    return "per task (" + ", ".join(f"{t} {v:g}" for t, v in values.items()) + ")"


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
