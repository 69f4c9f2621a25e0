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
from PIL import Image

import operators
from operators.noise import GaussianNoise

from ..tasks import make_problem
from ..training.data import list_images, load_square
from .stacked import ImageWise
from .suite import ImageSet, Suite, TaskSpec

DATA_ENV = "INVDIFF_DATA"


@dataclass(frozen=True)
class BenchImage:
    """One evaluation image: its position in its set's list, its name (``<set>/<file>`` in a suite of several
    sets, else the file's path relative to the dataset) and its file."""

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


def needs_data_root(suite: Suite) -> bool:
    """Whether some image set of ``suite`` lies under the data root (not beside the suite file)."""
    return any(not s.suite_relative for s in suite.sets)


def set_folder(suite: Suite, image_set: ImageSet, root: Path | None) -> Path:
    """The folder of one image set: beside the suite file, or under the data root."""
    if image_set.suite_relative:
        folder = Path(image_set.folder or image_set.dataset)
        where = f"{image_set.dataset!r} beside the suite file"
    else:
        if root is None:
            raise ValueError(f"suite {suite.name!r} needs a dataset root: pass --data ROOT or set {DATA_ENV}.")
        folder = root / image_set.dataset
        where = f"{image_set.dataset!r} under the data root {root}"
    if not folder.is_dir():
        raise FileNotFoundError(f"suite {suite.name!r} needs {where}, which is not a folder; "
                                f"see data/README.md for the expected layout.")
    return folder


def _set_files(suite: Suite, image_set: ImageSet, folder: Path, limit: int | None) -> list[Path]:
    """The set's files in table order: the named ones in the order given, else N sorted ones from ``first`` on."""
    if isinstance(image_set.images, list):
        missing = [n for n in image_set.images if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"suite {suite.name!r}: {len(missing)} listed image(s) of set {image_set.label!r} "
                                    f"are not in {folder} (e.g. {missing[0]}).")
        files = [folder / n for n in image_set.images]
    else:
        every = list_images(folder)
        files = every[image_set.first:]
        count = len(files) if image_set.images is None else image_set.images
        if count > len(files) or 0 < len(every) <= image_set.first:
            skipped = f" after skipping the first {image_set.first}" if image_set.first else ""
            raise ValueError(f"suite {suite.name!r} asks for {count} images{skipped} but {folder} holds {len(every)}.")
        files = files[:count]
    return files if limit is None else files[:int(limit)]


def suite_images(suite: Suite, root: Path | None, limit: int | None = None) -> list[BenchImage]:
    """The suite's images, set after set: each set's named files, or its first ``images`` files in sorted order.

    ``limit`` keeps the first N images of each set.
    """
    out = []
    for image_set in suite.sets:
        folder = set_folder(suite, image_set, root)
        prefix = f"{image_set.label}/" if len(suite.sets) > 1 else ""
        files = _set_files(suite, image_set, folder, limit)
        out += [BenchImage(i, prefix + f.relative_to(folder).as_posix(), f) for i, f in enumerate(files)]
    return out


def set_of(suite: Suite, name: str) -> str:
    """The label of the set an image name belongs to."""
    return name.split("/", 1)[0] if len(suite.sets) > 1 else suite.sets[0].label


def load_images(images: list[BenchImage], size: int) -> torch.Tensor:
    """``N×3×size×size`` float images in [0, 1] (centre square crop, antialiased bicubic resize)."""
    arr = np.stack([load_square(im.path, size) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255.0)


def native_shape(path: Path, multiple_of: int = 1) -> tuple[int, int]:
    """``(H, W)`` of an image at its own size after the centre crop to multiples of ``multiple_of`` (header only)."""
    with Image.open(path) as im:
        w, h = im.size
        if int(im.getexif().get(0x0112, 1) or 1) in (5, 6, 7, 8):  # EXIF rotation by 90°: display size
            w, h = h, w
    return h - h % multiple_of, w - w % multiple_of


def load_native(image: BenchImage, multiple_of: int = 1) -> torch.Tensor:
    """``1×3×H×W`` in [0, 1] at the image's own size (``invdiff.io.read_image``: EXIF orientation, 16-bit),
    centre-cropped to multiples of ``multiple_of`` (481×321 → 480×320 for ``multiple_of: 4``)."""
    from ..io import read_image

    data = read_image(image.path)
    if data.alpha is not None and bool((data.alpha < 1).any()):
        raise ValueError(f"{image.path} has transparent pixels; a benchmark ground truth must be opaque.")
    x = torch.from_numpy(np.ascontiguousarray(data.pixels)).permute(2, 0, 1)[None].float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    h, w = x.shape[-2:]
    top, left = (h % multiple_of) // 2, (w % multiple_of) // 2
    return x[..., top:top + h - h % multiple_of, left:left + w - w % multiple_of].contiguous()


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
    problem = make_problem(task.task, tuple(x.shape[-2:]), gen, sigma_y=task.sigma_y, channels=x.shape[1],
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
