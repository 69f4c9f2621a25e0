"""Inverse-problem solvers: one file per algorithm, shaped like its paper."""

from .base import Solver, SolveResult, UnsupportedTaskError, seeded_generators
from .daps import DAPS
from .ddnm import DDNM
from .ddrm import DDRM
from .diffpir import DiffPIR
from .dps import DPS
from .pigdm import PiGDM
from .registry import (
    available_solvers,
    build_solver,
    check_compatible,
    compatibility,
    default_prior,
    prior_mismatch,
)
from .repaint import RePaint, jump_schedule
from .sr3 import SR3

__all__ = [
    "DAPS", "DDNM", "DDRM", "DPS", "SR3", "DiffPIR", "PiGDM", "RePaint", "SolveResult", "Solver", "UnsupportedTaskError", "available_solvers",
    "build_solver", "check_compatible", "compatibility", "default_prior", "jump_schedule", "prior_mismatch",
    "seeded_generators",
]
