"""Inverse-problem solvers: one file per algorithm, shaped like its paper."""

from .base import Solver, SolveResult, UnsupportedTaskError, seeded_generators
from .ddrm import DDRM
from .dps import DPS
from .registry import available_solvers, build_solver, check_compatible, compatibility
from .repaint import RePaint, jump_schedule

__all__ = [
    "DDRM", "DPS", "RePaint", "SolveResult", "Solver", "UnsupportedTaskError", "available_solvers", "build_solver",
    "check_compatible", "compatibility", "jump_schedule", "seeded_generators",
]
