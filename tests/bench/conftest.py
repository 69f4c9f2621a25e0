"""Shared fixtures: a small image folder made from scikit-image's sample images and a tiny saved prior."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "bench" / "smoke.yaml"
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


def shared_dir() -> Path | None:
    """``$INVDIFF_SHARED``, else ``../shared`` beside the checkout."""
    env = os.environ.get("INVDIFF_SHARED")
    root = Path(env) if env else REPO.parent / "shared"
    return root if root.is_dir() else None


def sample_image(name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A scikit-image sample as H×W×3 uint8 (optionally resized to ``size`` = (W, H))."""
    from skimage import data

    im = getattr(data, name)()
    im = np.stack([im] * 3, -1) if im.ndim == 2 else im[..., :3]
    return np.asarray(Image.fromarray(im).resize(size, Image.BICUBIC)) if size else im


@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory) -> dict[str, Path]:
    """``data`` (a root holding ``smoke/`` with 5 images of mixed sizes) and ``prior`` (a tiny 32×32 prior JSON)."""
    from invdiff.priors.registry import save_prior
    from tests.priors.helpers import tiny_prior

    root = tmp_path_factory.mktemp("bench")
    folder = root / "data" / "smoke"
    folder.mkdir(parents=True)
    for i, name in enumerate(SAMPLES):
        Image.fromarray(sample_image(name, (48 + 8 * i, 40))).save(folder / f"{name}.png")
    prior = save_prior(tiny_prior(image_size=32), root / "tiny.json")
    return {"root": root, "data": root / "data", "prior": prior}


def tiny_any_size_prior(seed: int = 0):
    """A random ``tiny`` prior without any attention layer: fully convolutional, so it serves any H×W (even sides)."""
    from torch import nn

    from invdiff.priors import ADMUNet, DiffusionPrior, NoiseSchedule
    from tests.priors.helpers import randomize, tiny_config

    net = ADMUNet(tiny_config(attention_resolutions=()))
    net.middle_block[1] = nn.Identity()  # the middle block's attention: the only one left
    randomize(net, seed).eval()
    return DiffusionPrior(net, NoiseSchedule.create("linear", 1000), resolution=16, channels=3, name="tiny-any-size")


def load_script(rel: str):
    """A repository script (e.g. ``benchmarks/tuning/choose_settings.py``) imported as a module, by its path."""
    import importlib.util

    path = REPO / rel
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spy_solves(monkeypatch, record) -> list:
    """Patch ``Solver.solve`` to append ``record(solver, y, operator, prior, generator)`` for every solve, then solve;
    returns the list it fills."""
    from invdiff.solvers.base import Solver

    seen: list = []
    real_solve = Solver.solve

    def spying_solve(self, y, operator, prior, generator=None, **kwargs):
        seen.append(record(self, y, operator, prior, generator))
        return real_solve(self, y, operator, prior, generator, **kwargs)

    monkeypatch.setattr(Solver, "solve", spying_solve)
    return seen
