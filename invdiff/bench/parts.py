"""Which part of a suite one run computes: some of its methods and baselines, some of its tasks.

A suite's columns and tasks may be computed by several runs (one per GPU, or the cheap baselines on a CPU
and the diffusion methods on a GPU), each into its own folder, or one after another into the same folder.
Every such run keeps the suite's protocol fingerprint — neither the method list nor the task selection is
part of it — so ``benchmarks/results/join_runs.py`` joins the folders into one table, and a later run of
the whole suite into the same folder resumes, computing only the rows still missing.

* ``only=["dps*", "measurement"]`` (``invdiff bench --only 'dps*,measurement'``): the methods and baselines
  whose labels match one of the shell patterns.
* ``tasks=["gaussian_blur", "sr*"]`` (``invdiff bench --tasks 'gaussian_blur,sr*'``): the tasks whose labels
  match, in the suite's order (e.g. the expensive method on the tasks that decide a goal first, the rest in a
  later run when the GPU time allows).

A pattern that matches nothing is an error: a typo would otherwise run nothing.
"""

from __future__ import annotations

import dataclasses
import fnmatch

from .. import api
from .suite import Suite, TaskSpec


def _patterns(given: list[str], flag: str) -> list[str]:
    patterns = [p.strip() for p in given if p.strip()]
    if not patterns:
        raise api.UsageError(f"{flag} needs at least one label pattern.")
    return patterns


def _matches(label: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(label, p) for p in patterns)


def _check_all_match(patterns: list[str], labels: list[str], flag: str, what: str, suite: Suite) -> None:
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(label, p) for label in labels)]
    if unmatched:
        raise api.UsageError(f"{flag} {unmatched} matches no {what} of suite {suite.name!r} ({', '.join(labels)}).")


def restrict(suite: Suite, only: list[str] | None) -> Suite:
    """A copy of ``suite`` with only the methods and baselines whose labels match a pattern of ``only``
    (``fnmatch``; ``None``: the suite itself)."""
    if only is None:
        return suite
    patterns = _patterns(only, "--only")
    _check_all_match(patterns, [m.label for m in suite.methods] + list(suite.baselines), "--only",
                     "method or baseline", suite)
    return dataclasses.replace(suite, methods=[m for m in suite.methods if _matches(m.label, patterns)],
                               baselines=[b for b in suite.baselines if _matches(b, patterns)])


def select_tasks(suite: Suite, tasks: list[str] | None) -> list[TaskSpec]:
    """The suite's tasks whose labels match a pattern of ``tasks``, in suite order (``None``: all of them).

    The suite itself is not changed: its fingerprint, and the task list ``meta.json`` records, stay those of
    the whole suite, so runs of different tasks into one folder (or joined folders) form one table.
    """
    if tasks is None:
        return list(suite.tasks)
    patterns = _patterns(tasks, "--tasks")
    _check_all_match(patterns, [t.label for t in suite.tasks], "--tasks", "task", suite)
    return [t for t in suite.tasks if _matches(t.label, patterns)]
