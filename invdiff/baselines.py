"""Classical baselines, so that a benchmark number means something.

Each baseline maps a measurement ``y`` (on [0, 1]) and its operator to an image in [0, 1]:

* ``measurement`` — ``y`` itself where it has the image's shape (inpainting: holes stay 0; blur:
  the blurred image; JPEG: the decoded file, i.e. "no processing").
* ``pinv`` — the Moore–Penrose pseudo-inverse ``A⁺y`` of a linear operator (skipped for
  inpainting, where ``A⁺y = y``). For blurs it shows how ill-posed the problem is: noise explodes.
* ``bicubic`` — ×f super-resolution by bicubic interpolation of ``y`` (Keys, a = −0.5, PIL's filter,
  the same cubic the operator downsamples with).
* ``wiener`` — deconvolution as the MAP estimate under a Gaussian prior on image gradients,
  ``x̂ = argmin ‖A x − y‖² + λ ‖∇x‖²`` with ``λ = σ² / σ_g²``: σ² is the noise variance on [0, 1],
  ``(σ_y/2)²`` plus the 8-bit quantisation variance ``1/(12·255²)``, and σ_g the std of one forward
  pixel difference of natural images (``grad_std``, stated per suite). Under circular boundaries
  this is exactly the Wiener filter for a 1/|ω|² power spectrum; here it is solved for any
  boundary by conjugate gradients on the normal equations with the operator's ``apply``/``adjoint``.
* ``biharmonic`` — ``skimage.restoration.inpaint_biharmonic`` on the missing pixels (observed
  pixels keep their noisy values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

#: Default σ_g: the RMS forward difference of 64×64 UTKFace training crops on [0, 1] (0.0588 over the first 2,000 sorted files of faces-utk/train).
DEFAULT_GRAD_STD = 0.0588
QUANTISATION_VAR = 1.0 / (12 * 255**2)


def _sigma_y(operator) -> float:
    return float(getattr(operator.noise, "sigma_y", 0.0))


def measurement(y: torch.Tensor, operator, image_shape: Sequence[int]) -> torch.Tensor:
    """``y`` itself (clamped to [0, 1])."""
    return y.clamp(0, 1)


def pinv(y: torch.Tensor, operator, image_shape: Sequence[int]) -> torch.Tensor:
    """``A⁺ y`` (clamped to [0, 1])."""
    return operator.pinv(y).clamp(0, 1)


def bicubic(y: torch.Tensor, operator, image_shape: Sequence[int]) -> torch.Tensor:
    """Bicubic upsampling of every channel of ``y`` to the image size (PIL, float, no rounding)."""
    h, w = int(image_shape[-2]), int(image_shape[-1])
    out = np.empty((y.shape[0], y.shape[1], h, w), dtype=np.float32)
    arr = y.detach().cpu().float().numpy()
    for n in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            im = Image.fromarray(arr[n, c], mode="F").resize((w, h), Image.BICUBIC)
            out[n, c] = np.asarray(im)
    return torch.from_numpy(out).to(y).clamp(0, 1)


def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences ∇x along H and W (Neumann boundary: no difference past the edge)."""
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def _grad_adjoint(gh: torch.Tensor, gw: torch.Tensor) -> torch.Tensor:
    """∇ᵀ(g_h, g_w), so that ∇ᵀ∇ is the Neumann Laplacian (negated)."""
    zh = torch.zeros_like(gh[..., :1, :])
    zw = torch.zeros_like(gw[..., :, :1])
    return (torch.cat([zh, gh], -2) - torch.cat([gh, zh], -2)) + (torch.cat([zw, gw], -1) - torch.cat([gw, zw], -1))


def conjugate_gradient(apply_M: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, x0: torch.Tensor,
                       iters: int = 300, tol: float = 1e-8) -> torch.Tensor:
    """Solve ``M x = b`` for a symmetric positive-definite ``M``, independently per image (batched CG)."""
    dot = lambda u, v: (u * v).flatten(1).sum(1).view(-1, *[1] * (u.dim() - 1))
    x = x0
    r = b - apply_M(x)
    p = r.clone()
    rr = dot(r, r)
    stop = tol**2 * dot(b, b).clamp_min(1e-300)
    for _ in range(iters):
        if bool((rr <= stop).all()):
            break
        Mp = apply_M(p)
        alpha = rr / dot(p, Mp).clamp_min(1e-300)
        x = x + alpha * p
        r = r - alpha * Mp
        rr_new = dot(r, r)
        p = r + (rr_new / rr.clamp_min(1e-300)) * p
        rr = rr_new
    return x


def wiener_solution(y: torch.Tensor, operator, grad_std: float = DEFAULT_GRAD_STD, iters: int = 300) -> torch.Tensor:
    """The unclamped float64 minimiser of ``‖A x − y‖² + λ‖∇x‖²`` (module docstring), by CG from ``x₀ = Aᵀy``."""
    noise_var = (_sigma_y(operator) / 2) ** 2 + QUANTISATION_VAR
    lam = noise_var / grad_std**2
    b = operator.adjoint(y.double())

    def normal(x: torch.Tensor) -> torch.Tensor:
        return operator.adjoint(operator.apply(x)) + lam * _grad_adjoint(*_grad(x))

    return conjugate_gradient(normal, b, b.clone(), iters=iters)


def wiener(y: torch.Tensor, operator, image_shape: Sequence[int], grad_std: float = DEFAULT_GRAD_STD,
           iters: int = 300) -> torch.Tensor:
    """Gradient-prior Wiener deconvolution, clamped to [0, 1]."""
    return wiener_solution(y, operator, grad_std, iters).to(y.dtype).clamp(0, 1)


def biharmonic(y: torch.Tensor, operator, image_shape: Sequence[int]) -> torch.Tensor:
    """Fill the mask's holes by biharmonic inpainting (scikit-image), image by image."""
    from skimage.restoration import inpaint_biharmonic

    masks = operator.mask.expand(y.shape[0], -1, -1, -1)
    out = []
    for img, m in zip(y.detach().cpu().double().numpy(), masks.cpu().numpy()):
        hole = m[0] == 0
        if m.shape[0] > 1 and not (m == m[:1]).all():
            raise ValueError("biharmonic inpainting needs one mask shared by all channels.")
        filled = inpaint_biharmonic(img.transpose(1, 2, 0), hole, channel_axis=-1) if hole.any() else img.transpose(
            1, 2, 0)
        out.append(torch.from_numpy(np.ascontiguousarray(filled.transpose(2, 0, 1))))
    return torch.stack(out).to(y).clamp(0, 1)


BASELINES: dict[str, Callable[..., torch.Tensor]] = {
    "measurement": measurement, "pinv": pinv, "bicubic": bicubic, "wiener": wiener, "biharmonic": biharmonic,
}


def why_not(name: str, operator, image_shape: Sequence[int]) -> str | None:
    """``None`` if baseline ``name`` applies to ``operator``, else one sentence saying why not."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}.")
    task = operator.name
    if name == "measurement":
        shape = tuple(operator.output_shape(tuple(image_shape)))
        return None if shape == tuple(image_shape) else "the measurement does not have the image's shape."
    if name == "pinv":
        if not operator.linear:
            return "the operator is not linear."
        return "A⁺y equals y for a 0/1 mask." if task == "inpaint" else None
    if name == "bicubic":
        return None if task == "sr4" else "bicubic upsampling is the super-resolution baseline."
    if name == "wiener":
        return None if task in ("gaussian_blur", "motion_blur") else "Wiener deconvolution is the blur baseline."
    return None if task == "inpaint" else "biharmonic inpainting is the inpainting baseline."


def applicable(operator, image_shape: Sequence[int], names: Sequence[str] | None = None) -> list[str]:
    """The baselines among ``names`` (default: all) that apply to ``operator``, in table order."""
    return [n for n in (names or list(BASELINES)) if why_not(n, operator, image_shape) is None]


def run_baseline(name: str, y: torch.Tensor, operator, image_shape: Sequence[int], **settings) -> torch.Tensor:
    """Baseline ``name`` on measurement ``y`` (N×…, [0, 1]) → N×C×H×W restored images in [0, 1]."""
    reason = why_not(name, operator, image_shape)
    if reason is not None:
        raise ValueError(f"baseline {name!r} does not apply to {operator.name}: {reason}")
    return BASELINES[name](y, operator, tuple(int(s) for s in image_shape), **settings)
