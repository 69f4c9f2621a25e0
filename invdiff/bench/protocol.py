"""The reproducible protocol: which images, and what each image's measurement and sampler draw.

Every random draw is tied to one image, never to a batch, a rank or a run:

* image ``name`` (its path relative to the dataset folder) in task ``label`` of a suite with seed
  ``s`` measures with a ``torch.Generator`` seeded ``H(s, label, name, "measurement")`` — the
  mask or kernel is drawn first, then the noise — so every method sees the same ``y``;
* every method samples with a generator seeded ``H(s, label, name, "sampler")`` (the same for all
  methods: their differences are not noise draws),

where ``H`` is the first 63 bits of a sha256. So results do not depend on the batch size, the
number of GPUs, the image limit, or which run of a resumed benchmark produced them. The
measurement generator is always a CPU one; in fast mode (``--fast``) the sampler generator is a
CUDA generator with the same seed (a different stream of numbers: fast rows are not fp32 rows).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import operators
from operators.noise import GaussianNoise

from ..tasks import make_problem
from ..training.data import list_images, load_square
from .stacked import ImageWise
from .suite import Suite, TaskSpec

DATA_ENV = "INVDIFF_DATA"


@dataclass(frozen=True)
class BenchImage:
    """One evaluation image: its position in the sorted list, its relative name and its file."""

    index: int
    name: str
    path: Path


@dataclass
class Measured:
    """One image's drawn operator and noisy measurement (both on the CPU)."""

    image: BenchImage
    operator: Any
    y: torch.Tensor
    details: dict[str, Any]


def data_root(given: str | Path | None) -> Path:
    """The dataset root: ``given`` (``--data``), else ``$INVDIFF_DATA``."""
    root = given if given is not None else os.environ.get(DATA_ENV)
    if not root:
        raise ValueError(f"no dataset root: pass --data ROOT or set {DATA_ENV} (e.g. {DATA_ENV}=../shared/datasets).")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a folder; pass --data or set {DATA_ENV}.")
    return root


def suite_images(suite: Suite, root: Path, limit: int | None = None) -> list[BenchImage]:
    """The suite's images: the first ``images`` (then ``limit``) files of the folder in sorted order."""
    folder = root / suite.dataset
    if not folder.is_dir():
        raise FileNotFoundError(f"suite {suite.name!r} needs {suite.dataset!r} under the data root {root}; "
                                f"see data/README.md for the expected layout.")
    files = list_images(folder)
    count = len(files) if suite.images is None else suite.images
    if limit is not None:
        count = min(count, int(limit))
    if count > len(files):
        raise ValueError(f"suite {suite.name!r} asks for {count} images but {folder} holds {len(files)}.")
    return [BenchImage(i, f.relative_to(folder).as_posix(), f) for i, f in enumerate(files[:count])]


def load_images(images: list[BenchImage], size: int) -> torch.Tensor:
    """``N×3×size×size`` float images in [0, 1] (centre square crop, antialiased bicubic resize)."""
    arr = np.stack([load_square(im.path, size) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255.0)


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from the parts' text (stable across Python runs, unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def measurement_generator(suite: Suite, task: TaskSpec, image: BenchImage) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(suite.seed, task.label, image.name, "measurement"))


def sampler_generator(suite: Suite, task: TaskSpec, image: BenchImage,
                      device: str | torch.device = "cpu") -> torch.Generator:
    """The image's sampler generator, on ``device`` (CUDA in fast mode: the noise is drawn where it is used)."""
    return torch.Generator(device).manual_seed(derive_seed(suite.seed, task.label, image.name, "sampler"))


def measure(suite: Suite, task: TaskSpec, image: BenchImage, x: torch.Tensor) -> Measured:
    """Draw ``image``'s operator and measure its ``1×C×H×W`` ground truth ``x`` (module docstring)."""
    gen = measurement_generator(suite, task, image)
    problem = make_problem(task.task, suite.resolution, gen, sigma_y=task.sigma_y, channels=x.shape[1],
                           **task.params)
    y = problem.operator.measure(x, gen)
    return Measured(image, problem.operator, y, problem.details)


def _same_operator(a, b) -> bool:
    """Whether two operators are the same map: same class, settings and parameter tensors."""
    if type(a) is not type(b) or a.extra_repr() != b.extra_repr():
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def batch_operator(ops: list):
    """One operator acting on the whole batch, or ``None`` when the images must be solved one by one.

    Inpainting stacks the per-image masks (``N×1×H×W``); operators drawn without randomness
    (Gaussian blur, super-resolution, JPEG) are the same for every image; other linear operators
    of one class with per-image parameters (motion-blur kernels) act row by row through
    :class:`~invdiff.bench.stacked.ImageWise`.
    """
    if len(ops) == 1:
        return ops[0]
    first = ops[0]
    if all(isinstance(op, operators.Inpainting) for op in ops):
        sigma = [getattr(op.noise, "sigma_y", None) for op in ops]
        if len(set(sigma)) == 1 and isinstance(first.noise, GaussianNoise):
            return operators.Inpainting(torch.cat([op.mask for op in ops]), channels=first.channels,
                                        noise=first.noise)
        return None
    if all(_same_operator(first, op) for op in ops[1:]):
        return first
    if first.linear and all(type(op) is type(first) for op in ops):
        return ImageWise(ops)
    return None
