"""``meta.json`` next to the results: everything needed to reproduce or question a number.

It records the suite, the code version (package version, git commit and whether the tree was
dirty, and a sha256 of the Python sources themselves — the one that still identifies the code where
the checkout's git metadata lags behind its files, as on a machine that received a copy of the tree),
the prior's name and sha256, every task's σ_y and protocol, every method's
hyper-parameters (or why it was not run), the metric definitions (SSIM window, LPIPS backbone
and its sha256), and one entry per run (device, torch version, world size, command, speed mode
``fp32``, ``fast`` or ``fast-eager``). A resumed run must have the same protocol fingerprint: otherwise its rows
would mix two experiments (the speed mode is checked on the rows themselves, by the runner).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from .. import __version__
from ..metrics import sha256_file
from ..tasks import DEFAULT_SIGMA_Y
from .suite import Suite

META = "meta.json"


#: the packages whose sources :func:`source_sha256` covers, relative to the repository root
SOURCE_PACKAGES = ("invdiff", "operators")


def source_sha256(root: Path | None = None) -> str:
    """sha256 over every ``*.py`` file of :data:`SOURCE_PACKAGES` under ``root`` (relative path + bytes, sorted).

    Compare it with ``python -c "from invdiff.bench.meta import source_sha256; print(source_sha256())"``
    in a checkout to tell whether that checkout's code produced a table.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in sorted(p for pkg in SOURCE_PACKAGES for p in (root / pkg).rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def git_state(repo: Path | None = None) -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it (``None`` outside a git tree)."""
    repo = repo or Path(__file__).resolve().parents[2]
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read-only: never refresh the index
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, env=env, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True, env=env, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def prior_record(prior, source: str | None) -> dict[str, Any] | None:
    """Name, source and sha256 of the prior's weights (from its JSON, else of the file itself)."""
    if prior is None:
        return None
    sha = prior.meta.get("sha256")
    if sha is None and source and Path(source).is_file():
        sha = sha256_file(source)
    return {"name": prior.name, "source": str(source), "sha256": sha, "resolution": prior.resolution,
            "parameterization": prior.parameterization, "timesteps": prior.num_timesteps,
            "training": prior.meta.get("training"), "license": prior.meta.get("license")}


def fingerprint(suite: Suite, prior: dict | None, lpips_sha: str | None) -> str:
    """The protocol's identity: suite settings, prior weights, LPIPS backbone."""
    parts = [suite.fingerprint(), (prior or {}).get("sha256") or (prior or {}).get("source"), lpips_sha]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _check_settings_kept(old: dict[str, list[dict]], new: dict[str, list[dict]], out: Path) -> None:
    """Raise if a method or baseline that already has a column in ``out`` now has other settings."""
    for task, entries in new.items():
        before = {e["label"]: e.get("settings") for e in old.get(task, [])}
        for e in entries:
            if e["label"] in before and before[e["label"]] != e["settings"]:
                raise ValueError(f"{e['label']} on {task} ran with settings {before[e['label']]} in {out} but is now "
                                 f"{e['settings']}; give the new settings a new method label or use a new --out.")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_meta(out: Path) -> dict[str, Any]:
    path = Path(out) / META
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run `invdiff bench` into {out} first.")
    return json.loads(path.read_text())


def check_or_write_meta(out: Path, suite: Suite, prior: dict | None, metrics, plans: dict, run: dict,
                        write: bool) -> dict[str, Any]:
    """Check that ``out`` holds this protocol (or nothing) and, if ``write``, record this run."""
    path = Path(out) / META
    lpips = metrics.describe()
    key = fingerprint(suite, prior, lpips["lpips"].get("backbone_sha256"))
    old = json.loads(path.read_text()) if path.is_file() else None
    code = {"invdiff": __version__, **git_state(), "source_sha256": source_sha256()}
    if old is not None and old.get("fingerprint") != key:
        raise ValueError(f"{out} holds results of a different protocol (suite settings, prior weights or LPIPS "
                         f"backbone changed); pass a new --out or delete {out}.")
    methods = {label: [{"label": e.label, "kind": e.kind, "settings": e.settings, "not_run": e.reason}
                       for e in plan] for label, plan in plans.items()}
    old_methods = (old or {}).get("methods", {})
    if old is not None:
        _check_settings_kept(old_methods, methods, out)
    meta = {
        "suite": suite.to_dict(), "fingerprint": key, "prior": prior, "metrics": lpips,
        "code": code,
        "tasks": {t.label: {"task": t.task, "sigma_y": DEFAULT_SIGMA_Y[t.task] if t.sigma_y is None else t.sigma_y,
                            "sigma_y_scale": "[-1, 1] (std added on [0, 1] is sigma_y / 2)", "params": t.params}
                  for t in suite.tasks},
        # every task either run has recorded (a run of some tasks, --tasks, keeps the others'), in suite order
        "methods": {task: list({**{e["label"]: e for e in old_methods.get(task, [])},
                                **{e["label"]: e for e in methods.get(task, [])}}.values())
                    for task in [t.label for t in suite.tasks] if task in old_methods or task in methods},
        "protocol": ("per image: generator seeded sha256(seed, task, image, 'measurement') draws mask/kernel then "
                     "noise; every method samples with sha256(seed, task, image, 'sampler')"),
        "runs": [*(old or {}).get("runs", []), {**run, "code": code}],
    }
    if write:
        _write_json(path, meta)
    return meta
