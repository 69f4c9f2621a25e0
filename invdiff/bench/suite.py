"""A benchmark suite: one held-out image set × tasks × methods, read from YAML.

Example (``configs/bench/faces64.yaml``)::

    name: faces64
    dataset: faces-utk/heldout      # folder under the data root (--data or $INVDIFF_DATA)
    resolution: 64                  # images are centre-cropped and resized to this square
    images: 100                     # the first N files in sorted order (null: all)
    first: 0                        # skip this many sorted files first (``first: 100, images: 100``: files 100–199)
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

At their own size (``configs/bench/natural.yaml``)::

    resolution: native              # every image at its own H×W (no resize) …
    multiple_of: 4                  # … centre-cropped to multiples of 4 (481×321 → 480×320), stated in the table
    sets:                           # several image sets: an image's name is "<set>/<file>"
      kodak24: {dataset: kodak24}
      cbsd68: {dataset: natural-bsds/val, images: [101085.jpg, …]}   # a list names the files
    subsets:                        # named image lists (for the expensive methods)
      gpu8: [kodak24/kodim01.png, cbsd68/101085.jpg, …]
    methods:
      dps: {images: gpu8}           # this method runs only on the subset; the table pairs every method on it
    grid_cell: 256                  # grid cells: centre crops of this side at full resolution

``dataset`` is a folder under the data root, or — starting with ``./`` or ``../`` — a folder
relative to the suite file (``configs/bench/samples.yaml`` reads the shipped ``data/samples``, so
it needs no data root). ``images`` is a count (the first N files in sorted order), a list of
file names (relative to the dataset), or null (all files). ``first`` (default 0, also allowed in a ``sets:``
entry) is the sorted position of the first file taken by a count or null — ``first: 100`` with ``images: 100``
is files 100–199 (``configs/bench/faces64-val16.yaml`` tunes on them, away from the table's 0–99); it cannot
be combined with a list. Like the count it changes no row (each image's draws derive from its name), so it
is not part of the fingerprint; rows keep ``index`` = position in the suite's list (0 for file 100).
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

SUITE_KEYS = {"name", "dataset", "resolution", "images", "first", "seed", "prior", "batch_size", "grid_images", "lpips",
              "tasks", "methods", "baselines", "baseline_settings", "description", "sets", "subsets", "multiple_of",
              "grid_cell"}
#: Keys that do not change any number in the table (they may differ between a run and its resumption).
RUN_ONLY_KEYS = ("images", "first", "batch_size", "grid_images", "description", "subsets", "grid_cell")
#: ``resolution: native``: every image at its own size.
NATIVE = "native"


@dataclass
class ImageSet:
    """One image folder of a suite: its label (the prefix of its image names when a suite has several), its
    folder (under the data root, or relative to the suite file when it starts with ``./`` or ``../``) and
    which files (``None``: all; an int: the first N in sorted order; a list: those names); ``first`` sorted files
    are skipped before a count or ``None``."""

    label: str
    dataset: str
    images: int | list[str] | None = None
    first: int = 0
    folder: str | None = None  # set by load_suite for a suite-relative dataset: the absolute folder

    @property
    def suite_relative(self) -> bool:
        return self.dataset.startswith(("./", "../"))


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
    images: str | None = None  # a subset name: the method runs only on those images

    def settings_for(self, task_label: str) -> dict[str, Any]:
        return {**self.settings, **self.per_task.get(task_label, {})}


@dataclass
class Suite:
    """A parsed suite; see the module docstring for the YAML form."""

    name: str
    dataset: str
    resolution: int | str
    tasks: list[TaskSpec]
    methods: list[MethodSpec] = field(default_factory=list)
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    baseline_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: int | None = None
    first: int = 0
    seed: int = 0
    prior: str | None = None
    batch_size: int = 8
    grid_images: int = 4
    lpips: bool = True
    description: str = ""
    source: str | None = None
    sets: list[ImageSet] = field(default_factory=list)
    subsets: dict[str, list[str]] = field(default_factory=dict)
    multiple_of: int = 1
    grid_cell: int = 96

    @property
    def native(self) -> bool:
        """Whether images are used at their own size (``resolution: native``)."""
        return self.resolution == NATIVE

    def method_images(self, method: MethodSpec) -> set[str] | None:
        """The image names ``method`` is restricted to (``None``: every image)."""
        return None if method.images is None else set(self.subsets[method.images])

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
        # which files a set lists changes no row (as the image count), nor where the folder lies; keys at their
        # defaults are left out so that suites written before they existed keep their fingerprint
        d["sets"] = [{"label": s["label"], "dataset": s["dataset"]} for s in d["sets"]]  # (not images, first)
        if len(self.sets) == 1:
            d.pop("sets")
        if self.multiple_of == 1:
            d.pop("multiple_of")
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
        images = entry.pop("images", None)
        specs.append(MethodSpec(str(label), method, entry, per_task, None if prior is None else str(prior),
                                None if images is None else str(images)))
    return specs


def _image_list(raw: Any, where: str) -> int | list[str] | None:
    if raw is None or isinstance(raw, int):
        return raw
    _require(isinstance(raw, list) and all(isinstance(n, str) for n in raw) and len(set(raw)) == len(raw),
             f"{where}: 'images' is a count, a list of distinct file names, or null.")
    return list(raw)


def _first(raw: Any, images: int | list[str] | None, where: str) -> int:
    """The validated ``first`` (files skipped in sorted order)."""
    first = 0 if raw is None else raw
    _require(isinstance(first, int) and not isinstance(first, bool) and first >= 0,
             f"{where}: 'first' is a count of files to skip (an int ≥ 0), got {raw!r}.")
    _require(first == 0 or not isinstance(images, list), f"{where}: 'first' cannot be combined with a list of images.")
    return int(first)


def _sets(raw: dict[str, Any], where: str) -> list[ImageSet]:
    """The suite's image sets: ``sets:`` (several), else the one ``dataset:`` (its label is the folder)."""
    if raw.get("sets") is None:
        _require("dataset" in raw, f"{where}: the suite needs 'dataset' (or 'sets').")
        images = _image_list(raw.get("images"), where)
        return [ImageSet(str(raw["dataset"]), str(raw["dataset"]), images, _first(raw.get("first"), images, where))]
    _require("dataset" not in raw and raw.get("images") is None and raw.get("first") is None,
             f"{where}: give either 'dataset' (+ 'images', 'first') or 'sets', not both.")
    _require(isinstance(raw["sets"], dict) and raw["sets"], f"{where}: 'sets' maps labels to {{dataset, images}}.")
    sets = []
    for label, entry in raw["sets"].items():
        entry = dict(entry or {})
        unknown = set(entry) - {"dataset", "images", "first"}
        _require("dataset" in entry and not unknown,
                 f"{where}: set {label!r} takes 'dataset', 'images' and 'first' only.")
        _require("/" not in str(label), f"{where}: set label {label!r} must not contain '/'.")
        images = _image_list(entry.get("images"), f"{where}, set {label!r}")
        sets.append(ImageSet(str(label), str(entry["dataset"]), images,
                             _first(entry.get("first"), images, f"{where}, set {label!r}")))
    return sets


def _resolution(raw: Any, where: str) -> int | str:
    if raw == NATIVE:
        return NATIVE
    _require(isinstance(raw, int) and raw >= 8, f"{where}: resolution is an int ≥ 8 or {NATIVE!r}, got {raw!r}.")
    return int(raw)


def _check_subsets(suite: Suite, where: str) -> None:
    for name, images in suite.subsets.items():
        _require(isinstance(images, list) and images and len(set(images)) == len(images),
                 f"{where}: subset {name!r} must be a non-empty list of distinct image names.")
        if len(suite.sets) > 1:
            labels = {s.label for s in suite.sets}
            bad = [n for n in images if n.split("/", 1)[0] not in labels]
            _require(not bad, f"{where}: subset {name!r} names {bad[:3]}, which belong to no set {sorted(labels)}.")
        listed = {n: s for s in suite.sets if isinstance(s.images, list) for n in _names(suite, s)}
        for n in images:
            owner = _set_of(suite, n)
            _require(owner is None or not isinstance(owner.images, list) or n in listed,
                     f"{where}: subset {name!r} names {n!r}, which is not in the image list of set {owner.label!r}.")
    for m in suite.methods:
        _require(m.images is None or m.images in suite.subsets,
                 f"{where}: method {m.label!r} runs on subset {m.images!r}, which 'subsets' does not define.")


def _names(suite: Suite, image_set: ImageSet) -> list[str]:
    """The full image names of a set's listed files (``<set>/<file>`` when the suite has several sets)."""
    prefix = f"{image_set.label}/" if len(suite.sets) > 1 else ""
    return [prefix + n for n in image_set.images] if isinstance(image_set.images, list) else []


def _set_of(suite: Suite, name: str) -> ImageSet | None:
    if len(suite.sets) == 1:
        return suite.sets[0]
    return next((s for s in suite.sets if s.label == name.split("/", 1)[0]), None)


def parse_suite(raw: dict[str, Any], source: str | None = None) -> Suite:
    """A :class:`Suite` from its YAML mapping; unknown keys and names are errors."""
    where = source or "suite"
    _require(isinstance(raw, dict), f"{where}: a suite is a YAML mapping.")
    unknown = set(raw) - SUITE_KEYS
    _require(not unknown, f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(SUITE_KEYS)}.")
    for key in ("name", "resolution", "tasks"):
        _require(key in raw, f"{where}: the suite needs {key!r}.")
    sets = _sets(raw, where)
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
        name=str(raw["name"]), dataset=" + ".join(s.dataset for s in sets), resolution=_resolution(raw["resolution"], where),
        tasks=tasks, methods=methods, baselines=list(baselines or []),
        baseline_settings={k: dict(v or {}) for k, v in (raw.get("baseline_settings") or {}).items()},
        images=sets[0].images if len(sets) == 1 else None, first=sets[0].first if len(sets) == 1 else 0, seed=int(raw.get("seed", 0)),
        prior=None if raw.get("prior") is None else str(raw["prior"]), batch_size=int(raw.get("batch_size", 8)),
        grid_images=int(raw.get("grid_images", 4)), lpips=bool(raw.get("lpips", True)),
        description=str(raw.get("description", "")), source=source, sets=sets,
        subsets={str(k): list(v or []) for k, v in (raw.get("subsets") or {}).items()},
        multiple_of=int(raw.get("multiple_of", 1)), grid_cell=int(raw.get("grid_cell", 96)),
    )
    _require(len(set(labels)) == len(labels), f"{where}: task labels must be unique.")
    _require(suite.batch_size >= 1 and suite.multiple_of >= 1 and suite.grid_cell >= 16,
             f"{where}: batch_size ≥ 1, multiple_of ≥ 1 and grid_cell ≥ 16.")
    _require(suite.multiple_of == 1 or suite.native, f"{where}: multiple_of applies to resolution: {NATIVE} only.")
    _check_subsets(suite, where)
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
    for image_set in suite.sets:
        if image_set.suite_relative:
            image_set.folder = str((path.parent / image_set.dataset).resolve())
    return suite
