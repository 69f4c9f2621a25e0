"""Solver registry and the method × task compatibility matrix."""

from __future__ import annotations

from .base import Solver, UnsupportedTaskError
from .ddrm import DDRM
from .dps import DPS
from .repaint import RePaint

SOLVERS: dict[str, type[Solver]] = {"dps": DPS, "repaint": RePaint, "ddrm": DDRM}


def available_solvers() -> list[str]:
    """Names accepted by :func:`build_solver`."""
    return sorted(SOLVERS)


def build_solver(name: str, **settings) -> Solver:
    """A solver by name with its settings (e.g. ``build_solver("ddrm", steps=20)``)."""
    if name not in SOLVERS:
        raise KeyError(f"unknown method {name!r}; choose one of {available_solvers()}.")
    return SOLVERS[name](**settings)


def compatibility(tasks: list[str] | None = None, example_shape=(1, 3, 16, 16)) -> dict[str, dict[str, str | None]]:
    """``{method: {task: None if supported else the reason}}`` for every registered operator task."""
    import operators

    tasks = tasks or operators.available()
    table: dict[str, dict[str, str | None]] = {}
    for method in available_solvers():
        solver = build_solver(method)
        table[method] = {}
        for task in tasks:
            op = operators.registry.example(task, example_shape, __import__("torch").Generator().manual_seed(0))
            table[method][task] = solver.supports(op)
    return table


def check_compatible(method: str, operator) -> None:
    """Raise :class:`UnsupportedTaskError` with one sentence if ``method`` cannot solve ``operator``."""
    build_solver(method).check(operator)


__all__ = ["SOLVERS", "UnsupportedTaskError", "available_solvers", "build_solver", "check_compatible", "compatibility"]
