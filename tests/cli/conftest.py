"""Fixtures for the command-line and library-API tests: a tiny random prior saved in invdiff's format,
image writers, and runners for the real ``invdiff`` entry point (in-process and as a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invdiff.priors import available_priors, save_prior
from tests.priors.helpers import tiny_prior

REPO = Path(__file__).resolve().parents[2]
FACES64 = next(p for p in available_priors() if p.name == "faces64").installed
needs_faces64 = pytest.mark.skipif(not FACES64, reason="the faces64 weights are not installed")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> str:
    """A random-init ``tiny`` ADM U-Net prior (16×16 RGB) written as NAME.json + safetensors."""
    return str(save_prior(tiny_prior(), tmp_path_factory.mktemp("prior") / "tiny.json"))


@pytest.fixture
def tiny(tiny_path) -> list[str]:
    """Flags that make a solve cheap: the tiny prior, 2 steps, CPU."""
    return ["--prior", tiny_path, "--steps", "2", "--device", "cpu"]


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run ``invdiff ARGS`` through the entry point in ``tmp_path``; returns exit code, stdout, stderr."""
    monkeypatch.chdir(tmp_path)

    def run(*argv) -> Run:
        from invdiff.cli import main

        try:
            code = main([str(a) for a in argv])
        except SystemExit as stop:  # argparse exits on usage errors
            code = stop.code
        cap = capsys.readouterr()
        return Run(code, cap.out, cap.err)

    return run


def run_subprocess(args: list[str], cwd: Path, timeout: float = 300) -> Run:
    """``python -m invdiff ARGS`` in a fresh interpreter (the console script's code path)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "invdiff", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                       check=False, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def random_image(path: Path, size: int | tuple[int, int] = 16, mode: str = "RGB", seed: int = 0) -> Path:
    """A random 8-bit image of ``mode`` (RGB, RGBA, L, LA) saved at ``path`` (format from the suffix)."""
    h, w = (size, size) if isinstance(size, int) else size
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    a = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    if mode in ("LA", "RGBA"):
        a[..., -1] = 255
    Image.fromarray(a[..., 0] if channels == 1 else a, mode).save(path)
    return path


def with_hole(path: Path, size: int = 16, seed: int = 0) -> Path:
    """An RGBA image whose alpha is 0 on a 4×4 square (missing) and 255 elsewhere."""
    a = np.random.default_rng(seed).integers(0, 256, (size, size, 4), dtype=np.uint8)
    a[..., 3] = 255
    a[4:8, 4:8, 3] = 0
    Image.fromarray(a, "RGBA").save(path)
    return path


def no_outputs(folder: Path) -> bool:
    """True when nothing but the test's own inputs is there: no result, no temporary file."""
    return not [p for p in folder.rglob("*") if ".restored" in p.name or p.name.endswith(".tmp")]


@pytest.fixture(scope="session")
def anysize_path(tmp_path_factory) -> str:
    """The tiny random prior, stated size-agnostic in its JSON (``"any_size": true``, as ``natural``)."""
    return str(save_prior(tiny_prior(seed=3), tmp_path_factory.mktemp("anysize") / "tiny-any.json", any_size=True))


@pytest.fixture
def anysize(anysize_path) -> list[str]:
    """Flags for a cheap solve at the image's own size: the size-agnostic tiny prior, 2 steps, CPU."""
    return ["--prior", anysize_path, "--steps", "2", "--device", "cpu"]
