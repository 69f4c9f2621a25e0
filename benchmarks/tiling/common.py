"""What the tiling benchmarks share: the prior (a named one, or the tests' random attention-free U-Net),
the test image (a photo cropped to H×W, or a smooth synthetic one), and the problem to solve."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from invdiff.io import read_image
from invdiff.priors import ADMUNet, DiffusionPrior, NoiseSchedule, UNetConfig, load_prior
from invdiff.priors.unet_blocks import AttentionBlock, TimestepEmbedSequential
from invdiff.solvers import build_solver, seeded_generators
from invdiff.tasks import make_problem
from operators import GaussianBlur, SuperResolution

#: the tests' network: 32 ch × (1, 1, 2, 2), one res block a level, no attention, random weights
RANDOM = "random-conv"
#: the natural prior's architecture with random weights
RANDOM_NATURAL = "random-natural"
#: a local 7×7 Gaussian-smoothing denoiser (tests/priors/conv_helpers.py): smooth restorations, where seams would show
SMOOTHING = "smoothing"


def random_natural(device: str) -> DiffusionPrior:
    """The natural prior's architecture with random weights (middle-block attention removed)."""
    config = UNetConfig(image_size=64, model_channels=64, channel_mult=(1, 2, 2, 4), num_res_blocks=2,
                        attention_resolutions=(), resblock_updown=True, use_scale_shift_norm=True)
    net = ADMUNet(config)
    net.middle_block = TimestepEmbedSequential(*(m for m in net.middle_block if not isinstance(m, AttentionBlock)))
    from tests.priors.helpers import randomize

    randomize(net, seed=0)  # N(0, 1/fan_in) everywhere: the preset zeroes its output layers
    return DiffusionPrior(net, NoiseSchedule.create("linear", 1000), resolution=64, name="random-natural").to(device)


def get_prior(name: str, device: str):
    """``random-conv``, ``smoothing`` (tests/priors/conv_helpers.py), ``random-natural``, or a name/path to load."""
    if name == RANDOM_NATURAL:
        return random_natural(device)
    if name == SMOOTHING:
        from tests.priors.conv_helpers import smoothing_prior

        return smoothing_prior(radius=3).to(device)
    if name == RANDOM:
        from tests.priors.conv_helpers import conv_prior

        prior = conv_prior(seed=0)
    else:
        prior = load_prior(name)
    return prior.to(device)


def get_image(path: str | None, size: tuple[int, int], device: str, seed: int = 0) -> torch.Tensor:
    """1×3×H×W in [0, 1]: the centre H×W crop of ``path``, or smooth random colours plus fine texture."""
    h, w = size
    if path:
        x = torch.from_numpy(read_image(path).pixels).permute(2, 0, 1)[None].float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        if top < 0 or left < 0:
            raise SystemExit(f"{path} is {x.shape[-2]}×{x.shape[-1]}, smaller than the requested {h}×{w}.")
        return x[:, :3, top : top + h, left : left + w].to(device)
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(2, h // 16), max(2, w // 16), generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1).to(device)


def get_problem(task: str, device: str, sigma_y: float = 0.05):
    """The operator of ``task`` at any size: sr4 (×4 bicubic) or gaussian_blur (σ 3, 61×61; DPS's)."""
    if task == "sr4":
        return SuperResolution(4, noise=sigma_y).to(device)
    if task == "gaussian_blur":
        return GaussianBlur(3.0, 61, noise=sigma_y).to(device)
    raise SystemExit(f"task must be sr4 or gaussian_blur here, not {task!r}.")


def solve(method: str, steps: int, y, op, prior, shape, seed: int = 0, device: str = "cpu") -> torch.Tensor:
    """The restored batch in [0, 1] (``method`` with ``steps`` steps; RePaint 250/10/10 scaled by steps)."""
    settings = {"steps": steps}
    if method == "repaint":
        settings.update(jump_length=max(1, steps // 25), resamples=max(1, steps // 25))
    solver = build_solver(method, **settings)
    return solver.solve(y, op, prior, seeded_generators(seed, shape[0], device), image_shape=shape).x


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float) -> float:
    mse = float((a.double() - b.double()).square().mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(peak**2 / mse)).item()


def write(out: Path, name: str, record: dict, table: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / f"{name}.md").write_text(table)
    print(table)


__all__ = ["RANDOM", "RANDOM_NATURAL", "SMOOTHING", "get_image", "get_prior", "get_problem", "make_problem", "psnr", "solve", "write"]
