"""Image-quality metrics on RGB images in [0, 1], no border crop (the diffusion inverse-problem convention).

* **PSNR** = 10 log₁₀(1 / MSE) per image, MSE over all pixels and channels, peak 1.
* **SSIM** (Wang et al. 2004) through ``piq.ssim``: Gaussian window 11×11 with σ = 1.5, ``K₁ = 0.01``,
  ``K₂ = 0.03``, data range 1, only windows that fit inside the image ("valid"), no down-sampling,
  computed per channel and averaged over the SSIM map and the channels — the numbers of
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
  (a test checks it).
* **LPIPS** (Zhang et al. 2018) through the ``lpips`` package: AlexNet trunk, version 0.1, the
  linear heads that ship inside the ``lpips`` wheel. The AlexNet trunk is **never downloaded**: it
  is read from a torchvision-layout ``features.*`` file (safetensors or a torch hub ``.pth``) found
  by :func:`find_alexnet_weights`; its sha256 is recorded. Without such a file LPIPS is
  unavailable and says why — it never falls back to a random trunk.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
ALEXNET_ENV = "INVDIFF_LPIPS_ALEXNET"
ALEXNET_FILE = "alexnet-features.safetensors"
#: torchvision's AlexNet ``features`` convolutions: layer index → weight shape.
ALEXNET_CONVS = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3),
                 10: (256, 256, 3, 3)}
#: lpips keeps torchvision's layer indices inside ``net.slice1`` … ``net.slice5``.
LPIPS_SLICE_OF = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
LPIPS_MIN_SIZE = 32


def _check_pair(x: torch.Tensor, ref: torch.Tensor) -> None:
    if x.shape != ref.shape or x.dim() != 4:
        raise ValueError(f"metrics compare two N×C×H×W batches of one shape, got {tuple(x.shape)} and "
                         f"{tuple(ref.shape)}.")


def psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``x`` against ``ref`` (both [0, 1]); ``inf`` for identical images."""
    _check_pair(x, ref)
    mse = (x.double() - ref.double()).square().flatten(1).mean(dim=1)
    return -10.0 * torch.log10(mse)


def ssim(x: torch.Tensor, ref: torch.Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Per-image SSIM of ``x`` against ``ref`` (both [0, 1]) by ``piq.ssim``; see the module docstring.

    float32 on the inputs' device, by measurement: for a 4×3×512×768 batch on this project's 2-core CPU
    piq took 1.9 s in float32 and 30.0 s in float64 (our former float64 implementation: 26.6 s), and the
    float32 values differ from scikit-image's float64 ones by at most 9.1e-7 (float64: 3e-16) — far below
    the 3 decimals a table shows. On the benchmark's GPU the metric runs where the images are.
    """
    import piq

    _check_pair(x, ref)
    if min(x.shape[-2:]) < window:
        raise ValueError(f"SSIM with an {window}×{window} window needs images of at least that size, "
                         f"got {tuple(x.shape[-2:])}.")
    with torch.no_grad():
        out = piq.ssim(x.float().clamp(0, 1), ref.float().clamp(0, 1), kernel_size=window, kernel_sigma=sigma,
                       data_range=1.0, reduction="none", downsample=False, k1=SSIM_K1, k2=SSIM_K2)
    return out.double().cpu()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _hub_alexnet() -> Path | None:
    """torchvision's AlexNet checkpoint in the torch hub cache, if one is there."""
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(checkpoints.glob("alexnet-*.pth")) if checkpoints.is_dir() else []
    return found[0] if found else None


def find_alexnet_weights(path: str | Path | None = None) -> tuple[Path | None, str]:
    """Where the AlexNet trunk comes from: ``(file, how it was found)`` or ``(None, why there is none)``.

    Order: the explicit ``path``; the ``INVDIFF_LPIPS_ALEXNET`` variable; ``shared/weights/alexnet-
    features.safetensors`` beside the checkout (``$INVDIFF_SHARED``, ``../shared`` from the working
    directory, or beside the repository); the torch hub cache. An explicit path or variable that
    names a missing file is an error, not a reason to look elsewhere.
    """
    for given, source in ((path, "argument"), (os.environ.get(ALEXNET_ENV) or None, ALEXNET_ENV)):
        if given is not None:
            if not Path(given).is_file():
                raise FileNotFoundError(f"the AlexNet weights named by the {source} ({given}) do not exist; "
                                        f"fix the path or unset it.")
            return Path(given), source
    shared = [Path(os.environ["INVDIFF_SHARED"])] if os.environ.get("INVDIFF_SHARED") else []
    shared += [Path.cwd().parent / "shared", _repo_root().parent / "shared"]
    for root in shared:
        candidate = root / "weights" / ALEXNET_FILE
        if candidate.is_file():
            return candidate.resolve(), f"shared folder {root}"
    hub = _hub_alexnet()
    if hub is not None:
        return hub, "torch hub cache"
    return None, (f"no AlexNet weights: pass a file, set {ALEXNET_ENV}, put {ALEXNET_FILE} under ../shared/weights, "
                  f"or place torchvision's alexnet-*.pth in {Path(torch.hub.get_dir()) / 'checkpoints'}")


def read_alexnet_features(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision-layout AlexNet file, checked key by key and shape by shape."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    expected = {f"features.{i}.{p}": (s if p == "weight" else s[:1]) for i, s in ALEXNET_CONVS.items()
                for p in ("weight", "bias")}
    for key, shape in expected.items():
        if key not in features or tuple(features[key].shape) != shape:
            raise ValueError(f"{path.name} is not a torchvision AlexNet: {key} should have shape {shape}, "
                             f"found {tuple(features[key].shape) if key in features else 'nothing'}.")
    if set(features) != set(expected):
        raise ValueError(f"{path.name} has unexpected AlexNet keys {sorted(set(features) - set(expected))}.")
    return {k: v.float() for k, v in features.items()}


def build_lpips(path: str | Path, device: str | torch.device = "cpu"):
    """``lpips.LPIPS(net='alex', version='0.1')`` with its shipped linear heads and the AlexNet trunk from ``path``.

    The trunk is built randomly initialised (``pnet_rand=True``, so torchvision downloads nothing)
    and then every one of its tensors is overwritten from the file.
    """
    import lpips

    features = read_alexnet_features(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's deprecation notice for pretrained=False
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    trunk = {}
    for key, value in features.items():
        index = int(key.split(".")[1])
        trunk[f"slice{LPIPS_SLICE_OF[index]}.{index}.{key.split('.')[2]}"] = value
    model.net.load_state_dict(trunk, strict=True)
    return model.eval().requires_grad_(False).to(device)


@dataclass
class Metrics:
    """PSNR, SSIM and (when a trunk is available) LPIPS for batches of [0, 1] images.

    ``lpips_weights``: an AlexNet file (see :func:`find_alexnet_weights` for the search when ``None``).
    ``lpips=False`` turns LPIPS off on purpose (the reason is recorded as such).
    """

    device: str | torch.device = "cpu"
    lpips_weights: str | Path | None = None
    lpips: bool = True
    backbone: Path | None = field(init=False, default=None)
    backbone_sha256: str | None = field(init=False, default=None)
    lpips_unavailable: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._model = None
        if not self.lpips:
            self.lpips_unavailable = "LPIPS turned off"
            return
        path, how = find_alexnet_weights(self.lpips_weights)
        if path is None:
            self.lpips_unavailable = how
            return
        self._model = build_lpips(path, self.device)
        self.backbone, self.backbone_sha256, self._source = path, sha256_file(path), how

    def lpips_distance(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-image LPIPS (AlexNet, v0.1) of ``x`` against ``ref``, both [0, 1]."""
        _check_pair(x, ref)
        if self._model is None:
            raise RuntimeError(f"LPIPS is unavailable: {self.lpips_unavailable}.")
        if min(x.shape[-2:]) < LPIPS_MIN_SIZE:
            raise ValueError(f"LPIPS-AlexNet needs images of at least {LPIPS_MIN_SIZE}×{LPIPS_MIN_SIZE} "
                             f"(its pooling stack), got {tuple(x.shape[-2:])}.")
        with torch.no_grad():
            d = self._model(x.float().to(self.device), ref.float().to(self.device), normalize=True)
        return d.flatten().double().cpu()

    def __call__(self, x: torch.Tensor, ref: torch.Tensor) -> dict[str, list[float | None]]:
        """``{"psnr": [...], "ssim": [...], "lpips": [...]}`` per image (LPIPS entries ``None`` when unavailable)."""
        x, ref = x.detach().clamp(0, 1), ref.detach()
        out = {"psnr": psnr(x.cpu(), ref.cpu()).tolist(), "ssim": ssim(x.to(self.device), ref.to(self.device)).tolist()}
        x, ref = x.cpu(), ref.cpu()
        lp = self._model is not None and min(x.shape[-2:]) >= LPIPS_MIN_SIZE
        out["lpips"] = self.lpips_distance(x, ref).tolist() if lp else [None] * x.shape[0]
        return out

    def describe(self) -> dict:
        """The metric definitions, for the results' metadata."""
        lp = ({"net": "alex", "version": "0.1", "package": "lpips", "input": "[0,1] scaled to [-1,1]",
               "backbone": str(self.backbone), "backbone_found_by": self._source,
               "backbone_sha256": self.backbone_sha256, "min_size": LPIPS_MIN_SIZE}
              if self._model is not None else {"unavailable": self.lpips_unavailable})
        return {
            "range": "RGB in [0, 1], restored images clamped to [0, 1], no border crop, float (not re-quantised)",
            "psnr": "10 log10(1 / MSE) per image, MSE over all pixels and channels",
            "ssim": {"window": "gaussian", "size": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1, "k2": SSIM_K2,
                     "data_range": 1.0, "padding": "valid windows only", "channels": "per channel, averaged",
                     "implementation": "piq.ssim (float32, downsample=False)"},
            "lpips": lp,
        }
