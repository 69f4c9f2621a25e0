"""The benchmark harness: suites (YAML) × held-out images → resumable rows → tables and grids.

``invdiff bench SUITE.yaml --out DIR`` is :func:`run_suite` on :func:`load_suite`'s result.
"""

from .report import write_report
from .runner import Runner, run_suite
from .suite import MethodSpec, Suite, TaskSpec, load_suite, parse_suite

__all__ = ["MethodSpec", "Runner", "Suite", "TaskSpec", "load_suite", "parse_suite", "run_suite", "write_report"]
