"""The library API, ``invdiff.solve(image, task=..., method=...)``, and the steps ``invdiff solve`` shares.

**What the input means.** An input is read as the *measurement* y when it carries degradation
information for the task, and otherwise as a *clean* image x that is first degraded with the
task's default protocol (:mod:`invdiff.tasks`, drawn from the image's generator):

=============  ==============================================================================
task           the input is a measurement when …
=============  ==============================================================================
inpaint        a mask is given, or the image has an alpha channel with a pixel of α = 0
               (α = 0: missing; any α > 0: observed; a fully opaque alpha is ignored)
gaussian_blur  a kernel is given (separable; used with the protocol's reflect boundary)
motion_blur    a kernel is given
sr4            a scale is given, or (fixed-size prior) the image is square with side × factor
               = the prior's size
jpeg           the file is a JPEG (quality read from its quantisation tables)
=============  ==============================================================================

``degrade=True`` / ``False`` (CLI ``--degrade`` / ``--no-degrade``) forces either reading. Given
parameters (mask, kernel, scale, quality) always define the operator; those not given come from
the protocol. A forced measurement without them uses the protocol's deterministic parameters
(Gaussian kernel, ×4 bicubic, JPEG quality 10); inpaint and motion_blur draw theirs at random,
so for them a measurement needs the mask or kernel.

**Sizes.** A *size-agnostic* prior (:func:`any_size`: the default ``natural``, a fully
convolutional network trained on crops) restores an image **at its own size**: a clean H×W
image or an H×W measurement gives an H×W result, and a ×f SR measurement of h×w gives fh×fw.
Sides must be at least the network's :func:`smallest_side`; a clean image for ×f SR must have
sides divisible by f; a mask must be the image's size and a kernel no larger than the image.
A *fixed-size* prior (``faces64``, trained on whole 64×64 faces, with attention) works at its
resolution R only: a clean image must be R×R and a measurement exactly what the operator gives
for R×R (R/f for ×f SR). :func:`fit_to_prior` centre-crops and resizes explicitly; the CLI does
that for clean images with a printed note. Nothing here ever resizes a measurement.

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

**Precision.** The solver runs in float64 when the image is float64 (tensor or array), else in
float32; the network itself runs in its weights' dtype either way.

**Types.** ``image`` is a torch tensor (C×H×W or N×C×H×W, float in [0, 1] or uint8), a numpy
array (H×W, H×W×C or N×H×W×C; uint8, uint16 or float in [0, 1]) or a PIL image; a 2nd or 4th
channel is alpha. The restored image comes back in the same type, dtype and layout (grayscale
in → grayscale out, as the ITU-R 601 luma of the RGB restoration; alpha is not returned: the
result has no holes). The measurement comes back in the same type too, clipped to [0, 1] (the
added noise leaves that range), with the mask as alpha for inpainting — so
``solve(result.measurement, …)`` solves the same problem again.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import operators
from operators.generators import validate_kernel

from . import io as imageio
from .batches import batch_key, group_cases, merge_operator, sampler_generators, solve_cases  # noqa: F401 - re-exported
from .cases import (  # noqa: F401 - the names the CLI and users reach through invdiff.api
    FORCED,
    NO_INFO,
    Case,
    DataError,
    PriorNotInstalled,
    Source,
    UsageError,
    _check_task,
    any_size,
    article,
    degradation_info,
    make_case,
    native_size,
    smallest_side,
)

# -- speed modes ---------------------------------------------------------------------------------
#: What ``fast=True`` / ``--fast`` sets on the prior (:meth:`~invdiff.priors.DiffusionPrior.configure`).
FAST_SPEED: dict[str, Any] = {"dtype": "bf16", "channels_last": True, "compile": "reduce-overhead"}


#: What a prior loaded by name or path onto the CPU gets (still eager float32, the "fp32" speed mode): channels_last
#: memory. Measured on this project's 2-core CPU, natural prior, one call at 768×512: 8.8 s contiguous, 6.7 s
#: channels_last (oneDNN's preferred layout); DDRM-20 on a Kodak photo took 181 s before.
CPU_SPEED: dict[str, Any] = {"channels_last": True}


def fast_speed(compile: bool = True) -> dict[str, Any]:
    """What fast mode sets on the prior: :data:`FAST_SPEED`, or without ``torch.compile`` (``compile=False``).

    Why a mode without compilation: ``torch.compile`` builds its graphs once per image shape (at 768×512 on an
    H100: 45 s for the forward, 81 s with the backward; ``benchmarks/results/speed/README.md``). Measured on an
    H200: compiled 7.96 ms a forward call, ``compile=False`` 49.7 ms, eager fp32 (``fast=False``) 37.8 ms — so eager
    fp32, not this mode, suits a single image per shape; compiling pays from about two DPS-1000 images.
    """
    return dict(FAST_SPEED) if compile else {**FAST_SPEED, "compile": False}


def speed_mode(fast: bool, compile: bool = True) -> str:
    """The recorded name of a speed mode: ``"fast"``, ``"fast-eager"`` (fast without ``torch.compile``) or
    ``"fp32"`` (eager float32, the default)."""
    return ("fast" if compile else "fast-eager") if fast else "fp32"


def check_fast(device: str | torch.device, flag: str = "fast=True", hint: str = "drop it on the CPU") -> None:
    """Raise a one-sentence :class:`UsageError` unless ``device`` is a CUDA device (what fast mode needs)."""
    dev = torch.device(device)
    if dev.type != "cuda":
        raise UsageError(f"{flag} needs a CUDA device (bf16 autocast, CUDA graphs) but the device is {dev}; {hint}.")


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """Run the block with torch using ``threads`` CPU threads (None: as it is); yields the count in use."""
    before = torch.get_num_threads()
    if threads is None:
        yield before
        return
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise UsageError(f"threads must be an int >= 1, got {threads!r}.")
    torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


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


def _check_installed(name, path: Path) -> None:
    """One clear sentence when a built-in prior (or the default, ``natural``) has no weights installed."""
    from .priors import BUILTIN_PRIORS, available_priors
    from .solvers.registry import DEFAULT_PRIOR

    if path.exists() or not isinstance(name, str) or (name not in BUILTIN_PRIORS and name != DEFAULT_PRIOR):
        return
    info = {p.name: p for p in available_priors()}.get(name)
    if info is not None and info.installed:
        return
    where = f"expected {info.path.name} and its .safetensors in {info.path.parent}" if info else \
        "this invdiff has no weights for it yet"
    hint = " (the default: a size-agnostic natural-image prior)" if name == DEFAULT_PRIOR else ""
    other = "pass --prior faces64 (prior='faces64') for 64×64 faces, or" if name != "faces64" else "train it, or pass"
    raise PriorNotInstalled(f"the built-in prior {name!r}{hint} is not installed ({where}); {other} --prior PATH "
                            "for your own.")


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
        _check_installed(prior, path)
        loaded = load_prior(prior, architecture=architecture, device=device)
        on_cpu = torch.device(device).type == "cpu"
        _PRIORS[key] = loaded.configure(**FAST_SPEED) if fast else loaded.configure(**CPU_SPEED) if on_cpu else loaded
    return _PRIORS[key]


def with_tiling(prior, tiling: dict | None):
    """``prior`` with its network tiling changed (``TileConfig`` fields: mode, tile_size, overlap, max_pixels,
    tile_batch; :mod:`invdiff.priors.tiling`), on a copy so that a caller's or a cached prior keeps its own;
    None returns ``prior`` itself."""
    if not tiling:
        return prior
    import dataclasses

    tiled = copy.deepcopy(prior, {id(prior._runner): None})  # configure() gives the copy its own runner
    return tiled.configure(**dataclasses.asdict(prior.speed), tiling={**prior.tiling.to_dict(), **tiling})


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
    """Centre-crop ``image`` to a square and resize it to a fixed-size prior's resolution (bicubic, antialiased).

    ``prior`` is a loaded prior, a name/path or an int resolution; the result has ``image``'s type.
    Alpha is cropped alike and resized with nearest neighbours (it stays a mask). A size-agnostic
    prior (:func:`any_size`) restores the image at its own size, so it is returned as it is.
    """
    if not isinstance(prior, int):
        prior = get_prior(prior)
        if any_size(prior):
            return image
    size = prior if isinstance(prior, int) else prior.resolution
    pixels, alpha, kind = imageio.to_batch(image)
    kind.gray = False  # keep the channel count as it is
    alpha = None if alpha is None else imageio.fit_square_mask(alpha, size)
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
    """H×W, 1×H×W, N×H×W or N×1×H×W binary mask (1 = observed) → N'×H×W float (N' ∈ {1, n}).

    Binary means what a black-and-white mask image holds, as ``invdiff solve --mask`` reads it:
    values in {0, 1}, {0, 255} (8-bit) or {0, 65535} (16-bit), or booleans; a PIL image works too.
    """
    if mask is None:
        return None
    a = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    shape = a.shape
    a = a.astype(np.float64).reshape(-1, *shape[-2:]) if a.ndim >= 2 else a
    if a.ndim != 3 or a.shape[0] not in (1, n):
        raise DataError(f"mask must be H×W, or one H×W per image ({n}), got shape {tuple(shape)}.")
    levels = set(np.unique(a).tolist())
    white = max(levels) if max(levels) in (255, 65535) else 1
    if not levels <= {0, white}:
        shown = ", ".join(f"{v:g}" for v in sorted(levels)[:4]) + (", …" if len(levels) > 4 else "")
        raise DataError(f"mask must be binary: 1, 255 (8-bit), 65535 (16-bit) or True = observed, 0 = missing; it "
                        f"holds {shown} (threshold it, e.g. mask > 0.5).")
    return torch.from_numpy(a / white).float()


def solve(image, *, task: str, method, prior=None, mask=None, kernel=None, scale: int | None = None,
          quality: int | None = None, sigma_y: float | None = None, steps: int | None = None, seed: int = 0,
          device: str | torch.device | None = None, degrade: bool | None = None, protocol: dict | None = None,
          architecture=None, progress: bool = False, fast: bool = False, threads: int | None = None,
          tiling: dict | None = None, **method_settings) -> SolveOutput:
    """Restore ``image`` with ``method`` (a name or a solver) under ``prior`` (a name, path or prior).

    ``prior=None`` takes the method's default: ``natural`` (size-agnostic), or faces64-sr4 for the
    conditional ``sr3``; pass ``prior="faces64"`` for the 64×64 face prior.

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

    ``tiling`` (e.g. ``{"mode": "on", "tile_size": 256, "overlap": 32}``) sets when the network runs
    on overlapping blended tiles (:func:`with_tiling`; the prior given is not changed, a copy is).

    ``threads`` sets torch's CPU thread count for this call (restored afterwards; default: torch's
    current count, which honours ``OMP_NUM_THREADS``); ``settings["threads"]`` records it.
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
    prior_obj = with_tiling(prior_obj, tiling)
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
    dtype = torch.float64 if kind.dtype in (torch.float64, np.float64) else torch.float32
    cases = []
    for i in range(n):
        src = Source(pixels[i:i + 1], None if alpha is None else alpha[i], name=f"image {i}" if kind.batched else "image")
        m = None if masks is None else masks[i if masks.shape[0] > 1 else 0]
        cases.append(make_case(src, task, native_size(prior_obj), torch.Generator().manual_seed(int(seed) + i), mask=m,
                               kernel=kernel, scale=scale, quality=quality, sigma_y=sigma_y, degrade=degrade,
                               protocol=protocol, smallest=smallest_side(prior_obj), dtype=dtype))
    solver.check(cases[0].operator)
    restored, nfe, seconds = {}, 0, 0.0
    with cpu_threads(threads) as used:
        for group in group_cases(list(range(n)), dict(enumerate(cases)), batch_size=n):
            result = solve_cases([cases[i] for i in group], solver, prior_obj, device, progress, fast)
            restored.update({i: result.x[j].cpu() for j, i in enumerate(group)})
            nfe, seconds = result.nfe, seconds + result.seconds
    x = torch.stack([restored[i] for i in range(n)])
    y = torch.cat([c.y for c in cases]).cpu()
    y_alpha = torch.cat([c.mask for c in cases]) if task == "inpaint" else None
    settings = {"task": task, "method": solver.name, "solver": solver.settings(), "prior": prior_obj.name,
                "resolution": prior_obj.resolution, "any_size": any_size(prior_obj), "seed": int(seed),
                "device": str(device), "speed": speed_mode(fast), "dtype": str(dtype).replace("torch.", ""),
                "threads": used, "sigma_y": cases[0].details["sigma_y"], "images": [c.details for c in cases]}
    return SolveOutput(imageio.from_batch(x, kind), imageio.from_batch(y, kind, y_alpha), nfe, seconds, int(seed),
                       settings, x, cases, prior_obj, solver)
