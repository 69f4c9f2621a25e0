"""The library API, ``invdiff.solve(image, task=..., method=...)``, and the steps ``invdiff solve`` shares.

**What the input means.** An input is read as the *measurement* y when it carries degradation
information for the task, and otherwise as a *clean* image x that is first degraded with the
task's default protocol (:mod:`invdiff.tasks`, drawn from the image's generator):

=============  ==============================================================================
task           the input is a measurement when …
=============  ==============================================================================
inpaint        a mask is given, or the image has an alpha channel with a pixel of α = 0
               (α = 0: missing; any α > 0: observed; a fully opaque alpha is ignored)
gaussian_blur  a kernel is given (then used as a circular convolution, as for motion_blur)
motion_blur    a kernel is given
sr4            a scale is given, or the image is square with side × factor = the prior's size
jpeg           the file is a JPEG (quality read from its quantisation tables)
=============  ==============================================================================

``degrade=True`` / ``False`` (CLI ``--degrade`` / ``--no-degrade``) forces either reading. Given
parameters (mask, kernel, scale, quality) always define the operator; those not given come from
the protocol. A forced measurement without them uses the protocol's deterministic parameters
(Gaussian kernel, ×4 bicubic, JPEG quality 10); inpaint and motion_blur draw theirs at random,
so for them a measurement needs the mask or kernel.

**Sizes.** A prior works at its native resolution R (faces64: 64). The library never resizes:
a clean image must be R×R and a measurement must be exactly what the operator gives for R×R
(R/f for ×f SR). :func:`fit_to_prior` centre-crops and resizes explicitly; the CLI does that
for clean images with a printed note, and never resizes a measurement.

**Randomness.** Image ``i`` of a batch gets its own ``torch.Generator`` seeded ``seed + i``: the
protocol draws (mask, kernel, noise) come first, then the solver continues on the same
generator. An image's result therefore does not depend on the batch it is in; seed 0 is a seed.

**Speed.** ``fast=True`` (CLI ``--fast``, CUDA only) runs the prior's network with bf16 autocast,
channels_last memory and ``torch.compile(mode="reduce-overhead")`` (CUDA graphs), see
:mod:`invdiff.priors.fast`, and the solver draws its noise from one CUDA generator per image,
seeded ``seed + i`` too (a CPU generator would cost a blocking host→device copy per step); the
measurement is still drawn on the CPU generator, so it is the same in both modes. Results then
differ slightly from the default fp32 path, and the first call at a shape compiles (a minute or
more for a large network). The configured prior is a separate object from the fp32 one.

**Types.** ``image`` is a torch tensor (C×H×W or N×C×H×W, float in [0, 1] or uint8), a numpy
array (H×W, H×W×C or N×H×W×C; uint8, uint16 or float in [0, 1]) or a PIL image; a 2nd or 4th
channel is alpha. The restored image comes back in the same type, dtype and layout (grayscale
in → grayscale out, as the ITU-R 601 luma of the RGB restoration; alpha is not returned: the
result has no holes). The measurement comes back in the same type too, with the mask as alpha
for inpainting — so ``solve(result.measurement, …)`` solves the same problem again.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import operators
from operators.generators import validate_kernel

from . import io as imageio
from .tasks import DEFAULT_SIGMA_Y, TASKS, make_problem

#: Why an input counts as a clean image, per task (when it carries no degradation information).
NO_INFO = {"inpaint": "no mask and no transparent pixels", "gaussian_blur": "no kernel given",
           "motion_blur": "no kernel given", "sr4": "no scale given and its side is not the prior's size / factor",
           "jpeg": "not a JPEG file"}

#: The reason recorded when --degrade / --no-degrade (degrade=) forced the reading.
FORCED = {True: "forced by --degrade / degrade=True", False: "forced by --no-degrade / degrade=False"}


class UsageError(ValueError):
    """The call or command line is wrong (unknown name, conflicting or missing option): CLI exit 2."""


class DataError(ValueError):
    """The data are unusable (wrong size, bad mask, NaN …): CLI exit 1."""


@dataclass
class Source:
    """One input image: ``pixels`` 1×C×H×W float64 in [0, 1] (C = the prior's channels), alpha H×W or None."""

    pixels: torch.Tensor
    alpha: torch.Tensor | None = None
    is_jpeg_file: bool = False
    jpeg_quality: int | None = None
    name: str = "image"


@dataclass
class Case:
    """One image's inverse problem: measurement ``y`` (1×…, [0, 1]) and its operator, and how they were made."""

    y: torch.Tensor
    operator: operators.Operator
    generator: torch.Generator
    degraded: bool
    clean: torch.Tensor | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> torch.Tensor | None:
        """1×H×W mask (1 = observed) for inpainting, else None."""
        return self.operator.mask.reshape(-1, *self.operator.mask.shape[-2:])[:1] if self.operator.name == "inpaint" \
            else None

    @property
    def kernel(self) -> torch.Tensor | None:
        """The 2-D blur kernel for blur tasks, else None."""
        return getattr(self.operator, "kernel", None)


# -- the input rule -----------------------------------------------------------------------------
def degradation_info(task: str, src: Source, resolution: int, mask, kernel, scale: int | None,
                     factor: int) -> str | None:
    """Why ``src`` counts as a measurement for ``task`` (one phrase), or None if it carries no such information."""
    h, w = src.pixels.shape[-2:]
    if task == "inpaint":
        if mask is not None:
            return "a mask was given"
        if src.alpha is not None and bool((src.alpha == 0).any()):
            return "its alpha channel has transparent pixels (α = 0: missing)"
    elif task in ("gaussian_blur", "motion_blur") and kernel is not None:
        return "a blur kernel was given"
    elif task == "sr4":
        if scale is not None:
            return f"a scale ({scale}) was given"
        if h == w and h * factor == resolution:
            return f"it is {h}×{w} and {h} × {factor} = {resolution}, the prior's size"
    elif task == "jpeg" and src.is_jpeg_file:
        return "it is a JPEG file"
    return None


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}.")


def make_case(src: Source, task: str, resolution: int, generator: torch.Generator, *, mask=None, kernel=None,
              scale: int | None = None, quality: int | None = None, sigma_y: float | None = None,
              degrade: bool | None = None, protocol: dict | None = None) -> Case:
    """Build one image's problem following the input rule of the module docstring."""
    _check_task(task)
    params = dict(protocol or {})
    factor = int(scale if scale is not None else params.get("factor", 4))
    info = degradation_info(task, src, resolution, mask, kernel, scale, factor)
    measured = (not degrade) if degrade is not None else info is not None
    sigma = DEFAULT_SIGMA_Y[task] if sigma_y is None else float(sigma_y)
    x, (h, w), op_task = src.pixels, src.pixels.shape[-2:], task
    if task == "inpaint":
        if mask is None and src.alpha is not None and bool((src.alpha == 0).any()):
            mask = (src.alpha > 0).to(torch.float32)[None]
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.float32).reshape(1, *mask.shape[-2:])
            if tuple(mask.shape[-2:]) != (h, w):
                raise DataError(f"the mask is {mask.shape[-2]}×{mask.shape[-1]} but {src.name} is {h}×{w}; "
                                "masks are never resized: give one of the image's size.")
            params = {"mask": mask}
    elif task in ("gaussian_blur", "motion_blur") and kernel is not None:
        if max(kernel.shape) > resolution:
            raise DataError(f"the {kernel.shape[0]}×{kernel.shape[1]} kernel is larger than the "
                            f"{resolution}×{resolution} image.")
        op_task, params = "motion_blur", {"kernel": kernel}
    elif task == "sr4":
        if resolution % factor:
            raise UsageError(f"the SR scale {factor} does not divide the prior's size {resolution}.")
        params["factor"] = factor
    elif task == "jpeg":
        q = quality if quality is not None else src.jpeg_quality if (measured and src.is_jpeg_file) else None
        if measured and src.is_jpeg_file and q is None:
            raise UsageError(f"{src.name} does not use standard IJG quantisation tables, so its quality is "
                             "unknown; pass the quality (--quality Q).")
        if q is not None:
            params["quality"] = int(q)
    if measured:
        need = {"inpaint": "mask" not in params, "motion_blur": "kernel" not in params}.get(op_task, False)
        if need:
            what = "a mask (--mask) or an alpha channel with holes" if task == "inpaint" else "a kernel (--kernel)"
            raise UsageError(f"reading {src.name} as a {task} measurement needs {what}: its protocol draws "
                             "that at random.")
        side = resolution // factor if task == "sr4" else resolution
        if (h, w) != (side, side):
            raise DataError(f"{src.name} is {h}×{w}, but a {task} measurement for this {resolution}×{resolution} "
                            f"prior must be {side}×{side} (measurements are never resized); pass --degrade "
                            "(degrade=True) to read it as a clean image instead.")
    elif (h, w) != (resolution, resolution):
        raise DataError(f"{src.name} is {h}×{w} but the prior restores {resolution}×{resolution} images; crop and "
                        "resize it first, e.g. with invdiff.fit_to_prior (the CLI does this itself).")
    try:
        problem = make_problem(op_task, resolution, generator, sigma, channels=x.shape[1], **params)
    except (TypeError, KeyError) as err:
        raise UsageError(f"bad protocol parameters for {task}: {err}") from None
    op = problem.operator
    details = {"task": task, **problem.details, "reading": "measurement" if measured else "clean",
               "reason": FORCED[degrade] if degrade is not None else info or NO_INFO[task]}
    if op_task != task:
        details["operator"] = "circular convolution with the given kernel"
    if measured:
        y = x * op.mask if task == "inpaint" else x
        return Case(y.float(), op, generator, False, None, details)
    return Case(op.measure(x, [generator]).float(), op, generator, True, x.float(), details)


# -- batches ------------------------------------------------------------------------------------
def batch_key(case: Case) -> tuple:
    """Cases with equal keys can share one solver call (inpainting masks are stacked per image)."""
    op = case.operator
    digest = hashlib.sha1()
    if op.name != "inpaint":
        for name, buf in sorted(op.named_buffers()):
            digest.update(name.encode() + buf.detach().cpu().numpy().tobytes())
    return (type(op).__name__, "" if op.name == "inpaint" else op.extra_repr(), repr(op.noise),
            digest.hexdigest(), tuple(case.y.shape[1:]))


def merge_operator(cases: list[Case]) -> operators.Operator:
    """One operator for a batch of cases with equal :func:`batch_key`."""
    first = cases[0].operator
    if len(cases) == 1 or first.name != "inpaint":
        return first
    return operators.Inpainting(torch.stack([c.mask for c in cases]), channels=first.channels, noise=first.noise)


def sampler_generators(cases: list[Case], device: str | torch.device, fast: bool = False) -> list[torch.Generator]:
    """The solver's generator per case: the case's own (CPU, continuing after the protocol draws), or with
    ``fast`` a new generator on ``device`` seeded with the case's seed (noise drawn where it is used)."""
    if not fast:
        return [c.generator for c in cases]
    return [torch.Generator(device).manual_seed(c.generator.initial_seed()) for c in cases]


def solve_cases(cases: list[Case], solver, prior, device: str | torch.device = "cpu", progress: bool = False,
                fast: bool = False):
    """Solve a batch of cases with equal keys in one call; returns the solver's ``SolveResult``.

    ``fast``: the sampler's noise comes from CUDA generators (:func:`sampler_generators`); the
    prior itself must already be configured (:func:`get_prior` with ``fast=True``).
    """
    y = torch.cat([c.y for c in cases]).to(device=device, dtype=torch.float32)
    shape = (len(cases), prior.channels, prior.resolution, prior.resolution)
    return solver.solve(y, merge_operator(cases), prior, generator=sampler_generators(cases, device, fast),
                        image_shape=shape, progress=progress)


def group_cases(indices: list[int], cases: dict[int, Case], batch_size: int) -> list[list[int]]:
    """Consecutive runs of equal :func:`batch_key`, at most ``batch_size`` long."""
    groups: list[list[int]] = []
    for i in indices:
        if groups and len(groups[-1]) < batch_size and batch_key(cases[groups[-1][0]]) == batch_key(cases[i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


# -- speed modes ---------------------------------------------------------------------------------
#: What ``fast=True`` / ``--fast`` sets on the prior (:meth:`~invdiff.priors.DiffusionPrior.configure`).
FAST_SPEED: dict[str, Any] = {"dtype": "bf16", "channels_last": True, "compile": "reduce-overhead"}


def speed_mode(fast: bool) -> str:
    """The recorded name of a speed mode: ``"fast"`` or ``"fp32"`` (eager float32, the default)."""
    return "fast" if fast else "fp32"


def check_fast(device: str | torch.device, flag: str = "fast=True", hint: str = "drop it on the CPU") -> None:
    """Raise a one-sentence :class:`UsageError` unless ``device`` is a CUDA device (what fast mode needs)."""
    dev = torch.device(device)
    if dev.type != "cuda":
        raise UsageError(f"{flag} needs a CUDA device (bf16 autocast + CUDA graphs) but the device is {dev}; {hint}.")


# -- priors and solvers -------------------------------------------------------------------------
_PRIORS: dict[tuple, Any] = {}
#: loaded prior instance → its fast-configured copy (the caller's object is never reconfigured)
_FAST_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fast_copy(prior):
    """``prior`` configured with :data:`FAST_SPEED`: itself if it already is, else a copy made once per object."""
    from .priors.fast import SpeedConfig

    if prior.speed == SpeedConfig(**FAST_SPEED):
        return prior
    fast = _FAST_COPIES.get(prior)
    if fast is None or fast.device != prior.device:
        # the copy gets its own runner from configure(): never deep-copy a (possibly compiled) one
        fast = copy.deepcopy(prior, {id(prior._runner): None}).configure(**FAST_SPEED)
        _FAST_COPIES[prior] = fast
    return fast


def get_prior(prior, device: str | torch.device | None = None, architecture=None, fast: bool = False):
    """A :class:`~invdiff.priors.DiffusionPrior` from a name or path (loaded once, then cached) or an instance.

    ``device=None`` keeps an instance where it is and loads a name or path onto the CPU.
    ``fast=True`` gives a prior configured with :data:`FAST_SPEED`: a name or path is loaded into
    its own cache entry, and an instance is copied once (it keeps its own settings), so a fast
    prior never leaks into a later fp32 call. The device is not checked here (see :func:`check_fast`).
    """
    from .priors import DiffusionPrior, load_prior

    if isinstance(prior, DiffusionPrior):
        prior = prior if device is None else prior.to(device)
        return _fast_copy(prior) if fast else prior
    device = device or "cpu"
    path = Path(str(prior)).expanduser()
    stamp = (str(path.resolve()), path.stat().st_mtime) if path.exists() else str(prior)
    key = (stamp, str(device), str(architecture), speed_mode(fast))
    if key not in _PRIORS:
        loaded = load_prior(prior, architecture=architecture, device=device)
        _PRIORS[key] = loaded.configure(**FAST_SPEED) if fast else loaded
    return _PRIORS[key]


def get_solver(method, steps: int | None = None, **settings):
    """A solver from a name (with settings; ``steps`` overrides) or an instance."""
    from .solvers import Solver, available_solvers, build_solver
    from .solvers.registry import SOLVERS

    if isinstance(method, Solver):
        return method
    if method not in SOLVERS:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(available_solvers())}.")
    if steps is not None:
        settings["steps"] = steps
    allowed = [p for p in inspect.signature(SOLVERS[method]).parameters if p != "self"]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise UsageError(f"method {method} has no setting {unknown[0]!r}; it takes {', '.join(allowed)}.")
    return build_solver(method, **settings)


# -- python types ----------------------------------------------------------------------------
def fit_to_prior(image, prior):
    """Centre-crop ``image`` to a square and resize it to the prior's resolution (bicubic, antialiased).

    ``prior`` is a loaded prior, a name/path or an int resolution; the result has ``image``'s type.
    Alpha is cropped alike and resized with nearest neighbours (it stays a mask).
    """
    size = prior if isinstance(prior, int) else get_prior(prior).resolution
    pixels, alpha, kind = imageio.to_batch(image)
    kind.gray = False  # keep the channel count as it is
    if alpha is not None:
        h, w = alpha.shape[-2:]
        s = min(h, w)
        alpha = alpha[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        alpha = torch.nn.functional.interpolate(alpha[:, None], size=(size, size), mode="nearest-exact")[:, 0]
    return imageio.from_batch(imageio.fit_square(pixels, size), kind, alpha)


# -- the one-call API ---------------------------------------------------------------------------
@dataclass
class SolveOutput:
    """What :func:`solve` returns: the restored image in the input's type, metadata, and the objects used.

    ``x`` is the restored batch as an N×C×R×R float tensor; ``cases`` hold each image's
    measurement, operator and generator; ``operator`` is the first image's operator.
    """

    image: Any
    measurement: Any
    nfe: int
    seconds: float
    seed: int
    settings: dict[str, Any]
    x: torch.Tensor
    cases: list[Case]
    prior: Any
    solver: Any

    @property
    def operator(self) -> operators.Operator:
        return self.cases[0].operator

    @property
    def mask(self) -> torch.Tensor | None:
        return self.cases[0].mask


def _as_mask(mask, n: int) -> torch.Tensor | None:
    """H×W, 1×H×W, N×H×W or N×1×H×W binary (1 = observed) → N'×H×W float (N' ∈ {1, n})."""
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).detach().cpu().double()
    m = m.reshape(-1, *m.shape[-2:]) if m.dim() >= 2 else m
    if m.dim() != 3 or m.shape[0] not in (1, n):
        raise DataError(f"mask must be H×W, or one H×W per image ({n}), got shape {tuple(torch.as_tensor(mask).shape)}.")
    if not bool(((m == 0) | (m == 1)).all()):
        raise DataError("mask must be binary: 1 = observed, 0 = missing (threshold it, e.g. mask > 0.5).")
    return m.float()


def solve(image, *, task: str, method, prior=None, mask=None, kernel=None, scale: int | None = None,
          quality: int | None = None, sigma_y: float | None = None, steps: int | None = None, seed: int = 0,
          device: str | torch.device | None = None, degrade: bool | None = None, protocol: dict | None = None,
          architecture=None, progress: bool = False, fast: bool = False, **method_settings) -> SolveOutput:
    """Restore ``image`` with ``method`` (a name or a solver) under ``prior`` (a name, path or prior).

    ``prior=None`` takes the method's default: faces64, or faces64-sr4 for the conditional ``sr3``.

    What ``image`` means, which sizes it may have and what comes back: see the module docstring.
    ``sigma_y`` is on the [-1, 1] scale (default: the task's, 0.05; JPEG 0); ``steps`` and
    ``method_settings`` (e.g. ``eta=0.85``) set the solver; ``device`` defaults to the CPU, or to
    where ``prior`` is when it is a loaded prior; ``protocol`` overrides the task's
    protocol parameters (e.g. ``{"mask_kind": "random"}``); ``architecture`` is for
    guided-diffusion ``.pt`` priors. Errors are ``ValueError``s with one sentence.

    ``fast=True`` (CUDA only: pass ``device="cuda"`` or a prior on the GPU; on the CPU it is a
    :class:`UsageError` before any work) runs the network in bf16 autocast with channels_last and
    ``torch.compile(mode="reduce-overhead")`` and draws the solver's noise from CUDA generators
    seeded ``seed + i``: results differ slightly from the default fp32 path, and the first call
    compiles (a minute or more for a large prior). A prior passed as an object is not changed:
    a configured copy of it is made once and reused. ``settings["speed"]`` says which mode ran.
    """
    from .priors import DiffusionPrior

    _check_task(task)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be an int >= 0 (0 is a seed like any other), got {seed!r}.")
    fast = bool(fast)
    if fast:
        target = device if device is not None else prior.device if isinstance(prior, DiffusionPrior) else "cpu"
        check_fast(target, "fast=True", "pass device='cuda' (or a prior on the GPU), or drop fast=True on the CPU")
    pixels, alpha, kind = imageio.to_batch(image)
    n = pixels.shape[0]
    solver = get_solver(method, steps, **method_settings)
    from .solvers import default_prior, prior_mismatch

    prior_obj = get_prior(default_prior(solver) if prior is None else prior, device, architecture, fast)
    mismatch = prior_mismatch(solver, prior_obj)
    if mismatch is not None:
        raise UsageError(mismatch)
    device = prior_obj.device
    if pixels.shape[1] != prior_obj.channels:
        if not (pixels.shape[1] == 1 and prior_obj.channels == 3):
            raise DataError(f"the image has {pixels.shape[1]} channels but the prior {prior_obj.channels}.")
        pixels = pixels.expand(-1, 3, -1, -1)
    masks = _as_mask(mask, n)
    kernel = None if kernel is None else validate_kernel(kernel, "kernel")
    cases = []
    for i in range(n):
        src = Source(pixels[i:i + 1], None if alpha is None else alpha[i], name=f"image {i}" if kind.batched else "image")
        m = None if masks is None else masks[i if masks.shape[0] > 1 else 0]
        cases.append(make_case(src, task, prior_obj.resolution, torch.Generator().manual_seed(int(seed) + i), mask=m,
                               kernel=kernel, scale=scale, quality=quality, sigma_y=sigma_y, degrade=degrade,
                               protocol=protocol))
    solver.check(cases[0].operator)
    restored, nfe, seconds = {}, 0, 0.0
    for group in group_cases(list(range(n)), dict(enumerate(cases)), batch_size=n):
        result = solve_cases([cases[i] for i in group], solver, prior_obj, device, progress, fast)
        restored.update({i: result.x[j].cpu() for j, i in enumerate(group)})
        nfe, seconds = result.nfe, seconds + result.seconds
    x = torch.stack([restored[i] for i in range(n)])
    y = torch.cat([c.y for c in cases]).cpu()
    y_alpha = torch.cat([c.mask for c in cases]) if task == "inpaint" else None
    settings = {"task": task, "method": solver.name, "solver": solver.settings(), "prior": prior_obj.name,
                "resolution": prior_obj.resolution, "seed": int(seed), "device": str(device),
                "speed": speed_mode(fast), "sigma_y": cases[0].details["sigma_y"],
                "images": [c.details for c in cases]}
    return SolveOutput(imageio.from_batch(x, kind), imageio.from_batch(y, kind, y_alpha), nfe, seconds, int(seed),
                       settings, x, cases, prior_obj, solver)
