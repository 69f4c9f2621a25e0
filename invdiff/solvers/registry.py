"""Solver registry and the method × task compatibility matrix."""

from __future__ import annotations

from .base import Solver, UnsupportedTaskError
from .daps import DAPS
from .ddnm import DDNM
from .ddrm import DDRM
from .diffpir import DiffPIR
from .dps import DPS
from .pigdm import PiGDM
from .repaint import RePaint
from .sr3 import SR3

SOLVERS: dict[str, type[Solver]] = {"dps": DPS, "repaint": RePaint, "ddrm": DDRM, "sr3": SR3, "diffpir": DiffPIR,
                                    "ddnm": DDNM, "pigdm": PiGDM, "daps": DAPS}

#: The prior a method uses when none is named (conditional methods name their own).
DEFAULT_PRIOR = "natural"


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


def default_prior(method: str | Solver | None) -> str:
    """The built-in prior ``method`` uses when none is named: its own (``sr3``: faces64-sr4), else natural."""
    cls = SOLVERS.get(method) if isinstance(method, str) or method is None else type(method)
    return getattr(cls, "default_prior", None) or DEFAULT_PRIOR


def prior_mismatch(method: str | Solver, prior) -> str | None:
    """``None`` if ``prior`` suits ``method``, else one sentence: conditional priors only with conditional methods."""
    from ..priors.conditional import is_conditional

    cls = SOLVERS.get(method) if isinstance(method, str) else type(method)
    name = method if isinstance(method, str) else method.name
    needs, has = bool(getattr(cls, "conditional", False)), is_conditional(prior)
    if needs and not has:
        return (f"{name} needs a conditional prior trained for it (e.g. {default_prior(method)}), but "
                f"{getattr(prior, 'name', 'the prior')!r} is unconditional.")
    if has and not needs:
        return (f"prior {prior.name!r} is a conditional SR3 model: only method sr3 can use it; {name} needs an "
                f"unconditional prior such as {DEFAULT_PRIOR}.")
    return None


__all__ = ["DEFAULT_PRIOR", "SOLVERS", "UnsupportedTaskError", "available_solvers", "build_solver", "check_compatible",
           "compatibility", "default_prior", "prior_mismatch"]
