"""Time the peer libraries' solvers on a GPU: deepinv DPS, DDRM, DiffPIR and ΠGDM, diffusers RePaint.

The protocol of DESIGN.md's speed table: one image size (``--size``, 256), batch ``--batch`` (1),
random-weight networks of the published architectures, box inpainting (a centred hole of half the
side, 128×128 at 256²) with Gaussian noise σ_y = 0.05 on [0, 1], built with deepinv's physics:

* deepinv DPS, ``--dps-steps`` 1000, library defaults (VP schedule, DDPM solver, float64 state,
  ``guidance="norm"``), called under ``torch.no_grad()`` as deepinv's demo does (its data-fidelity
  term switches grad on itself and differentiates through the network to the input);
* deepinv DDRM, ``--ddrm-steps`` 20, ``sigmas = linspace(1, 0, steps)`` as in deepinv's demo;
  both around ``deepinv.models.DiffUNet(pretrained=None)``, the guided-diffusion FFHQ (ffhq_10m)
  architecture (128 ch, 1 res block, mult 1,1,2,2,4,4, attention at 16, 64 head channels,
  learn_sigma, resblock_updown, scale-shift norm; DiffUNet hard-codes it): ≈93.6 M parameters;
* deepinv DiffPIR (``deepinv.sampling.DiffPIR``, a ``Reconstructor`` of its own), ``--diffpir-steps`` 100
  (``max_iter``), library defaults (ζ = 0.1, λ = 7.0, its own linear-β 1000-step schedule, σ read
  from ``physics.noise_model``) with ``data_fidelity=deepinv.optim.data_fidelity.L2()`` as in its
  docstring's example (a required argument; for ``Inpainting`` its prox is closed-form); one
  forward call per step under ``torch.no_grad()`` (no back-propagation); it draws its noise from the
  global RNG (``torch.randn_like``), and its ``if seed:`` skips seed 0;
* deepinv ΠGDM: 0.5.0 ships no ΠGDM sampler class, only the data-fidelity term
  ``deepinv.sampling.PiGDMDataFidelity`` (weight 1, no clip; ``(r_t² A Aᵀ + σ_y² I)⁻¹`` exact for
  ``DecomposablePhysics`` such as ``Inpainting``, conjugate gradient otherwise; a ``torch.func.vjp``
  through the denoiser, i.e. one forward + one backward per step) for
  ``deepinv.sampling.PosteriorDiffusion``, whose ``sde`` and ``solver`` have no defaults. It runs here
  as a sampler assembled exactly as ``deepinv.sampling.DPS`` assembles itself with its defaults (VP
  SDE, ``DDPMSolver`` on ``linspace(1, 0, steps)``, float64 state, ``minus_one_one``), with
  ``PiGDMDataFidelity()`` in place of DPS's data term: ``--pigdm-steps`` 100. With the VP (EDM-family)
  SDE, ``PosteriorDiffusion.score`` reuses the data term's denoiser output, so the network is called
  once per step: 99 calls, each with a backward, for 100 time points (as DPS-1000 makes 999: the
  solver ends at t = 0, where σ = 0 skips the final denoising call). The weight is deepinv's default 1,
  not our tuned 4 (the cost per step does not depend on it);
* diffusers RePaint, ``--repaint-steps`` 250, jump length 10, 10 resamplings (2,410 network calls),
  ``RePaintPipeline`` + ``RePaintScheduler`` (defaults: linear betas, 1000 training steps, eta 0)
  around a random-init ``UNet2DModel`` with google/ddpm-ema-celebahq-256's config: ≈113.7 M
  parameters. diffusers' mask has the same convention as deepinv's: 1 = known pixel, 0 = hole.

Each solver runs once shortened (warm-up: kernels, cuDNN, allocator; it also checks with a full
gradient hook on the network's output whether the solver back-propagates through it), then ``--repeats`` timed
runs, CUDA-synchronised. Network calls are counted with a forward pre-hook, split into calls with
and without autograd to the input. Zero-initialised convolutions get default random weights.
Writes ``peers.json`` to ``--out`` (a folder, or a path ending in .json) and prints a table.

The peers draw from the global RNG (deepinv DDRM, the noise of ``physics(x)`` unless given a
generator); this benchmark script alone therefore also calls ``torch.manual_seed`` before each run.
deepinv DPS and diffusers RePaint get explicit ``torch.Generator`` objects.

On the GPU machine (no internet, torch preinstalled) the peers come from wheels carried along
(list: benchmarks/speed/peers-wheels.txt; torchvision there must match the machine's torch)::

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/peers-wheels/*.whl \\
        && export PYTHONPATH=/tmp/site:$PYTHONPATH
    python3 benchmarks/speed/peers.py --out $OUT                               # all five
    python3 benchmarks/speed/peers.py --methods diffpir,pigdm --out $OUT       # deepinv only (no diffusers)

Each peer imports only its own library: ``--methods`` without ``repaint`` needs no diffusers.

CPU smoke run (full-size DiffUNet, which has no size knobs, a tiny UNet2DModel, 32², few steps)::

    python3 benchmarks/speed/peers.py --tiny --device cpu --out /tmp/peers.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

# google/ddpm-ema-celebahq-256, unet/config.json (DDPM-256, Ho et al.'s CelebA-HQ model).
DDPM_CELEBAHQ_256 = {
    "sample_size": 256,
    "in_channels": 3,
    "out_channels": 3,
    "center_input_sample": False,
    "time_embedding_type": "positional",
    "freq_shift": 1,
    "flip_sin_to_cos": False,
    "down_block_types": ("DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D",
                         "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
    "block_out_channels": (128, 128, 256, 256, 512, 512),
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "downsample_padding": 0,
    "act_fn": "silu",
    "attention_head_dim": None,
    "norm_num_groups": 32,
    "norm_eps": 1e-6,
}
TINY_UNET2D = {**DDPM_CELEBAHQ_256, "sample_size": 32, "block_out_channels": (32, 32, 64),
               "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
               "up_block_types": ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
               "layers_per_block": 1, "norm_num_groups": 8}

FULL = {"dps": {"steps": 1000}, "ddrm": {"steps": 20},
        "repaint": {"steps": 250, "jump_length": 10, "jump_n_sample": 10},
        "diffpir": {"steps": 100}, "pigdm": {"steps": 100}}
WARMUP = {"dps": {"steps": 5}, "ddrm": {"steps": 5}, "repaint": {"steps": 5, "jump_length": 2, "jump_n_sample": 2},
          "diffpir": {"steps": 5}, "pigdm": {"steps": 5}}
TINY = {"dps": {"steps": 3}, "ddrm": {"steps": 3}, "repaint": {"steps": 6, "jump_length": 2, "jump_n_sample": 2},
        "diffpir": {"steps": 3}, "pigdm": {"steps": 3}}
TINY_WARMUP = {"dps": {"steps": 2}, "ddrm": {"steps": 2}, "repaint": {"steps": 2, "jump_length": 1, "jump_n_sample": 1},
               "diffpir": {"steps": 2}, "pigdm": {"steps": 2}}
DEEPINV = ("dps", "ddrm", "diffpir", "pigdm")  # around deepinv's DiffUNet; repaint: diffusers' UNet2DModel
SAMPLERS = {  # how each peer is called, written to peers.json next to its timing
    "diffpir": "deepinv.sampling.DiffPIR(model=DiffUNet, data_fidelity=deepinv.optim.data_fidelity.L2(), "
               "max_iter=steps), library defaults zeta 0.1, lambda_ 7.0",
    "pigdm": "deepinv 0.5.0 has no PiGDM sampler: PosteriorDiffusion(data_fidelity=PiGDMDataFidelity() (weight 1), "
             "VariancePreservingDiffusion, DDPMSolver on linspace(1, 0, steps), float64), i.e. deepinv.sampling.DPS's "
             "own assembly and defaults with PiGDM's data term",
}
LABELS = {"dps": "DPS", "ddrm": "DDRM", "repaint": "RePaint", "diffpir": "DiffPIR", "pigdm": "ΠGDM"}
SIGMA_Y = 0.05


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def randomize_zeroed(model: torch.nn.Module) -> None:
    """Give zero-initialised convolutions default random weights (nothing then runs on exact zeros)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and not m.weight.any():
            m.reset_parameters()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class CallCounter:
    """Counts a module's calls with a forward pre-hook: with autograd to the input, and without."""

    def __init__(self, module: torch.nn.Module):
        self.with_grad = self.no_grad = self.backward = 0
        self._handles = [module.register_forward_pre_hook(self._pre)]
        self._module = module

    def _pre(self, module, args):
        if torch.is_grad_enabled() and args and isinstance(args[0], torch.Tensor) and args[0].requires_grad:
            self.with_grad += 1
        else:
            self.no_grad += 1

    def watch_backward(self) -> None:
        """Also count backward passes through the module (adds hook overhead: warm-up runs only).

        A gradient hook on the output tensor (``UNet2DModel``: its ``.sample``), not a full backward
        hook on the module: those fail inside ``torch.func`` transforms (deepinv's ΠGDM uses ``vjp``).
        """
        self._handles.append(self._module.register_forward_hook(self._post))

    def _post(self, module, args, out):
        out = getattr(out, "sample", out)
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(self._bwd)

    def _bwd(self, grad):
        self.backward += 1

    def remove(self) -> None:
        for h in self._handles:
            h.remove()

    @property
    def total(self) -> int:
        return self.with_grad + self.no_grad


def build_problem(size: int, batch: int, device: torch.device, seed: int):
    """deepinv Inpainting with a centred box hole of half the side, σ_y = 0.05, on a smooth random batch."""
    import deepinv as dinv

    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(batch, 3, 8, 8, generator=gen), size=size, mode="bicubic")
    x = x.clamp(0, 1).to(device)
    mask = torch.ones(3, size, size)
    lo, hi = size // 4, size // 4 + size // 2
    mask[:, lo:hi, lo:hi] = 0
    noise = dinv.physics.GaussianNoise(sigma=SIGMA_Y, rng=torch.Generator(device).manual_seed(seed))
    physics = dinv.physics.Inpainting(img_size=(3, size, size), mask=mask.to(device), noise_model=noise,
                                      device=device)
    return physics, physics(x)


def build_diffunet(device: torch.device, seed: int) -> torch.nn.Module:
    import deepinv as dinv

    torch.manual_seed(seed)  # benchmark only: the weights' values do not matter, their shapes do
    net = dinv.models.DiffUNet(in_channels=3, out_channels=3, pretrained=None).to(device).eval()
    randomize_zeroed(net)
    return net


def build_unet2d(tiny: bool, device: torch.device, seed: int) -> torch.nn.Module:
    from diffusers import UNet2DModel

    torch.manual_seed(seed)  # benchmark only, as above
    net = UNet2DModel(**(TINY_UNET2D if tiny else DDPM_CELEBAHQ_256)).to(device).eval()
    randomize_zeroed(net)
    return net


def make_runner(method: str, net, physics, y, device: torch.device):
    """A function(cfg, seed) -> output image batch in [0, 1] that runs one peer solver."""
    import deepinv as dinv

    if method == "dps":
        def run(cfg, seed):
            model = dinv.sampling.DPS(denoiser=net, num_steps=cfg["steps"], device=device,
                                      rng=torch.Generator(device))
            with torch.no_grad():  # as deepinv's demo; DPSDataFidelity.grad enables grad itself
                return model(y, physics, seed=seed)
    elif method == "ddrm":
        def run(cfg, seed):
            model = dinv.sampling.DDRM(denoiser=net, sigmas=np.linspace(1, 0, cfg["steps"]))
            torch.manual_seed(seed)  # DDRM draws from the global RNG (and its own `if seed:` skips 0)
            return model(y, physics)  # DDRM.forward runs under torch.no_grad() itself
    elif method == "diffpir":
        def run(cfg, seed):
            model = dinv.sampling.DiffPIR(model=net, data_fidelity=dinv.optim.data_fidelity.L2(),
                                          max_iter=cfg["steps"], device=device)
            torch.manual_seed(seed)  # DiffPIR draws from the global RNG (and its own `if seed:` skips 0)
            return model(y, physics)  # DiffPIR.forward runs its loop under torch.no_grad() itself
    elif method == "pigdm":
        from deepinv.sampling import (
            DDPMSolver,
            PiGDMDataFidelity,
            PosteriorDiffusion,
            VariancePreservingDiffusion,
        )

        def run(cfg, seed):  # deepinv.sampling.DPS's own assembly and defaults, with PiGDM's data term
            dtype = torch.float64
            solver = DDPMSolver(timesteps=torch.linspace(1, 0.0, cfg["steps"], device=device, dtype=dtype),
                                rng=torch.Generator(device))
            model = PosteriorDiffusion(data_fidelity=PiGDMDataFidelity(), denoiser=net,
                                       sde=VariancePreservingDiffusion(alpha=1.0, device=device, dtype=dtype),
                                       solver=solver, device=device, dtype=dtype)
            with torch.no_grad():  # as for DPS; PiGDMDataFidelity.grad differentiates with torch.func.vjp
                return model(y, physics, seed=seed)
    elif method == "repaint":
        from diffusers import RePaintPipeline, RePaintScheduler

        pipe = RePaintPipeline(unet=net, scheduler=RePaintScheduler()).to(device)
        pipe.set_progress_bar_config(disable=True)
        warnings.filterwarnings("ignore", message="The preprocess method is deprecated")  # per call, harmless
        image = y * 2 - 1  # diffusers works on [-1, 1]; the holes' values are ignored (mask 0)
        mask = physics.mask.expand_as(y)  # 1 = known, as deepinv's

        def run(cfg, seed):
            out = pipe(image=image, mask_image=mask, num_inference_steps=cfg["steps"], eta=0.0,
                       jump_length=cfg["jump_length"], jump_n_sample=cfg["jump_n_sample"],
                       generator=torch.Generator(device).manual_seed(seed), output_type="np")
            return torch.from_numpy(out.images).permute(0, 3, 1, 2)  # the pipeline's own copy to the host
    else:
        raise ValueError(method)
    return run


def time_method(method: str, net, run, args, device: torch.device) -> dict:
    cfg = TINY[method] if args.tiny else {**FULL[method]}
    if not args.tiny:
        override = getattr(args, f"{method}_steps")
        if override:
            cfg["steps"] = override

    warm_cfg = (TINY_WARMUP if args.tiny else WARMUP)[method]
    counter = CallCounter(net)
    counter.watch_backward()
    run(warm_cfg, args.seed)  # warm-up, shortened
    sync(device)
    warm = {"calls": counter.total, "with_grad": counter.with_grad, "backward": counter.backward}
    counter.remove()

    times, counts, finite = [], [], True
    for r in range(args.repeats):
        counter = CallCounter(net)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        sync(device)
        t0 = time.perf_counter()
        out = run(cfg, args.seed + r)
        sync(device)
        times.append(time.perf_counter() - t0)
        counter.remove()
        counts.append((counter.total, counter.with_grad))
        finite = finite and bool(torch.isfinite(out).all())
    nfe, nfe_grad = counts[0]
    best = min(times)
    res = {
        "config": cfg,
        "nfe": nfe,
        "nfe_with_grad_to_input": nfe_grad,
        "nfe_no_grad": nfe - nfe_grad,
        "warmup": {"config": warm_cfg, **warm},
        "backprops_through_net": warm["backward"] > 0,  # from the warm-up's gradient hook on the output
        "seconds_runs": times,
        "seconds_per_image": best / args.batch,
        "ms_per_network_call": 1e3 * best / nfe if nfe else None,
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "output_finite": finite,
        "output_shape": list(out.shape),
    }
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--device", default="cuda")
    p.add_argument("--methods", "--only", dest="methods", default="dps,ddrm,repaint",
                   help=f"comma list of {', '.join(FULL)} (--only: the older name)")
    p.add_argument("--dps-steps", type=int, default=None, help=f"default {FULL['dps']['steps']}")
    p.add_argument("--ddrm-steps", type=int, default=None, help=f"default {FULL['ddrm']['steps']}")
    p.add_argument("--repaint-steps", type=int, default=None,
                   help=f"default {FULL['repaint']['steps']} (jump length 10, 10 resamplings)")
    p.add_argument("--diffpir-steps", type=int, default=None, help=f"default {FULL['diffpir']['steps']}")
    p.add_argument("--pigdm-steps", type=int, default=None, help=f"default {FULL['pigdm']['steps']}")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per solver (the best is reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: 32², tiny UNet2DModel, few steps")
    p.add_argument("--out", default=".", help="folder for peers.json, or a .json path")
    args = p.parse_args(argv)
    if args.tiny:
        args.size = 32

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = set(methods) - set(FULL)
    if bad:
        p.error(f"unknown --methods entries {sorted(bad)}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available (use --tiny --device cpu for a smoke run)")

    try:  # each peer's library only: diffusers for RePaint (deepinv builds the physics for all)
        import deepinv
        diffusers = importlib.import_module("diffusers") if "repaint" in methods else None
    except ImportError as e:
        print(f"missing peer library ({e}); install the carried wheels, see this script's docstring",
              file=sys.stderr)
        return 2

    physics, y = build_problem(args.size, args.batch, device, args.seed)
    meta = {
        "protocol": f"box inpainting {args.size // 2}x{args.size // 2} centred at {args.size}^2, "
                    f"sigma_y {SIGMA_Y} on [0, 1], batch {args.batch}, random-weight networks",
        "size": args.size, "batch": args.batch, "tiny": args.tiny, "seed": args.seed,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "cuda": torch.version.cuda, "deepinv": deepinv.__version__,
                     **({"diffusers": diffusers.__version__} if diffusers else {}), "numpy": np.__version__},
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }
    results, nets = {}, {}
    for method in methods:
        if method in DEEPINV:
            if "diffunet" not in nets:
                nets["diffunet"] = build_diffunet(device, args.seed)
            net, net_name = nets["diffunet"], "deepinv DiffUNet (guided-diffusion ffhq_10m architecture)"
            lib = f"deepinv {deepinv.__version__}"
        else:
            if "unet2d" not in nets:
                nets["unet2d"] = build_unet2d(args.tiny, device, args.seed)
            net = nets["unet2d"]
            net_name = ("diffusers UNet2DModel (tiny)" if args.tiny
                        else "diffusers UNet2DModel (google/ddpm-ema-celebahq-256 config)")
            lib = f"diffusers {diffusers.__version__}"
        run = make_runner(method, net, physics, y, device)
        res = time_method(method, net, run, args, device)
        res.update({"library": lib, "network": net_name, "params": n_params(net), "sampler": SAMPLERS.get(method),
                    "params_require_grad": any(q.requires_grad for q in net.parameters())})
        results[method] = res
        print(f"[{method}] {res['seconds_per_image']:.3f} s/image, {res['nfe']} calls", file=sys.stderr)

    report = {**meta, "results": results}
    out = Path(args.out)
    path = out if out.suffix == ".json" else out / "peers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))

    print(f"\n{meta['gpu'] or device}, {args.size}², batch {args.batch}, torch {torch.__version__}\n")
    print("| method | steps | network calls (with grad) | s / image | ms / call | peak GiB | params (M) |")
    print("|---|---|---|---|---|---|---|")
    for m, r in results.items():
        c = r["config"]
        steps = (f"{c['steps']}/{c['jump_length']}/{c['jump_n_sample']}" if m == "repaint" else str(c["steps"]))
        mem = f"{r['peak_mem_gib']:.2f}" if r["peak_mem_gib"] is not None else "-"
        ms = f"{r['ms_per_network_call']:.2f}" if r["ms_per_network_call"] is not None else "-"
        print(f"| {r['library']} {LABELS[m]} | {steps} | "
              f"{r['nfe']} ({r['nfe_with_grad_to_input']}) | {r['seconds_per_image']:.3f} | "
              f"{ms} | {mem} | {r['params'] / 1e6:.2f} |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
