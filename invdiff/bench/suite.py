"""A benchmark suite: one held-out image set × tasks × methods, read from YAML.

Example (``configs/bench/faces64.yaml``)::

    name: faces64
    dataset: faces-utk/heldout      # folder under the data root (--data or $INVDIFF_DATA)
    resolution: 64                  # images are centre-cropped and resized to this square
    images: 100                     # the first N files in sorted order (null: all)
    seed: 0                         # suite seed: every per-image draw derives from it
    prior: faces64                  # built-in prior or a path (relative to this YAML file)
    batch_size: 16
    grid_images: 4                  # images shown in each task's PNG grid
    tasks:                          # label → make_problem(task, …) arguments
      inpaint_box: {task: inpaint, sigma_y: 0.05, mask_kind: box}
    methods:                        # label → solver settings (``method:`` picks the solver, default = label)
      dps: {}
      ddrm20: {method: ddrm, steps: 20, per_task: {sr4: {eta: 1.0}}}
      sr3-100: {method: sr3, steps: 100, prior: faces64-sr4}   # ``prior:`` a method's own prior (name or path)
    baselines: [measurement, pinv, bicubic, wiener, biharmonic]   # each runs where it applies
    baseline_settings: {wiener: {grad_std: 0.0588}}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..baselines import BASELINES
from ..tasks import TASKS

SUITE_KEYS = {"name", "dataset", "resolution", "images", "seed", "prior", "batch_size", "grid_images", "lpips",
              "tasks", "methods", "baselines", "baseline_settings", "description"}
#: Keys that do not change any number in the table (they may differ between a run and its resumption).
RUN_ONLY_KEYS = ("images", "batch_size", "grid_images", "description")


@dataclass
class TaskSpec:
    """One row group of the table: a task label, the operator family, σ_y and the protocol parameters."""

    label: str
    task: str
    sigma_y: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodSpec:
    """A diffusion method: table label, solver name, settings, per-task overrides and its own prior.

    ``prior`` (a built-in name or a path) replaces the suite's prior for this method; a
    conditional method (``sr3``) without one uses its solver's ``default_prior`` (faces64-sr4).
    """

    label: str
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    per_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    prior: str | None = None

    def settings_for(self, task_label: str) -> dict[str, Any]:
        return {**self.settings, **self.per_task.get(task_label, {})}


@dataclass
class Suite:
    """A parsed suite; see the module docstring for the YAML form."""

    name: str
    dataset: str
    resolution: int
    tasks: list[TaskSpec]
    methods: list[MethodSpec] = field(default_factory=list)
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    baseline_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: int | None = None
    seed: int = 0
    prior: str | None = None
    batch_size: int = 8
    grid_images: int = 4
    lpips: bool = True
    description: str = ""
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain-data copy (for meta.json)."""
        return asdict(self)

    def fingerprint(self) -> str:
        """sha256 of the protocol: every setting that shapes a row's numbers.

        Left out: the image count, batch size and grid (they change no row), the prior's
        location (the runner adds the prior's sha256 instead), and the method and baseline lists:
        adding a method to a finished table is allowed, while changing the settings of one that
        already has rows is caught per method by :func:`invdiff.bench.meta.check_or_write_meta`.
        """
        d = self.to_dict()
        for key in (*RUN_ONLY_KEYS, "source", "prior", "methods", "baselines"):
            d.pop(key, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _tasks(raw: Any, where: str) -> list[TaskSpec]:
    _require(isinstance(raw, dict) and raw, f"{where}: 'tasks' must map labels to task settings.")
    specs = []
    for label, entry in raw.items():
        entry = dict(entry or {})
        task = entry.pop("task", label)
        _require(task in TASKS, f"{where}: task {label!r} names {task!r}; choose one of {list(TASKS)}.")
        sigma = entry.pop("sigma_y", None)
        specs.append(TaskSpec(str(label), task, None if sigma is None else float(sigma), entry))
    return specs


def _methods(raw: Any, where: str) -> list[MethodSpec]:
    from ..solvers import available_solvers

    if raw is None:
        return []
    _require(isinstance(raw, dict), f"{where}: 'methods' must map labels to solver settings.")
    specs = []
    for label, entry in raw.items():
        entry = dict(entry or {})
        method = entry.pop("method", label)
        _require(method in available_solvers(), f"{where}: method {label!r} names solver {method!r}; "
                                                f"choose one of {available_solvers()}.")
        _require(label not in BASELINES, f"{where}: method label {label!r} clashes with a baseline name.")
        per_task = dict(entry.pop("per_task", {}) or {})
        prior = entry.pop("prior", None)
        specs.append(MethodSpec(str(label), method, entry, per_task, None if prior is None else str(prior)))
    return specs


def parse_suite(raw: dict[str, Any], source: str | None = None) -> Suite:
    """A :class:`Suite` from its YAML mapping; unknown keys and names are errors."""
    where = source or "suite"
    _require(isinstance(raw, dict), f"{where}: a suite is a YAML mapping.")
    unknown = set(raw) - SUITE_KEYS
    _require(not unknown, f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(SUITE_KEYS)}.")
    for key in ("name", "dataset", "resolution", "tasks"):
        _require(key in raw, f"{where}: the suite needs {key!r}.")
    baselines = raw.get("baselines", list(BASELINES))
    bad = [b for b in baselines or [] if b not in BASELINES]
    _require(not bad, f"{where}: unknown baselines {bad}; choose from {sorted(BASELINES)}.")
    tasks = _tasks(raw["tasks"], where)
    labels = [t.label for t in tasks]
    methods = _methods(raw.get("methods"), where)
    for m in methods:
        extra = set(m.per_task) - set(labels)
        _require(not extra, f"{where}: method {m.label!r} has per_task settings for unknown tasks {sorted(extra)}.")
    suite = Suite(
        name=str(raw["name"]), dataset=str(raw["dataset"]), resolution=int(raw["resolution"]), tasks=tasks,
        methods=methods, baselines=list(baselines or []),
        baseline_settings={k: dict(v or {}) for k, v in (raw.get("baseline_settings") or {}).items()},
        images=None if raw.get("images") is None else int(raw["images"]), seed=int(raw.get("seed", 0)),
        prior=None if raw.get("prior") is None else str(raw["prior"]), batch_size=int(raw.get("batch_size", 8)),
        grid_images=int(raw.get("grid_images", 4)), lpips=bool(raw.get("lpips", True)),
        description=str(raw.get("description", "")), source=source,
    )
    _require(len(set(labels)) == len(labels), f"{where}: task labels must be unique.")
    _require(suite.batch_size >= 1 and suite.resolution >= 8, f"{where}: batch_size ≥ 1 and resolution ≥ 8.")
    return suite


def load_suite(path: str | Path) -> Suite:
    """Read a suite YAML file; a relative ``prior`` path (the suite's or a method's) is taken relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"suite file {path} does not exist; suites live in configs/bench/.")
    suite = parse_suite(yaml.safe_load(path.read_text()), source=str(path))

    def near(prior: str | None) -> str | None:
        if prior and not Path(prior).is_absolute() and (path.parent / prior).exists():
            return str((path.parent / prior).resolve())
        return prior

    suite.prior = near(suite.prior)
    for m in suite.methods:
        m.prior = near(m.prior)
    return suite
