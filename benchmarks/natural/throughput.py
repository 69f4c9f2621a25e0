"""Training throughput of the natural-image prior (issue 20): crops/s of the trainer's real step, per setting.

Issue 20 asks for ≥ 5,000 64² crops/s per GPU; the last run gave 3,520 per H200 (batch 512, DDP on 3 GPUs,
``torch.compile`` default mode, bf16 autocast, channels_last, fused AdamW, ``_foreach_lerp_`` EMA, grad
clipping). This script asks which cheap settings close the gap, on one GPU, without DDP: each variant
builds a real :class:`~invdiff.training.trainer.Trainer` (``--preset natural``, ``crop`` 64, the
launch script's hyper-parameters) and times ``Trainer.train_step`` itself — warm-up (compile) first,
then ``--steps`` steps between two ``torch.cuda.synchronize`` calls.

Variants are names joined by ``+`` (e.g. ``cudnn_benchmark+batch1024``):

* ``default`` — today's settings;
* ``cudnn_benchmark`` — ``TrainConfig.cudnn_benchmark`` (``torch.backends.cudnn.benchmark = True``);
* ``batchN`` — N crops per step instead of ``--batch``;
* ``no_clip`` — no grad-norm clipping (the script stubs ``torch.nn.utils.clip_grad_norm_``; only to
  measure what clipping costs, not a training option);
* ``compile_max_autotune`` — ``torch.compile(mode="max-autotune-no-cudagraphs")`` instead of the
  default mode (set here: the trainer has no compile-mode option; autotuning may take minutes).

Each variant runs in its own subprocess (no compiled graphs, cuDNN choices or allocator state leak
between variants; only Inductor's on-disk cache is shared unless ``--fresh-inductor-cache``, which
shortens later compiles but not the steps), under ``--variant-timeout`` seconds; a variant that
fails or times out is recorded with its phase and error, and the JSON is rewritten after every
variant, so a cut run keeps what finished.

Data: ``--pack PATH`` trains on the training pack's random crops (:class:`~invdiff.training.crops.CropBatches`,
cut on the GPU, as in training); without it, synthetic mode: a few random [-1, 1] batches made once
on the device in channels_last and cycled (zero data cost: the network, optimiser and EMA only).
The JSON's ``data`` says which ran. On the CPU (tests) the trainer runs without compile or bf16.

    python3 benchmarks/natural/throughput.py --batch 512 --steps 60 --out $OUT/throughput.json
    python3 benchmarks/natural/throughput.py --preset tiny-any --crop 16 --batch 4 --steps 2 \\
        --variants default,no_clip --device cpu --out /tmp/t.json                        # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: cheap, likely winners first (the baseline before all); max-autotune last, as it may autotune for minutes
DEFAULT_VARIANTS = ("default", "cudnn_benchmark", "cudnn_benchmark+batch1024", "batch1024", "no_clip",
                    "compile_max_autotune")
GOAL_CROPS_PER_S = 5000
#: the launch script's hyper-parameters (benchmarks/natural/launch_train.sh)
TRAIN_SETTINGS = {"lr": 2e-4, "warmup_steps": 500, "ema_decay": 0.999, "max_scale": 2.0, "full_scale_fraction": 0.5}
TORCHRUN_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Variant:
    """The settings one variant name stands for."""

    name: str
    batch: int
    cudnn_benchmark: bool = False
    clip: bool = True
    compile_mode: str = "default"


def parse_variant(name: str, batch: int) -> Variant:
    """``name`` (tokens joined by ``+``) as a :class:`Variant`; ``batch`` unless a ``batchN`` token says otherwise."""
    fields: dict = {"batch": batch}
    tokens = name.split("+")
    for tok in tokens:
        m = re.fullmatch(r"batch([1-9][0-9]*)", tok)
        if tok == "default" and len(tokens) == 1:
            continue
        if tok == "cudnn_benchmark":
            fields["cudnn_benchmark"] = True
        elif tok == "no_clip":
            fields["clip"] = False
        elif tok == "compile_max_autotune":
            fields["compile_mode"] = "max-autotune-no-cudagraphs"
        elif m:
            fields["batch"] = int(m.group(1))
        else:
            raise ValueError(f"unknown variant token {tok!r} in {name!r}: use default alone, or cudnn_benchmark, "
                             "batchN, no_clip, compile_max_autotune joined by '+'.")
    return Variant(name=name, **fields)


# -- the worker: one variant in this process ---------------------------------------------------------------
class SyntheticBatches:
    """``pool`` random [-1, 1] batches made once on the device (channels_last) and cycled: zero data cost."""

    def __init__(self, batch: int, crop: int, device, generator, pool: int = 2) -> None:
        import torch

        self.pool = [(torch.rand((batch, 3, crop, crop), generator=generator, device=device) * 2 - 1)
                     .contiguous(memory_format=torch.channels_last) for _ in range(pool)]
        self.i = 0

    def next(self):
        x = self.pool[self.i % len(self.pool)]
        self.i += 1
        return x


def _placeholder_folder(root: Path, crop: int, seed: int) -> str:
    """Two random PNGs, so that ``Trainer`` builds its crop pipeline in synthetic mode (then replaced)."""
    import numpy as np
    import torch
    from PIL import Image

    gen = torch.Generator().manual_seed(seed)
    root.mkdir(parents=True)
    for i in range(2):
        pixels = torch.randint(256, (crop + 8, crop + 8, 3), generator=gen, dtype=torch.uint8).numpy()
        Image.fromarray(np.ascontiguousarray(pixels)).save(root / f"{i}.png")
    return str(root)


def forward_flops(model, crop: int, device) -> float | None:
    """FLOPs of one eager forward pass on one crop² image (torch's FLOP counter; 2 per multiply-add)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        x = torch.zeros(1, 3, crop, crop, device=device)
        t = torch.zeros(1, dtype=torch.long, device=device)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x, t)
        return float(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - an estimate only; the timing does not depend on it
        return None


def run_worker(args: argparse.Namespace, variant: Variant, result: Path) -> int:
    """Build the trainer for ``variant``, warm up, time ``args.steps`` steps; write the record to ``result``."""
    record: dict = {"variant": variant.name, "settings": asdict(variant), "phase": "import", "status": "running"}

    def save(**update) -> None:
        record.update(update)
        result.write_text(json.dumps(record, indent=1))

    save()
    started = time.perf_counter()
    try:
        import torch

        from invdiff.training.trainer import TrainConfig, Trainer

        if args.threads:
            torch.set_num_threads(args.threads)
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        cuda = device.type == "cuda"
        sync = torch.cuda.synchronize if cuda else (lambda: None)
        save(phase="build", torch=torch.__version__, device=torch.cuda.get_device_name(device) if cuda else "cpu",
             cudnn_version=torch.backends.cudnn.version() if cuda else None)
        with tempfile.TemporaryDirectory() as tmp:
            data = args.pack or _placeholder_folder(Path(tmp) / "placeholder", args.crop, args.seed)
            cfg = TrainConfig(data=data, out=str(Path(tmp) / "run"), preset=args.preset, crop=args.crop,
                              batch_size=variant.batch, seed=args.seed, cudnn_benchmark=variant.cudnn_benchmark,
                              **TRAIN_SETTINGS)
            t0 = time.perf_counter()
            trainer = Trainer(cfg, device=str(device))
            if not args.pack:
                trainer.data = SyntheticBatches(variant.batch, args.crop, device,
                                                torch.Generator(device).manual_seed(args.seed + 2))
            compiled = trainer.forward is not trainer.ddp
            if compiled and variant.compile_mode != "default":
                trainer.forward = torch.compile(trainer.ddp, mode=variant.compile_mode)
            if not variant.clip:
                torch.nn.utils.clip_grad_norm_ = lambda *a, **k: None  # this process only: measures clipping's cost
            flops = forward_flops(trainer.model, args.crop, device)
            save(phase="warmup", build_s=round(time.perf_counter() - t0, 2), forward_gflop_per_crop=(
                 None if flops is None else round(flops / 1e9, 3)),
                 compile=variant.compile_mode if compiled else f"off ({device.type})",
                 bf16=cfg.bf16 and cuda, channels_last=cfg.channels_last and cuda,
                 cudnn_benchmark_flag=bool(torch.backends.cudnn.benchmark),
                 parameters=sum(p.numel() for p in trainer.model.parameters()))
            warm = []
            for _ in range(args.warmup):
                t0 = time.perf_counter()
                trainer.train_step()
                sync()
                warm.append(round(time.perf_counter() - t0, 3))
            save(phase="timing", warmup_step_s=warm, warmup_s=round(sum(warm), 2))
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            losses = []
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                losses.append(trainer.train_step())
            sync()
            seconds = time.perf_counter() - t0
            loss = torch.stack(losses).float().cpu()
            finite = bool(torch.isfinite(loss).all())
            crops_per_s = args.steps * variant.batch / seconds
            save(phase="done", status="ok" if finite else "failed", timed_s=round(seconds, 3),
                 ms_per_step=round(1000 * seconds / args.steps, 3), crops_per_s=round(crops_per_s, 1),
                 peak_mem_gib=round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if cuda else None,
                 model_tflop_per_s=None if flops is None else round(3 * flops * crops_per_s / 1e12, 1),
                 loss={"first": float(loss[0]), "last": float(loss[-1]), "mean": float(loss.mean()),
                       "finite": finite},
                 wall_s=round(time.perf_counter() - started, 2),
                 **({} if finite else {"error": "the training loss was not finite."}))
    except Exception as err:  # noqa: BLE001 - recorded for the parent, which carries on with the next variant
        save(status="failed", error=f"{type(err).__name__}: {err}", wall_s=round(time.perf_counter() - started, 2))
        return 1
    return 0 if record["status"] == "ok" else 1


# -- the parent: one subprocess per variant ----------------------------------------------------------------
def run_variant(args: argparse.Namespace, variant: Variant, timeout: float) -> dict:
    """Run ``variant`` in a fresh process group under ``timeout`` seconds; its record, whatever happened."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", variant.name, "--worker-result",
               str(result), "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--preset", args.preset, "--crop", str(args.crop), "--seed", str(args.seed)]
        cmd += (["--pack", args.pack] if args.pack else []) + (["--device", args.device] if args.device else [])
        cmd += ["--threads", str(args.threads)] if args.threads else []
        env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
        if args.fresh_inductor_cache:
            env["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tmp) / "inductor")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)  # its own group: compile workers die with it
        timed_out = False
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        wall = round(time.perf_counter() - t0, 2)
        record = json.loads(result.read_text()) if result.exists() else {"variant": variant.name, "phase": "start"}
    record.update(settings=asdict(variant), process_wall_s=wall)
    if timed_out:
        record.update(status="timeout", timeout_s=round(timeout, 1),
                      error=f"the variant ran past {timeout:.0f} s in phase {record.get('phase')!r}.")
    elif proc.returncode != 0 or record.get("status") != "ok":
        record["status"] = "failed"
        record.setdefault("error", f"the worker exited with code {proc.returncode}.")
    if record["status"] != "ok":
        record["output_tail"] = (output or "")[-2000:]
    return record


def summary_line(rec: dict, base: float | None) -> str:
    """One printed line per variant."""
    name, status = rec["variant"], rec["status"]
    if status != "ok":
        return f"{name:<28} {status:<8} {rec.get('error', '')}"
    ratio = f" x{rec['crops_per_s'] / base:.2f} vs default" if base else ""
    mem = f"{rec['peak_mem_gib']:.1f} GiB" if rec.get("peak_mem_gib") is not None else "n/a"
    return (f"{name:<28} ok       {rec['crops_per_s']:>9.1f} crops/s {rec['ms_per_step']:>8.1f} ms/step "
            f"(batch {rec['settings']['batch']}) peak {mem} loss {rec['loss']['mean']:.4f}{ratio} "
            f"warm-up {rec.get('warmup_s', 0):.0f} s")


def run_all(args: argparse.Namespace, variants: list[Variant]) -> dict:
    """Every variant in turn; the JSON is rewritten after each, so a cut run keeps what finished."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "script": "benchmarks/natural/throughput.py", "argv": sys.argv[1:], "goal_crops_per_s": GOAL_CROPS_PER_S,
        "data": "pack" if args.pack else "synthetic",
        "data_note": (f"random {args.crop}² crops of {args.pack} cut on the device (CropBatches)" if args.pack else
                      "2 random [-1, 1] batches made once on the device in channels_last, cycled (no data cost)"),
        "preset": args.preset, "crop": args.crop, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
        "train_settings": TRAIN_SETTINGS, "single_process": True, "ddp": False,
        "inductor_cache": "fresh per variant" if args.fresh_inductor_cache else "shared on disk across variants",
        "variants": [],
    }
    deadline = time.perf_counter() + args.deadline_s if args.deadline_s else math.inf
    base = None
    for v in variants:
        left = deadline - time.perf_counter()
        if left < 5:
            rec = {"variant": v.name, "settings": asdict(v), "status": "skipped",
                   "error": f"the --deadline-s {args.deadline_s:.0f} s budget was spent."}
        else:
            rec = run_variant(args, v, min(args.variant_timeout, left))
        if rec["status"] == "ok" and v.name == "default":
            base = rec["crops_per_s"]
        report["variants"].append(rec)
        for r in report["variants"]:
            if r["status"] == "ok" and base:
                r["speedup_vs_default"] = round(r["crops_per_s"] / base, 3)
        report["device"] = report.get("device") or rec.get("device")
        out.write_text(json.dumps(report, indent=1))
        print(summary_line(rec, base), flush=True)
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help="comma-separated; each is default, or cudnn_benchmark, batchN, no_clip, compile_max_autotune "
                        "joined by '+'")
    p.add_argument("--batch", type=int, default=512, help="crops per step (per GPU) unless a batchN token says otherwise")
    p.add_argument("--steps", type=int, default=60, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (the first compiles)")
    p.add_argument("--preset", default="natural")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--pack", default=None, help="a training pack: time on its crops instead of synthetic batches")
    p.add_argument("--device", default=None, help="cuda (default when there is one) or cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per worker (torch's default if unset; 1 keeps CPU tests fast on shared cores)")
    p.add_argument("--variant-timeout", type=float, default=150.0, help="seconds per variant, compile included")
    p.add_argument("--deadline-s", type=float, default=None,
                   help="seconds for the whole run: later variants get what is left, or are recorded as skipped")
    p.add_argument("--fresh-inductor-cache", action="store_true",
                   help="an empty Inductor cache per variant (fair compile times, slower)")
    p.add_argument("--out", default="throughput.json", help="the JSON report")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-result", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        if args.batch < 1 or args.steps < 1 or args.warmup < 0:
            raise ValueError("--batch and --steps must be at least 1 and --warmup at least 0.")
        if args.pack and not Path(args.pack).is_file():
            raise ValueError(f"no training pack at {args.pack}.")
        if args.worker:
            return run_worker(args, parse_variant(args.worker, args.batch), Path(args.worker_result))
        variants = [parse_variant(n.strip(), args.batch) for n in args.variants.split(",") if n.strip()]
        if not variants:
            raise ValueError("--variants names no variant.")
    except ValueError as err:
        p.error(str(err))
    report = run_all(args, variants)
    return 0 if any(r["status"] == "ok" for r in report["variants"]) else 1


if __name__ == "__main__":
    sys.exit(main())
