"""Time invdiff's solvers (DPS, RePaint, DDRM, SR3, DiffPIR, DDNM, ΠGDM) at 256² (or H×W) against the network floor.

What one run measures (ADM FFHQ preset with random weights, box inpainting 128×128 at 256², σ_y 0.05):

* the network floor per call (the priors issue's GPU check: also the relative L2 distance of the
  fast mode's ε̂ and input gradient from eager fp32's at one batch-1 point) — forward (no grad) and forward+backward to the input — in eager fp32
  and in the fast mode (bf16 autocast + channels_last + ``torch.compile(mode="reduce-overhead")``),
  timed through the prior exactly as the solvers call it;
* each solver at its published length (DPS-1000, RePaint 250/10/10 = 2,410 NFE, DDRM-20, SR3-1000
  on ×4 super-resolution with the SR3 form of the same architecture: 3 more input channels, and
  issue 16's DiffPIR-100, DDNM-100 and ΠGDM-100 with their inpainting defaults) in the
  fast mode, at each ``--batches`` size: seconds per image, NFE, ms per NFE, overhead ratio
  = s/image ÷ (NFE × floor per call in the same mode and batch; forward+backward for the solvers that
  back-propagate through the network, DPS and ΠGDM), images per minute, peak memory;
* agreement of the fast mode with eager fp32 for the same seeds, at shortened schedules (DPS-100,
  RePaint 50/5/5, DDRM-20, the 100-step solvers at 100; they cost eager-fp32 network time, so the
  full lengths are not rerun): PSNR between the two outputs on the [0, 1] scale.

Randomness goes through CUDA ``torch.Generator`` objects, one per image (CPU generators would
copy every step's noise to the GPU with a blocking copy). Writes ``solvers.json`` to ``--out``.

    python3 benchmarks/speed/solvers.py --out $OUT                 # GPU, the full protocol
    python3 benchmarks/speed/solvers.py --methods diffpir,ddnm,pigdm --out $OUT   # issue 16's solvers
    python3 benchmarks/speed/solvers.py --tiny --device cpu        # CPU smoke run (tests use it)

A shipped prior at another size (issue 20: the natural-image prior at a 768×512 photo, landscape):

    python3 benchmarks/speed/solvers.py --prior natural --size 512x768 --methods ddrm,dps,repaint \
        --batches 1 --out $OUT/n768

``--prior NAME`` loads a prior by name or path through ``invdiff.priors.load_prior`` (``natural``:
the shipped int8 weights, dequantised at load) instead of a random-weight ``--preset``; ``--size HxW``
(height × width; default the prior's or preset's square resolution) sets the image: the same centred
box of half of each side (a quarter of the area) from ``invdiff.tasks.make_problem``, as the natural
suite builds it, and every floor, solve and agreement run at that H×W (solvers get ``image_shape``).
With ``--prior``, ``--tiny`` shortens only the schedules and the floor's repetitions. The JSON adds
``prior``, ``weights``, ``size`` as ``[H, W]``, ``height``, ``width``, ``parameters`` and ``problem`` (as
``make_problem`` records it) whenever ``--prior`` or ``--size`` is given; the default run's JSON keeps its
keys (``size``: the square side).

Cost at 768×512 on one H100 (an estimate, not yet measured): the fast floor is about 5–10 ms forward
and 15–25 ms forward + backward, so DPS-1000 ≈ 20–25 s and RePaint 250/10/10 ≈ 25 s; the eager-fp32
agreement runs (DPS-100, RePaint 50/5/5, DDRM-20) add about half a minute (``--no-agreement`` skips
them). The costly part is compile warm-up: ``reduce-overhead`` compiles the forward and the
backward graph again for every new shape (recorded as ``floor_fast_b1.first_calls_s``; the 256² ADM
run took 154 s with a cold inductor cache; the natural network is a smaller graph). The whole run
should take about 3–5 minutes (estimated); ``run_gpu.sh`` keeps the inductor cache in
``runs/inductor-cache``, which shortens a rerun on the same machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root holds invdiff/
import speed_workload as wl

from invdiff.priors import DiffusionPrior
from invdiff.priors.conditional import ConcatConditionedUNet, ConditionalPrior, SRConditioning, is_conditional
from invdiff.priors.schedule import NoiseSchedule
from invdiff.priors.unet import ADMUNet, preset
from invdiff.solvers import build_solver, prior_mismatch, seeded_generators

STEPS100 = ("diffpir", "ddnm", "pigdm")  # issue 16: 100 steps, the per-task defaults (inpainting)
FULL = {"dps": {"steps": 1000}, "repaint": {"steps": 250, "jump_length": 10, "resamples": 10},
        "ddrm": {"steps": 20}, "sr3": {"steps": 1000}, **{m: {"steps": 100} for m in STEPS100}}
AGREEMENT = {"dps": {"steps": 100}, "repaint": {"steps": 50, "jump_length": 5, "resamples": 5},
             "ddrm": {"steps": 20}, "sr3": {"steps": 100}, **{m: {"steps": 100} for m in STEPS100}}
WARMUP = {"dps": {"steps": 3}, "repaint": {"steps": 4, "jump_length": 2, "resamples": 2}, "ddrm": {"steps": 3},
          "sr3": {"steps": 3}, **{m: {"steps": 3} for m in STEPS100}}
TINY = {"dps": {"steps": 4}, "repaint": {"steps": 6, "jump_length": 2, "resamples": 2}, "ddrm": {"steps": 4},
        "sr3": {"steps": 4}, **{m: {"steps": 4} for m in STEPS100}}


def randomize_zeroed(model: torch.nn.Module) -> None:
    """Give the zero-initialised residual/output convolutions default random weights (nothing runs on zeros)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and not m.weight.any():
            m.reset_parameters()


def build_prior(name: str, device: torch.device, seed: int = 0, conditional: bool = False) -> DiffusionPrior:
    """A random-weight prior of a preset architecture with the 1000-step linear schedule.

    ``conditional``: the SR3 form of the same architecture (3 more input channels for the upsampled
    ×4 measurement), as ``invdiff train --conditional sr4`` builds it.
    """
    torch.manual_seed(seed)  # benchmark only: the weights' values do not matter, their shapes do
    config = preset(name)
    if conditional:
        config = preset(name, in_channels=2 * config.in_channels)
    net = (ConcatConditionedUNet if conditional else ADMUNet)(config).to(device)
    randomize_zeroed(net)
    c = net.config
    channels = c.in_channels // 2 if conditional else c.in_channels
    kwargs = {"resolution": c.image_size, "channels": channels, "learn_sigma": c.out_channels == 2 * channels,
              "name": name + ("-sr3" if conditional else "")}
    if conditional:
        return ConditionalPrior(net, NoiseSchedule.create("linear", 1000), conditioning=SRConditioning(), **kwargs)
    return DiffusionPrior(net, NoiseSchedule.create("linear", 1000), **kwargs)


def condition_for(prior, x: torch.Tensor) -> torch.Tensor | None:
    """A fixed random condition c for a conditional prior's floor and probe (None for the others)."""
    if not is_conditional(prior):
        return None
    return torch.randn(x.shape, generator=torch.Generator(x.device).manual_seed(1), device=x.device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn, device: torch.device, reps: int = 30, warmup: int = 5) -> float:
    """Mean wall milliseconds per call of ``fn`` over ``reps`` back-to-back calls, synchronised once at the end.

    Back to back, as a solver's loop calls the network: a sync after every call would add the
    host's launch latency to each call and overstate the floor.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    sync(device)
    return 1e3 * (time.perf_counter() - start) / reps


def probe(prior: DiffusionPrior, device: torch.device, hw: wl.HW) -> tuple[torch.Tensor, torch.Tensor]:
    """ε̂ and the gradient of ‖x̂₀‖² w.r.t. the input at one fixed batch-1 H×W point (for mode comparisons)."""
    x = torch.randn(1, 3, *hw, generator=torch.Generator(device).manual_seed(0), device=device)
    t = torch.full((1,), 500, device=device).requires_grad_(False)
    c = condition_for(prior, x)
    x_in = x.requires_grad_(True)
    x0 = prior.x0(x_in, t, c)
    (g,) = torch.autograd.grad(x0.square().sum(), x_in)
    with torch.no_grad():
        eps = prior.eps(x, t, c)
    return eps.float(), g.float()


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def floor_ms(prior: DiffusionPrior, batch: int, device: torch.device, reps: int, hw: wl.HW) -> dict[str, float]:
    """One network call through the prior on H×W images: forward (no grad) and forward+backward to the input."""
    x = torch.randn(batch, 3, *hw, generator=torch.Generator(device).manual_seed(0), device=device)
    t = torch.full((batch,), 500, device=device)
    c = condition_for(prior, x)

    def forward():
        with torch.no_grad():
            return prior.eps(x, t, c)

    def forward_backward():
        x_in = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(prior.x0(x_in, t, c).square().sum(), x_in)
        return g

    return {"forward_ms": time_ms(forward, device, reps), "forward_backward_ms": time_ms(forward_backward, device, reps)}


def run_solver(method: str, settings: dict, prior, op, y, device: torch.device, hw: wl.HW, seed: int = 0):
    """One solve of H×W images with per-image CUDA generators; returns (result, wall seconds, peak MiB).

    The image shape is passed as the project solves images at their own size (``solve(..., image_shape=)``,
    as ``invdiff.api.solve_cases`` does); at the prior's square resolution it is the solvers' default.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    solver = build_solver(method, **settings)
    gens = seeded_generators(seed, y.shape[0], device)
    sync(device)
    start = time.perf_counter()
    res = solver.solve(y, op, prior, gens, image_shape=(y.shape[0], prior.channels, *hw))
    sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return res, seconds, peak


def resolved_settings(res, operator) -> dict:
    """The solve's settings with each ``None`` filled by the solver's default for this task (as the solve used it)."""
    table = build_solver(res.method).task_defaults()
    return {k: table[k].get(operator.name, table[k].get("default")) if v is None and k in table else v
            for k, v in res.settings.items()}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).square().mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def load_priors(args: argparse.Namespace, methods: list[str], device: torch.device,
                hw: wl.HW | None) -> tuple[dict[str, DiffusionPrior], dict[str, str]]:
    """The priors to time, keyed by their floor's suffix, and each method's key.

    Default: a random-weight ``--preset`` (``tiny`` with ``--tiny``), plus its SR3 form for ``sr3``
    (floor keys ``floor_fast_b1`` and ``floor_fast_b1_sr3``). ``--prior``: that one prior for every
    method (key ``""``); a method it does not suit (``sr3`` needs a conditional prior, the others an
    unconditional one) is a ``ValueError`` with the loader's sentence.
    """
    if args.prior:
        prior = wl.shipped_prior(args.prior, device, hw)
        for m in methods:
            mismatch = prior_mismatch(m, prior)
            if mismatch is not None:
                raise ValueError(f"--methods {m} cannot run on --prior {args.prior}: {mismatch}")
        return {"": prior}, {m: "" for m in methods}
    name = "tiny" if args.tiny else args.preset
    priors = {"": build_prior(name, device)}
    if "sr3" in methods:
        priors["_sr3"] = build_prior(name, device, conditional=True)
    return priors, {m: "_sr3" if m == "sr3" else "" for m in methods}


def save(report: dict, out: Path) -> None:
    """Write ``solvers.json`` now (after every section): a run cut by a time box keeps what it measured.

    Measured need: the first 768×512 run spent its 360 s box before its only write at the end.
    """
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "solvers.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out / "solvers.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="adm-ffhq256")
    ap.add_argument("--prior", default=None, help="a shipped prior (e.g. natural) or a path, instead of --preset")
    ap.add_argument("--size", default=None, help="image size HxW (height x width, e.g. 512x768); default: square")
    ap.add_argument("--batches", default="1", help="comma-separated batch sizes, e.g. 1,8")
    ap.add_argument("--methods", default="dps,repaint,ddrm,sr3", help=f"comma-separated, of {','.join(FULL)}")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--compile", default="reduce-overhead", help="compile mode of the fast path, or 'none'")
    ap.add_argument("--no-agreement", action="store_true", help="skip the eager-fp32 vs fast comparison")
    ap.add_argument("--no-eager-floor", action="store_true", help="skip timing the eager fp32 floor")
    ap.add_argument("--tiny", action="store_true", help="tiny network and schedules (CPU smoke run)")
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    device = torch.device(args.device)
    methods = [m for m in args.methods.split(",") if m]
    if set(methods) - set(FULL):
        ap.error(f"unknown --methods {sorted(set(methods) - set(FULL))}; known: {', '.join(FULL)}")
    try:
        sized = wl.parse_size(args.size) if args.size else None
        priors, prior_key = load_priors(args, methods, device, sized)
    except (ValueError, FileNotFoundError) as err:
        ap.error(str(err))
    full, agree, warm = (TINY, TINY, TINY) if args.tiny else (FULL, AGREEMENT, WARMUP)
    prior = priors[""]
    hw = sized or (prior.resolution, prior.resolution)
    problem_of = {m: wl.sr_problem if m == "sr3" else wl.problem for m in methods}
    reps = 3 if args.tiny else 30
    report: dict = {"preset": prior.name, "size": prior.resolution, "device": torch.cuda.get_device_name(device)
                    if device.type == "cuda" else "cpu", "torch": torch.__version__,
                    "task": "inpaint box half, sigma_y 0.05 (sr3: sr4, sigma_y 0.05)",
                    "fast_mode": {"dtype": "bf16", "channels_last": True, "compile": args.compile}, "runs": []}
    if args.prior or args.size:  # the new options' records (the default run's JSON keeps its keys)
        weights = f"load_prior({args.prior!r})" if args.prior else "random (preset)"
        report.update({"preset": None if args.prior else prior.name, "prior": prior.name, "weights": weights,
                       "size": list(hw), "height": hw[0], "width": hw[1], "parameters": wl.parameter_count(prior),
                       "problem": wl.problem_details(hw)})
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}), flush=True)
    out = Path(args.out)
    save(report, out)

    eager_outputs = {}
    if not args.no_eager_floor:
        report["floor_eager_fp32_b1"] = floor_ms(prior, 1, device, reps, hw)
        print("floor eager fp32 b1", report["floor_eager_fp32_b1"], flush=True)
        save(report, out)
    if not args.no_agreement:
        for m in methods:
            op, y = problem_of[m](hw, 1, device)
            eager_outputs[m] = run_solver(m, agree[m], priors[prior_key[m]], op, y, device, hw)[0].x

    reference = probe(prior, device, hw)
    start = time.perf_counter()
    for p in priors.values():
        p.configure(dtype="bf16", channels_last=True, compile=False if args.compile == "none" else args.compile)
    for batch in (int(b) for b in args.batches.split(",")):
        floors = {}
        for key, p in priors.items():
            t0 = time.perf_counter()
            floors[key] = floor_ms(p, batch, device, reps, hw)
            floors[key]["first_calls_s"] = time.perf_counter() - t0  # includes compiling both graphs at this shape
            report[f"floor_fast_b{batch}{key}"] = floors[key]
            print(f"floor fast b{batch}{key}", floors[key], flush=True)
            save(report, out)
        if batch == 1:
            fast = probe(prior, device, hw)
            report["fast_vs_eager_fp32_b1"] = {"eps_rel_l2": rel_l2(fast[0], reference[0]),
                                               "input_grad_rel_l2": rel_l2(fast[1], reference[1])}
        for m in methods:
            key = prior_key[m]
            p, floor = priors[key], floors[key]
            op, y = problem_of[m](hw, batch, device)
            run_solver(m, warm[m], p, op, y, device, hw)  # settles every remaining graph of this solver's loop
            res, seconds, peak = run_solver(m, full[m], p, op, y, device, hw)
            per_call = floor["forward_backward_ms"] if res.backprop else floor["forward_ms"]  # DPS, ΠGDM: + backward
            row = {"method": m, "batch": batch, "settings": full[m], "solver_settings": resolved_settings(res, op),
                   "backprop": res.backprop, "nfe": res.nfe, "seconds_total": seconds,
                   "seconds_per_image": seconds / batch, "ms_per_nfe": 1e3 * seconds / res.nfe,
                   "floor_ms_per_call": per_call, "overhead_ratio": 1e3 * seconds / (res.nfe * per_call),
                   "images_per_minute": 60 * batch / seconds, "peak_mib": peak,
                   # fast mode replays CUDA graphs from private pools that max_memory_allocated does not see after the
                   # warm-up (DPS at 256², batch 1: 377 MiB "peak", about the weights alone); what the process holds:
                   "reserved_mib": torch.cuda.memory_reserved(device) / 2**20 if device.type == "cuda" else None}
            if batch == 1 and m in eager_outputs:
                fast_short = run_solver(m, agree[m], p, op, y, device, hw)[0].x
                row["agreement"] = {"settings": agree[m], "psnr_fast_vs_eager_fp32_db": psnr(fast_short, eager_outputs[m])}
            report["runs"].append(row)
            print(json.dumps(row), flush=True)
            save(report, out)
    report["fast_section_wall_s"] = time.perf_counter() - start
    save(report, out)
    print(f"wrote {out / 'solvers.json'}")

if __name__ == "__main__":
    main()
