"""Run a suite: every (task, method, image) row once, resumable, sharded over ``torchrun`` ranks.

Rank ``r`` of ``W`` takes images ``r, r+W, …`` of the list (within each group of images the same
methods run on, so a subset for the expensive methods is spread too), skips rows already on disk
(in ``results.jsonl`` or any shard), measures each image with its own generator
(:mod:`invdiff.bench.protocol`), runs the baselines on the CPU and the diffusion methods on its
device, and appends one row per image. After a barrier rank 0 merges the shards and writes the
report. Without ``torchrun`` the same code is one rank of one.

**Part of a suite** (``only=[…]`` / ``--only``: some methods and baselines; ``tasks=[…]`` / ``--tasks``: some
tasks): see :mod:`invdiff.bench.parts`. Such runs keep the suite's fingerprint, so their folders join
(``benchmarks/results/join_runs.py``) and a later whole run into the same folder computes only what is missing.

**Fast mode** (``fast=True``, ``invdiff bench --fast``, CUDA only): every loaded prior runs with
:data:`invdiff.api.FAST_SPEED` (bf16 autocast, channels_last, ``torch.compile`` with CUDA graphs)
and the sampler generators are CUDA generators with the protocol's sampler seeds; the measurement
generators stay on the CPU, so every method, in either mode, sees the same measurements. Before the
first batch of each (task, method, batch size), the first :data:`WARMUP_CALLS` network calls of the
same solve run untimed (compiling the graphs and recording the CUDA graphs), so the seconds do not
include compilation and no batch is solved twice. ``compile=False`` (``--fast --no-compile``) is the same
without ``torch.compile`` (mode ``"fast-eager"``; :func:`invdiff.api.fast_speed` says why it exists). Every row
and the run's record in ``meta.json`` say ``"speed": "fast"``, ``"fast-eager"`` or ``"fp32"``, and a folder never
mixes them: resuming one whose rows were made in another mode is an error.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import api
from ..baselines import run_baseline, why_not
from ..metrics import Metrics
from ..priors import CallLimitReached
from ..solvers import build_solver
from . import images as imgio
from .meta import check_or_write_meta, prior_record
from .parts import restrict, select_tasks
from .protocol import (
    BenchImage,
    Measured,
    batch_operator,
    data_root,
    load_images,
    load_native,
    measure,
    native_shape,
    needs_data_root,
    sampler_generator,
    suite_images,
)
from .ranks import share
from .report import write_report
from .scopes import grid_names
from .sizes import size_problem
from .store import all_rows, merge_shards, row_key, writer_for
from .suite import MethodSpec, Suite, TaskSpec

#: network calls of the untimed warm-up solve in fast mode: the compiled graph is built on the first call,
#: its CUDA graph recorded on the second and replayed from the third (forward, and backward for DPS)
WARMUP_CALLS = 4


@dataclass
class Dist:
    """This process's place in a ``torchrun`` launch (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier(device_ids=[self.device.index]) if self.backend == "nccl" else dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def resolve_device(device: str | None, local_rank: int = 0) -> torch.device:
    """``device`` (default: CUDA when present); a bare ``cuda`` means this rank's local GPU."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} was asked for but CUDA is not available; pass --device cpu.")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    return dev


def setup_distributed(device: str | None) -> Dist:
    """Join the ``torchrun`` process group (NCCL on CUDA, gloo on CPU) if launched by it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if world == 1:
        return Dist(device=dev)
    import datetime

    import torch.distributed as dist

    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=12))
    return Dist(dist.get_rank(), dist.get_world_size(), dev, backend)


@dataclass
class Entry:
    """One column of a task's table: a baseline or a diffusion method, or why it is not run."""

    label: str
    kind: str
    settings: dict[str, Any]
    reason: str | None = None
    solver: Any = None
    prior: Any = None
    images: set[str] | None = None  # the only images it runs on (a subset), None: all


def method_prior_source(suite: Suite, method: MethodSpec) -> str | None:
    """Where ``method``'s prior comes from: its own ``prior:``, a conditional solver's default, else the suite's."""
    from ..solvers import default_prior
    from ..solvers.registry import SOLVERS

    if method.prior:
        return method.prior
    if getattr(SOLVERS[method.method], "conditional", False):
        return default_prior(method.method)
    return suite.prior


def plan_task(suite: Suite, task: TaskSpec, example: Measured, image_shape: tuple[int, ...],
              method_priors: dict[str, Any] | None = None) -> list[Entry]:
    """The baselines that apply to the task (in suite order) and every diffusion method, with reasons.

    ``method_priors`` maps the labels of methods that do not use the suite's prior to their loaded
    prior; its name and sha256 are then part of the method's recorded settings.
    """
    op = example.operator
    entries = [Entry(b, "baseline", dict(suite.baseline_settings.get(b, {})))
               for b in suite.baselines if why_not(b, op, image_shape) is None]
    for m in suite.methods:
        solver = build_solver(m.method, **m.settings_for(task.label))
        settings = {"method": m.method, **solver.settings()}
        own = (method_priors or {}).get(m.label)
        if own is not None:
            settings["prior"] = {"name": own.name, "sha256": own.meta.get("sha256")}
        entries.append(Entry(m.label, "diffusion", settings, solver.supports(op), solver, own, suite.method_images(m)))
    return entries


class Runner:
    """Runs one suite into one output folder (see the module docstring)."""

    def __init__(self, suite: Suite, out: str | Path, data: str | Path | None = None, limit: int | None = None,
                 device: str | None = None, batch_size: int | None = None, save_images: bool = False,
                 prior: Any = None, lpips_weights: str | None = None, progress: bool = True,
                 command: list[str] | None = None, fast: bool = False, only: list[str] | None = None,
                 compile: bool = True, tasks: list[str] | None = None) -> None:
        """``prior`` replaces the suite's prior: a built-in name, a path, or an already loaded prior object;
        ``only``: label patterns of the methods and baselines to run, ``tasks``: of the tasks (see
        :mod:`invdiff.bench.parts`); ``compile=False`` with ``fast``: fast mode without ``torch.compile``."""
        if not compile and not fast:
            raise api.UsageError("--no-compile (compile=False) changes only the fast mode; add --fast (fast=True).")
        suite = restrict(suite, only)
        self.fast = bool(fast)
        self.speed = api.speed_mode(self.fast, compile)
        self.fast_speed = api.fast_speed(compile) if self.fast else None
        if self.fast:  # before any work: fast mode needs bf16 autocast (and CUDA graphs when compiling)
            api.check_fast(resolve_device(device, int(os.environ.get("LOCAL_RANK", "0"))), "--fast (fast=True)")
        self.run_tasks = select_tasks(suite, tasks)
        self._warm: set[tuple[str, str, tuple]] = set()  # (task, method, batch shape) already compiled
        self.suite, self.out = suite, Path(out)
        self.images = suite_images(suite, data_root(data) if needs_data_root(suite) else None, limit)
        self.shapes = {im.name: self._image_shape(im) for im in self.images}
        self.grid = set(grid_names(suite.to_dict(), [im.name for im in self.images]))  # images the grids show
        self.batch_size = int(batch_size or suite.batch_size)
        self.save_images, self.progress, self.command = save_images, progress, command
        self._given_prior = prior if prior is not None and not isinstance(prior, (str, Path)) else None
        self.prior_source = (self._given_prior.name if self._given_prior is not None else
                             (str(prior) if prior is not None else suite.prior))
        self.dist = setup_distributed(device)
        self.device = self.dist.device
        self.prior = None
        self.method_priors: dict[str, Any] = {}  # label → prior, for methods with their own prior
        if suite.methods:
            self._load_priors()
        self.metrics = Metrics(device=self.device, lpips_weights=lpips_weights, lpips=suite.lpips)

    def _load_priors(self) -> None:
        """The suite's prior (if a method uses it) and each method's own, each loaded once; checks they fit."""
        from ..priors.registry import load_prior
        from ..solvers import prior_mismatch

        loaded: dict[str, Any] = {}
        for m in self.suite.methods:
            own = method_prior_source(self.suite, m)
            source = own if own != self.suite.prior else self.prior_source
            if not source:
                raise ValueError(f"suite {self.suite.name!r} runs diffusion methods but names no prior; pass --prior.")
            if source not in loaded and source == self.prior_source and self._given_prior is not None:
                loaded[source] = self._given_prior.to(self.device)
            elif source not in loaded:
                try:
                    loaded[source] = load_prior(source, device=self.device)
                except FileNotFoundError as err:
                    raise FileNotFoundError(f"suite {self.suite.name!r}, method {m.label!r}: {err}") from None
                if self.fast:  # the runner's own objects: configured in place
                    loaded[source].configure(**self.fast_speed)
            mismatch = prior_mismatch(m.method, loaded[source])
            if mismatch is not None:
                raise ValueError(f"suite {self.suite.name!r}, method {m.label!r}: {mismatch}")
            self._check_sizes(m, loaded[source])
            if source == self.prior_source:
                self.prior = loaded[source]
            else:
                self.method_priors[m.label] = loaded[source]

    def _image_shape(self, image: BenchImage) -> tuple[int, int]:
        """``(H, W)`` the image is evaluated at: its own (cropped) size, or the suite's square resolution."""
        if self.suite.native:
            return native_shape(image.path, self.suite.multiple_of)
        return (self.suite.resolution, self.suite.resolution)

    def _check_sizes(self, method: MethodSpec, prior) -> None:
        """Refuse, before any work, a prior asked to serve a size it cannot (see :mod:`invdiff.bench.sizes`)."""
        wanted = self.suite.method_images(method)
        for shape in sorted({s for name, s in self.shapes.items() if wanted is None or name in wanted}):
            problem = size_problem(prior, *shape)
            if problem is not None:
                raise api.UsageError(f"suite {self.suite.name!r}, method {method.label!r}: {problem}")

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> Path:
        """Compute every missing row, merge, and (rank 0) write the report; returns the output folder."""
        start = time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        plans = {t.label: self._plan(t) for t in self.run_tasks}
        rows = all_rows(self.out)
        self._check_speed(rows)
        check_or_write_meta(self.out, self.suite, prior_record(self.prior, self.prior_source), self.metrics, plans,
                            self._run_record(), write=self.dist.rank == 0)
        done = {row_key(r) for r in rows}
        mine = self._my_images()
        with writer_for(self.out, self.dist.rank, self.dist.world) as writer:
            for task in self.run_tasks:
                self._run_task(task, plans[task.label], mine, done, writer)
        self.dist.barrier()
        if self.dist.rank == 0:
            merge_shards(self.out)
            write_report(self.out, self.images, wall_seconds=time.time() - start)
        self.dist.barrier()
        self.dist.close()
        return self.out

    def _my_images(self) -> list[BenchImage]:
        """This rank's share of each group of images that the same methods run on, so that a subset of expensive
        methods is spread over the ranks too; within a group, few shapes per rank (:func:`.ranks.share`)."""
        groups: dict[tuple[str, ...], list[BenchImage]] = {}
        for im in self.images:
            key = tuple(m.label for m in self.suite.methods
                        if m.images is not None and im.name in self.suite.method_images(m))
            groups.setdefault(key, []).append(im)
        return [im for group in groups.values() for im in share(group, self.dist.rank, self.dist.world, self.shapes.get)]

    def _check_speed(self, rows: list[dict[str, Any]]) -> None:
        """Refuse to add rows of one speed mode to a folder holding rows of another (older rows: fp32)."""
        other = [r for r in rows if r.get("speed", "fp32") != self.speed]
        if other:
            theirs = other[0].get("speed", "fp32")
            how = {"fast": "with --fast (fast=True)", "fast-eager": "with --fast --no-compile (compile=False)"}.get(
                theirs, "without --fast (fast=False)")
            raise api.UsageError(f"{self.out} holds {len(other)} row(s) computed in {theirs} mode but this run is in "
                                 f"{self.speed} mode; a folder never mixes modes: rerun {how}, or pass a new --out.")

    def _plan(self, task: TaskSpec) -> list[Entry]:
        first = self.images[0]
        truth = self._load([first])
        example = measure(self.suite, task, first, truth)
        return plan_task(self.suite, task, example, tuple(truth.shape), self.method_priors)

    def _load(self, images: list[BenchImage]) -> torch.Tensor:
        """``N×3×H×W`` ground truths of images of one shape, in [0, 1]."""
        if self.suite.native:
            return torch.cat([load_native(im, self.suite.multiple_of) for im in images])
        return load_images(images, self.suite.resolution)

    def _chunks(self, mine: list[BenchImage]) -> list[list[BenchImage]]:
        """Batches of at most ``batch_size`` images of one shape (in list order within each shape)."""
        by_shape: dict[tuple[int, int], list[BenchImage]] = {}
        for im in mine:
            by_shape.setdefault(self.shapes[im.name], []).append(im)
        return [group[i:i + self.batch_size] for group in by_shape.values()
                for i in range(0, len(group), self.batch_size)]

    def _keeps_images(self, image: BenchImage) -> bool:
        return self.save_images or image.name in self.grid

    def _run_task(self, task: TaskSpec, plan: list[Entry], mine: list[BenchImage], done: set, writer) -> None:
        runnable = [e for e in plan if e.reason is None]
        bar = tqdm(self._chunks(mine), desc=task.label, disable=not self.progress or self.dist.rank != 0)
        for chunk in bar:
            todo = {e.label: [im for im in chunk if (task.label, e.label, im.name) not in done
                              and (e.images is None or im.name in e.images)] for e in runnable}
            if not any(todo.values()):
                continue
            truth = self._load(chunk)
            gt = {im.name: truth[j:j + 1] for j, im in enumerate(chunk)}
            measured = {im.name: measure(self.suite, task, im, gt[im.name]) for im in chunk}
            for im in chunk:
                if self._keeps_images(im):
                    imgio.save(self.out, task.label, "_truth", im.name, gt[im.name])
                    imgio.save(self.out, task.label, "_measured", im.name, self._display(measured[im.name].y, gt[im.name]))
            for entry in runnable:
                if todo[entry.label]:
                    writer.extend(self._run_entry(task, entry, todo[entry.label], measured, gt))

    @staticmethod
    def _display(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A measurement as a picture of ``like``'s size (nearest-neighbour if it is smaller)."""
        size = tuple(like.shape[-2:])
        return y if tuple(y.shape[-2:]) == size else F.interpolate(y, size=size, mode="nearest")

    def _run_entry(self, task: TaskSpec, entry: Entry, todo: list[BenchImage], measured: dict[str, Measured],
                   gt: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        op = batch_operator([measured[im.name].operator for im in todo])
        groups = [todo] if op is not None else [[im] for im in todo]
        rows = []
        for group in groups:
            group_op = op if op is not None else measured[group[0].name].operator
            y = torch.cat([measured[im.name].y for im in group])
            x = torch.cat([gt[im.name] for im in group])
            restored, info = self._solve(task, entry, group, group_op, y, tuple(x.shape))
            scores = self.metrics(restored, x)
            for j, im in enumerate(group):
                if self._keeps_images(im):
                    imgio.save(self.out, task.label, entry.label, im.name, restored[j:j + 1])
                rows.append({"task": task.label, "method": entry.label, "kind": entry.kind, "image": im.name,
                             "index": im.index, **{k: v[j] for k, v in scores.items()}, **info,
                             "batch": len(group), "rank": self.dist.rank, "device": str(self.device),
                             "speed": self.speed})
        return rows

    def _solve(self, task: TaskSpec, entry: Entry, group: list[BenchImage], op, y: torch.Tensor,
               shape: tuple[int, ...]):
        n = len(group)
        if entry.kind == "baseline":
            t0 = time.perf_counter()
            out = run_baseline(entry.label, y, op, shape, **entry.settings)
            seconds = time.perf_counter() - t0
            return out, {"nfe": 0, "backprop": False, "seconds": seconds / n, "peak_mem_mb": None}
        cuda = self.device.type == "cuda"
        prior = entry.prior if entry.prior is not None else self.prior
        gen_device = self.device if self.fast else "cpu"

        def solve():
            gens = [sampler_generator(self.suite, task, im, gen_device) for im in group]
            return entry.solver.solve(y.to(self.device), copy.deepcopy(op).to(self.device), prior,
                                      generator=gens, image_shape=shape, progress=False)

        warmup = None  # seconds of the warm-up solve (in fast mode: compiling this shape's graphs, if new)
        if self.fast and (task.label, entry.label, shape) not in self._warm:
            # the first calls of the same solve compile this shape's graphs; the timed solve below runs whole
            t0 = time.perf_counter()
            with prior.limit_calls(WARMUP_CALLS), contextlib.suppress(CallLimitReached):
                solve()
            warmup = time.perf_counter() - t0
            self._warm.add((task.label, entry.label, shape))
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        result = solve()
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if cuda else None
        return result.x.float().cpu(), {"nfe": result.nfe, "backprop": result.backprop, "seconds": result.seconds / n,
                                        "peak_mem_mb": peak, "warmup_seconds": warmup}

    def _run_record(self) -> dict[str, Any]:
        dev = self.device
        return {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": self.command,
                "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                "world_size": self.dist.world, "batch_size": self.batch_size, "images": len(self.images),
                "speed": self.speed, **({"fast_mode": dict(self.fast_speed)} if self.fast else {}),
                **({"tasks": [t.label for t in self.run_tasks]} if len(self.run_tasks) < len(self.suite.tasks) else {}),
                "torch": torch.__version__, "cuda": torch.version.cuda, "threads": torch.get_num_threads()}


def run_suite(suite: Suite, out: str | Path, **kwargs) -> Path:
    """Run ``suite`` into ``out`` (keyword arguments: see :class:`Runner`)."""
    return Runner(suite, out, **kwargs).run()
