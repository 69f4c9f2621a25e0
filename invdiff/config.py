"""Layered settings for ``invdiff solve``: built-in defaults < YAML files (``--config``) < flags.

Each layer overrides the one before, key by key (nested mappings merge). The built-in defaults
live in this module, in the solvers' constructors and in :mod:`invdiff.tasks`, so they work after
a plain ``pip install .`` with no file on disk. ``configs/`` in the repository ships presets: the
task protocols (``configs/tasks/``, e.g. the DPS FFHQ-256 protocol) and per-method settings
(``configs/methods/``). Several ``--config`` files may be given; later ones win.

A settings file is a YAML mapping with any of these keys::

    task: inpaint            # one of invdiff.tasks.TASKS
    method: ddrm             # a registered solver
    prior: natural           # built-in name or path (default: the method's own: sr3 → faces64-sr4, else natural)
    prior_architecture: null # preset for guided-diffusion .pt priors (e.g. adm-ffhq256)
    seed: 0
    device: auto             # auto = cuda when available, else cpu
    batch_size: 8
    sigma_y: null            # null = the task's default (0.05 on [-1, 1]; JPEG 0)
    steps: null              # null = the method's own default
    degrade: null            # null = decide from the input (see invdiff.api); true / false force it
    protocol:                # per-task overrides of the protocol's parameters
      inpaint: {mask_kind: box}
    methods:                 # per-method solver settings
      ddrm: {eta: 0.85, eta_b: 1.0}

Relative paths in a file (``prior``) are taken relative to the current directory. Unknown keys
are errors, never ignored.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .tasks import TASKS

DEFAULTS: dict[str, Any] = {
    "task": None, "method": None, "prior": None, "prior_architecture": None, "seed": 0, "device": "auto",
    "batch_size": 8, "sigma_y": None, "steps": None, "degrade": None, "protocol": {}, "methods": {},
}


class ConfigError(ValueError):
    """A settings file or value is wrong (a usage error: exit 2)."""


def merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``; nested mappings merge key by key (neither input is changed)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: str | Path) -> dict:
    """Read one settings file (a YAML mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{line}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings, not a {type(data).__name__}.")
    return data


def _check_int(settings: dict, key: str, minimum: int, source: str) -> None:
    v = settings[key]
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < minimum):
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {v!r} ({source}).")


def validate(settings: dict, source: str = "settings") -> dict:
    """Check keys and value types; returns ``settings``."""
    from .solvers import available_solvers

    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} in {source}; known settings: {', '.join(DEFAULTS)}.")
    if settings["task"] is not None and settings["task"] not in TASKS:
        raise ConfigError(f"unknown task {settings['task']!r} in {source}; choose one of {', '.join(TASKS)}.")
    if settings["method"] is not None and settings["method"] not in available_solvers():
        raise ConfigError(f"unknown method {settings['method']!r} in {source}; choose one of "
                          f"{', '.join(available_solvers())}.")
    for key, minimum in (("seed", 0), ("batch_size", 1), ("steps", 1)):
        _check_int(settings, key, minimum, source)
    if settings["seed"] is None:
        raise ConfigError(f"seed must be an integer >= 0 ({source}); 0 is a seed like any other.")
    sigma = settings["sigma_y"]
    if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0):
        raise ConfigError(f"sigma_y must be a number >= 0 on the [-1, 1] scale, got {sigma!r} ({source}).")
    if settings["degrade"] not in (None, True, False):
        raise ConfigError(f"degrade must be true, false or null, got {settings['degrade']!r} ({source}).")
    for key, names in (("protocol", TASKS), ("methods", available_solvers())):
        section = settings[key]
        if not isinstance(section, dict):
            raise ConfigError(f"{key} must be a mapping of name → settings ({source}).")
        for name, value in section.items():
            if name not in names:
                raise ConfigError(f"{key} has unknown entry {name!r} ({source}); choose from {', '.join(names)}.")
            if not isinstance(value, dict):
                raise ConfigError(f"{key}.{name} must be a mapping of settings ({source}).")
    return settings


def resolve(config_files: list[str | Path] | None = None, flags: dict[str, Any] | None = None) -> dict:
    """Built-in defaults < each YAML file in order < ``flags`` (entries that are None are not given)."""
    settings = copy.deepcopy(DEFAULTS)
    for path in config_files or []:
        layer = load_yaml(path)
        validate(merge(DEFAULTS, layer), f"config file {path}")
        settings = merge(settings, layer)
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    settings = validate(merge(settings, given), "the command line")
    if settings["prior"] is None:  # not named anywhere: the method's own default
        from .solvers import default_prior

        settings["prior"] = default_prior(settings["method"])
    return settings


def method_settings(settings: dict, method: str) -> dict:
    """The solver settings for ``method``: ``methods[method]`` with the top-level ``steps`` on top."""
    out = dict(settings["methods"].get(method, {}))
    if settings["steps"] is not None:
        out["steps"] = settings["steps"]
    return out


def dump(settings: dict) -> str:
    """Settings as YAML, in a stable order (what ``--verbose`` prints and ``--save-all`` writes)."""
    return yaml.safe_dump(settings, sort_keys=False, allow_unicode=True, default_flow_style=False)
