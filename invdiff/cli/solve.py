"""``invdiff solve``: restore an image, or every image in a folder, with a diffusion prior.

What ``--input`` means, which sizes work and what is written (README, "Command line"):

* The input is a **measurement** when it carries degradation information — ``--mask`` or an
  alpha channel with α = 0 pixels (inpaint), ``--kernel`` (blurs), ``--scale`` (or, for a
  fixed-size prior, a side of (prior size)/factor) (sr4), a JPEG file (jpeg) — and otherwise a **clean image**, degraded with
  the task's default protocol first (one printed line says so, and the measurement is always
  saved next to the result as ``OUTPUT_STEM.measurement.png``). ``--degrade`` / ``--no-degrade``
  force either reading. The rule itself lives in :mod:`invdiff.api`.
* **Sizes.** The default prior, ``natural``, is size-agnostic: a clean image or a measurement is
  restored **at its own size** (no crop, no resize), and a ×4 SR measurement of h×w gives 4h×4w.
  Each side must be at least the network's smallest side (printed in the error), a mask must be
  the image's size and a kernel no larger than it. A fixed-size prior such as ``--prior faces64``
  (64×64 faces, trained whole, with attention) works at its resolution R only: a clean image of
  another size is centre-cropped to a square and resized to R×R, its alpha or ``--mask`` alike
  (printed); the output is R×R. A measurement for it is never resized: it must be exactly R×R
  (R/f × R/f for ×f SR).
* **What was read.** One line per input says how it was read: as a measurement (why, the
  fraction of pixels to fill, the JPEG quality found in its quantisation tables, the scale or
  kernel, and the σ_y assumed) or as a clean image (how it was degraded).
* **Outputs.** The restored image keeps the input's colour mode (grayscale stays grayscale) and
  bit depth (16-bit PNG in, 16-bit PNG out); alpha is not written (nothing is missing any more).
  ``--save-all`` adds the measurement, the mask (white = observed) or kernel (scaled to its
  maximum), a side-by-side PNG and the effective settings as YAML. Every file is written
  atomically and none is overwritten without ``--overwrite``; all outputs are checked before
  any work starts.
* **Speed.** ``--threads N`` sets torch's CPU threads (default: torch's count, which honours
  ``OMP_NUM_THREADS``); the count used is printed for CPU runs, and the progress bar shows the
  time left. ``--fast`` (CUDA only) runs the network in bf16 autocast with channels_last and
  ``torch.compile(mode="reduce-overhead")`` and draws the sampler's noise from CUDA generators
  seeded like the CPU ones; the measurement of a clean input is drawn as without it. Results
  differ slightly from the default fp32 path; the first batch compiles (a minute or more for a
  large prior). The settings record ``speed: fast`` (default ``fp32``).
* **Folders.** Images directly in the folder, sorted by name; image ``i`` uses seed + i. They
  are solved in batches (``--batch-size``) under one progress bar; a failing file is reported
  on one line and the others go on; the exit status is then 1.
* **Exit codes.** 0 success; 1 bad data or environment (unreadable/corrupt image, wrong size,
  bad mask or kernel, missing weights, no GPU for ``--device cuda``, any failed file); 2 usage
  (unknown or conflicting options, ``--fast`` on the CPU, unknown task/method/prior, unsupported
  method × task pair, missing input path, an output that exists). Errors are one line on stderr; set
  ``INVDIFF_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__, api, config
from .. import io as imageio
from ..tasks import TASKS
from . import outputs
from .text import plain_text


@dataclass
class Prepared:
    """A file read and turned into a :class:`~invdiff.api.Case`, plus what writing its outputs needs."""

    path: Path
    case: api.Case
    data: imageio.ImageData
    gray: bool
    keep_orientation: int  # EXIF orientation still to apply to the result (JPEG measurements), 1 = none


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..solvers import available_solvers

    p = sub.add_parser("solve", help="restore an image or a folder of images", description=plain_text(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input and output")
    g.add_argument("--input", required=True, help="an image file (PNG, JPEG, …, .npy) or a folder of them")
    g.add_argument("--output", help="output file, or folder for a folder input (default: ./STEM.restored.png, "
                                    "./FOLDER.restored/)")
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")
    g.add_argument("--save-all", action="store_true",
                   help="also save measurement, mask/kernel, a side-by-side PNG and the settings (YAML)")
    g = p.add_argument_group("the problem")
    g.add_argument("--task", choices=TASKS, help="required here or in a --config file")
    g.add_argument("--mask", help="inpaint: mask image, white = observed, black = missing (same size as the input)")
    g.add_argument("--invert-mask", action="store_true", help="the mask file's holes are white")
    g.add_argument("--kernel", help="blur tasks: kernel file (.npy 2-D array, grayscale image, .mat)")
    g.add_argument("--scale", type=int, help="sr4: the SR factor; the input is then the low-resolution image")
    g.add_argument("--quality", type=int, help="jpeg: IJG quality 1..100 (default: read from a JPEG file, else 10)")
    g.add_argument("--sigma-y", type=float, help="measurement noise std on the [-1, 1] scale (default: 0.05, jpeg 0)")
    g.add_argument("--degrade", action=argparse.BooleanOptionalAction, default=None,
                   help="force reading the input as a clean image (--degrade) or as the measurement (--no-degrade)")
    g = p.add_argument_group("the solver")
    g.add_argument("--method", choices=available_solvers(), help="required here or in a --config file")
    g.add_argument("--steps", type=int, help="solver steps (default: the method's, e.g. dps 1000, ddrm 20)")
    g.add_argument("--prior", help="built-in prior name or path (default: natural, any size; faces64-sr4 for sr3; "
                                   "faces64 for 64×64 faces; see `invdiff priors`)")
    g.add_argument("--prior-architecture", help="U-Net preset for guided-diffusion .pt priors (e.g. adm-ffhq256)")
    g.add_argument("--seed", type=int, help="random seed (default 0; image i of a folder uses seed + i)")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--batch-size", type=int, help="images per solver call for folders (default 8)")
    g.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's, which honours "
                                               "OMP_NUM_THREADS); printed for CPU runs")
    g.add_argument("--tiling", choices=("auto", "on", "off"),
                   help="run the network on overlapping blended tiles: auto (default) only above the prior's pixel "
                        "budget, on always, off never")
    g.add_argument("--tile-size", type=int, help="tile side in pixels (a multiple of the network's stride; default 512)")
    g.add_argument("--tile-overlap", type=int, help="pixels shared by neighbouring tiles (default 64)")
    g.add_argument("--fast", action="store_true",
                   help="CUDA only: run the network in bf16 autocast with channels_last and "
                        "torch.compile(mode='reduce-overhead') (CUDA graphs), and draw the sampler's noise from CUDA "
                        "generators seeded from the same seeds; results then differ slightly from the default fp32 "
                        "path, and the first call compiles for a minute or more (an error on the CPU)")
    g.add_argument("--config", action="append", default=[], help="YAML settings file (repeatable; later wins)")
    g = p.add_argument_group("output on screen")
    g.add_argument("--quiet", action="store_true", help="print nothing but errors")
    g.add_argument("--verbose", action="store_true", help="print the effective settings first")

    def one_line_error(message: str) -> None:
        p.exit(2, f"{p.prog}: error: {message} (see {p.prog} --help)\n")

    p.error = one_line_error


# -- errors -------------------------------------------------------------------------------------
def exit_code(err: BaseException) -> int:
    """2 for usage errors, 1 for bad data and everything else."""
    from ..solvers import UnsupportedTaskError

    usage = (api.UsageError, config.ConfigError, UnsupportedTaskError, FileExistsError, FileNotFoundError)
    return 2 if isinstance(err, usage) else 1


def one_line(err: BaseException) -> str:
    known = (ValueError, OSError, RuntimeError, KeyError, TypeError)
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    text = " ".join(text.split())
    return text if isinstance(err, known) else f"{type(err).__name__}: {text} (set INVDIFF_DEBUG=1 for the traceback)"


def about(path: Path, err: BaseException) -> str:
    """One line on a failed file: the error, prefixed with the file's path unless the message names it already."""
    text = one_line(err)
    return text if str(path) in text or path.name in text else f"{path}: {text}"


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; a CUDA device without a GPU is an error (exit 1)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise api.UsageError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name} was asked for, but torch sees no CUDA GPU here; use --device cpu.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"--device {name} does not exist: torch sees {torch.cuda.device_count()} GPU(s).")
    return dev


# -- the run ------------------------------------------------------------------------------------
class Console:
    """Notes on stdout (not with --quiet), errors on stderr, without breaking a progress bar."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stdout)

    def error(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"invdiff solve: error: {text}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    console = Console(args.quiet)
    try:
        return _run(args, console)
    except KeyboardInterrupt:
        console.error("interrupted; files already completed were kept, no partial file was written.")
        return 130
    except Exception as err:
        if os.environ.get("INVDIFF_DEBUG"):
            raise
        console.error(one_line(err))
        return exit_code(err)


def _check_flags(args: argparse.Namespace, task: str) -> None:
    for flag, value, tasks in (("--mask", args.mask, ("inpaint",)), ("--invert-mask", args.invert_mask, ("inpaint",)),
                               ("--kernel", args.kernel, ("gaussian_blur", "motion_blur")),
                               ("--scale", args.scale, ("sr4",)), ("--quality", args.quality, ("jpeg",))):
        if value and task not in tasks:
            raise api.UsageError(f"{flag} applies to --task {' / '.join(tasks)}, not {task}.")
    if args.invert_mask and not args.mask:
        raise api.UsageError("--invert-mask needs --mask (alpha holes are always α = 0).")
    if args.scale is not None and args.scale < 1:
        raise api.UsageError(f"--scale must be a positive integer, got {args.scale}.")
    if args.threads is not None and args.threads < 1:
        raise api.UsageError(f"--threads must be a positive integer, got {args.threads}.")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise api.UsageError(f"--quality must be in 1..100 (IJG scale), got {args.quality}.")


def _load_prior(settings: dict, device: torch.device, fast: bool = False):
    from ..priors import BUILTIN_PRIORS

    name = settings["prior"]
    try:
        return api.get_prior(name, device, settings["prior_architecture"], fast)
    except FileNotFoundError as err:
        if name in BUILTIN_PRIORS:
            raise RuntimeError(f"{err} Train or download them, or pass --prior PATH.") from None
        if Path(str(name)).expanduser().exists():  # a prior whose weight files are missing: bad data
            raise RuntimeError(str(err)) from None
        raise api.UsageError(f"unknown prior {name!r}: not a built-in prior ({', '.join(BUILTIN_PRIORS)}) and no "
                             "such file or folder.") from None


def list_inputs(path: Path, console: Console) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"--input {path} does not exist; check the path.")
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in imageio.IMAGE_SUFFIXES]
    if len(images) < len(files):
        console.say(f"{path}: skipped {len(files) - len(images)} file(s) that are not images by their suffix")
    if not images:
        raise api.DataError(f"folder {path} holds no images ({', '.join(imageio.IMAGE_SUFFIXES)}).")
    return images


def prepare(path: Path, index: int, args, settings: dict, prior, mask, kernel, console: Console) -> Prepared:
    """Read one file and build its problem (input rule: :mod:`invdiff.api`; size rule: module docstring)."""
    task, res = settings["task"], api.native_size(prior)
    data = imageio.read_image(path, orient_pixels=False)
    for note in data.notes:
        console.say(note)
    pixels = torch.from_numpy(np.ascontiguousarray(data.pixels)).permute(2, 0, 1)[None]
    gray = pixels.shape[1] == 1
    if pixels.shape[1] != prior.channels:
        if not (gray and prior.channels == 3):
            raise api.DataError(f"{path.name} has {pixels.shape[1]} channels but the prior {prior.channels}.")
        pixels = pixels.expand(-1, 3, -1, -1)
    alpha = None if data.alpha is None else torch.from_numpy(np.ascontiguousarray(data.alpha))
    holes = alpha is not None and bool((alpha == 0).any())
    if holes and task != "inpaint":
        raise api.DataError(f"{path.name} has transparent pixels; only --task inpaint reads them (as holes): "
                            "flatten the image first.")
    if holes and mask is not None:
        raise api.UsageError(f"{path.name} has transparent pixels and --mask was given; pass only one of them.")
    if alpha is not None and not holes:
        console.say(f"{path.name}: its alpha channel has no fully transparent pixel; ignored")
        alpha = None
    protocol = settings["protocol"].get(task, {})
    src = api.Source(pixels, alpha, data.format == "JPEG", data.jpeg_quality, path.name)
    factor = args.scale or int(protocol.get("factor", 4))
    info = api.degradation_info(task, src, res, mask, kernel, args.scale, factor)
    degrade = settings["degrade"]
    measured = (not degrade) if degrade is not None else info is not None
    keep = data.orientation if (measured and task == "jpeg") else 1
    if data.orientation != 1 and keep == 1:
        src.pixels = torch.from_numpy(imageio.orient(data.pixels, data.orientation).copy()).permute(2, 0, 1)[None]
        src.pixels = src.pixels.expand(-1, pixels.shape[1], -1, -1)
        src.alpha = None if src.alpha is None else torch.from_numpy(imageio.orient(src.alpha.numpy(), data.orientation))
        console.say(f"{path.name}: applied EXIF orientation {data.orientation}")
    elif keep != 1:
        console.say(f"{path.name}: JPEG measurement solved in its stored orientation; the result gets EXIF "
                    f"orientation {keep}")
    h, w = src.pixels.shape[-2:]
    if not measured and res is not None and (h, w) != (res, res):
        src.pixels, src.alpha, mask = _fit_fixed_size(src, mask, res)
        also = " (its alpha alike)" if src.alpha is not None else " (the --mask alike)" if mask is not None else ""
        console.say(f"{path.name}: {w}×{h} → {res}×{res} (centre crop to {min(h, w)}² and bicubic resize{also}): the "
                    f"prior {prior.name} works at {res}×{res} only, so the output is {res}×{res}")
    generator = torch.Generator().manual_seed(settings["seed"] + index)
    case = api.make_case(src, task, res, generator, mask=mask, kernel=kernel, scale=args.scale, quality=args.quality,
                         sigma_y=settings["sigma_y"], degrade=degrade, protocol=protocol,
                         smallest=api.smallest_side(prior))
    case.details.update(input=str(path), seed=settings["seed"] + index)
    if not case.degraded:
        console.say(outputs.measurement_note(path.name, case, args.quality))
    return Prepared(path, case, data, gray, keep)


def _fit_fixed_size(src: api.Source, mask, res: int):
    """Crop and resize a clean image, its alpha and a mask of its size for a fixed-size prior (module docstring)."""
    h, w = src.pixels.shape[-2:]
    alpha = None if src.alpha is None else imageio.fit_square_mask(src.alpha[None].double(), res)[0]
    if mask is not None and tuple(mask.shape[-2:]) == (h, w):
        mask = imageio.fit_square_mask(mask.reshape(1, h, w), res)
    return imageio.fit_square(src.pixels, res), alpha, mask


def _run(args: argparse.Namespace, console: Console) -> int:
    start = time.perf_counter()
    flags = {k: getattr(args, k) for k in ("task", "method", "prior", "prior_architecture", "seed", "device",
                                           "batch_size", "sigma_y", "steps", "degrade")}
    settings = config.resolve(args.config, flags)
    task, method = settings["task"], settings["method"]
    if task is None or method is None:
        raise api.UsageError(f"--{'task' if task is None else 'method'} is required (as a flag or in a --config file).")
    _check_flags(args, task)
    device = resolve_device(settings["device"])
    if args.fast:
        api.check_fast(device, "--fast")
    from ..solvers import compatibility

    reason = compatibility([task])[method][task]
    if reason is not None:
        raise api.UsageError(f"{method} cannot solve {task}: {reason} See `invdiff methods`.")
    solver = api.get_solver(method, **config.method_settings(settings, method))
    inputs = list_inputs(Path(args.input), console)
    folder = Path(args.input).is_dir()
    mask = None if args.mask is None else imageio.read_mask(args.mask, args.invert_mask)
    kernel = None if args.kernel is None else imageio.read_kernel(args.kernel)
    prior = _load_prior(settings, device, args.fast)
    tiling = {k: v for k, v in (("mode", args.tiling), ("tile_size", args.tile_size), ("overlap", args.tile_overlap))
              if v is not None}
    if tiling:
        prior = api.with_tiling(prior, tiling)
        console.say(f"network tiling: {', '.join(f'{k} {v}' for k, v in prior.tiling.to_dict().items())}")
    from ..solvers import prior_mismatch

    mismatch = prior_mismatch(solver, prior)
    if mismatch is not None:
        raise api.UsageError(f"{mismatch} Pass --prior.")
    threads = args.threads or torch.get_num_threads()
    effective = {**settings, "device": str(device), "speed": api.speed_mode(args.fast), "solver": solver.settings(),
                 "prior_resolution": prior.resolution, "prior_any_size": api.any_size(prior), "threads": threads}
    if args.verbose:
        console.say("effective settings:\n" + config.dump(outputs.plain(effective)).rstrip())
    if device.type == "cpu":
        console.say(f"running on the CPU with {threads} thread{'s' if threads > 1 else ''} (--threads N to change)")
    if args.fast:
        console.say(f"--fast on {device}: bf16 autocast + channels_last + CUDA graphs; the first batch compiles the "
                    "network first (a minute or more for a large prior)")
    prepared, failed = {}, {}
    for i, path in enumerate(inputs):
        try:
            prepared[i] = prepare(path, i, args, settings, prior, mask, kernel, console)
        except Exception as err:
            if not folder or os.environ.get("INVDIFF_DEBUG"):
                raise
            failed[i] = err
            console.error(about(path, err))
    plans = outputs.plan(prepared, Path(args.input), folder, args.output, args.save_all, args.overwrite)
    for i, prep in prepared.items():
        if prep.case.degraded:
            console.say(outputs.degrade_note(prep))
    nfe = 0
    from tqdm import tqdm

    bar = tqdm(total=len(prepared), unit="image", disable=args.quiet or not folder, file=sys.stderr)
    for group in api.group_cases(sorted(prepared), {i: p.case for i, p in prepared.items()}, settings["batch_size"]):
        try:
            with api.cpu_threads(args.threads):
                result = api.solve_cases([prepared[i].case for i in group], solver, prior, device,
                                         progress=not (args.quiet or folder), fast=args.fast)
            nfe = result.nfe
            for j, i in enumerate(group):
                outputs.write(prepared[i], result.x[j:j + 1].cpu(), plans[i], result, effective, args,
                              console.say)
        except Exception as err:
            if os.environ.get("INVDIFF_DEBUG"):
                raise
            if not folder:
                raise
            for i in group:
                failed[i] = err
                console.error(about(inputs[i], err))
        bar.update(len(group))
    bar.close()
    done = len(inputs) - len(failed)
    where = plans[min(prepared)].main.parent if folder and prepared else plans[0].main if prepared else "-"
    tail = f"; {len(failed)} failed (listed above)" if failed else ""
    mode = ", fast mode" if args.fast else ""
    console.say(f"restored {done} of {len(inputs)} image(s) in {time.perf_counter() - start:.1f} s, NFE {nfe} per "
                f"image, seed {settings['seed']}{mode} → {where}{tail}  [invdiff {__version__}]")
    return 1 if failed else 0
