"""Blur-kernel generators and kernel-file readers.

Every kernel returned here is a 2-D ``K×K`` float tensor, non-negative for the generators, and
**normalised to sum 1** (a blur preserves mean brightness). Random kernels draw only from an
explicit ``torch.Generator``.

Motion blur — our camera-shake model
------------------------------------
The DPS protocol asks for 61×61 kernels of "intensity 0.5" from a random camera-shake trajectory.
We model the shake as the image-plane position ``p(t)`` of a point during the exposure
``t ∈ [0, 1]``, sampled at ``T = 512`` instants:

1. a drift direction ``d`` (unit vector, uniform angle) — the dominant hand motion;
2. a velocity that is an AR(1) (discrete Ornstein–Uhlenbeck) process around it,
   ``v_{t+1} = d + ρ (v_t − d) + s ξ_t`` with ``ξ_t ~ N(0, I)``; the correlation time is 10 % of the
   exposure (``ρ = exp(−10/T)``) so the path is smooth but turns a few times, and the stationary
   jitter-to-drift ratio ``J = s / √(1 − ρ²) = 0.25 + 2.75·intensity`` grows with intensity
   (intensity 0: an almost straight streak; 1: a tangled path);
3. ``p`` is the running sum of ``v``; it is scaled so its largest deviation from its time-mean
   (Chebyshev norm) is ``(0.2 + 0.6·intensity)·((K − 1)/2 − 1)`` pixels — the extent grows with
   intensity and always fits inside the grid;
4. the path is resampled piecewise-linearly at ≤ 1/4 px spacing and each sample deposits equal
   weight (equal exposure time) on the grid by bilinear splatting. Bilinear splatting preserves
   the first moment, so placing the time-mean at the grid centre puts the kernel's centre of mass
   exactly at the centre (no blur-induced shift). Slow parts of the path collect more energy,
   as in real shake kernels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _check_size(size: int) -> None:
    if not (isinstance(size, int) and size >= 3 and size % 2 == 1):
        raise ValueError(
            f"kernel size must be an odd int >= 3 so the kernel has a centre pixel, got {size!r}."
        )


def gaussian_kernel(size: int = 61, std: float = 3.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Isotropic Gaussian ``exp(−r²/2σ²)`` sampled on a ``size×size`` grid, normalised to sum 1."""
    _check_size(size)
    if not std > 0:
        raise ValueError(f"std must be > 0 pixels, got {std}.")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * std**2))
    k = g[:, None] * g[None, :]
    return (k / k.sum()).to(dtype)


def shake_trajectory(generator: torch.Generator, intensity: float = 0.5, steps: int = 512) -> torch.Tensor:
    """A ``steps×2`` camera-shake path (row, col) with unit-free scale; see the module docstring."""
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}.")
    dev = generator.device
    angle = 2 * math.pi * float(torch.rand((), generator=generator, device=dev, dtype=torch.float64))
    drift = torch.tensor([math.sin(angle), math.cos(angle)], dtype=torch.float64)
    rho = math.exp(-10.0 / steps)
    jitter = 0.25 + 2.75 * intensity
    s = jitter * math.sqrt(1 - rho**2)
    xi = torch.randn(steps, 2, generator=generator, device=dev, dtype=torch.float64).cpu()
    v = drift + jitter * xi[0]  # start from the stationary distribution
    velocities = []
    for t in range(steps):
        velocities.append(v)
        v = drift + rho * (v - drift) + s * xi[t]
    return torch.cumsum(torch.stack(velocities), dim=0)


def _densify(path: torch.Tensor, spacing: float) -> torch.Tensor:
    """Piecewise-linear resampling with at most ``spacing`` between samples, equal time per sample."""
    seg = path[1:] - path[:-1]
    n = max(1, math.ceil(float(seg.norm(dim=1).max()) / spacing))
    frac = torch.arange(n, dtype=path.dtype)[None, :, None] / n
    dense = path[:-1, None, :] + frac * seg[:, None, :]
    return torch.cat([dense.reshape(-1, 2), path[-1:]], dim=0)


def _splat(points: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear splatting of equal-weight points (all inside ``[0, size−1]²``) onto a grid."""
    base = points.floor().clamp(0, size - 2)
    f = points - base
    i, j = base[:, 0].long(), base[:, 1].long()
    k = torch.zeros(size * size, dtype=points.dtype)
    for di, dj, wgt in (
        (0, 0, (1 - f[:, 0]) * (1 - f[:, 1])),
        (0, 1, (1 - f[:, 0]) * f[:, 1]),
        (1, 0, f[:, 0] * (1 - f[:, 1])),
        (1, 1, f[:, 0] * f[:, 1]),
    ):
        k.index_add_(0, (i + di) * size + (j + dj), wgt)
    return k.view(size, size)


def motion_kernel(
    size: int = 61,
    intensity: float = 0.5,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A random camera-shake kernel (our trajectory model, module docstring), sum 1, centred.

    ``generator`` is required; it is a keyword with a default only so the DPS-style call
    ``motion_kernel(61, 0.5, generator=g)`` reads naturally.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            "motion_kernel needs generator=torch.Generator().manual_seed(seed) to draw the shake."
        )
    _check_size(size)
    path = shake_trajectory(generator, intensity)
    dense = _densify(path, spacing=1.0)  # rescaled below; refined to 1/4 px after scaling
    centre = (size - 1) / 2
    radius = (0.2 + 0.6 * intensity) * (centre - 1)
    spread = float((dense - dense.mean(0)).abs().max())
    path = (path - dense.mean(0)) * (radius / max(spread, 1e-12))
    dense = _densify(path, spacing=0.25)
    dense = dense - dense.mean(0) + centre  # time-mean (= centre of mass after splatting) at the centre
    k = _splat(dense, size)
    return (k / k.sum()).to(dtype)


# -- kernel files -------------------------------------------------------------------------------
def validate_kernel(k: np.ndarray | torch.Tensor, source: str = "kernel") -> torch.Tensor:
    """Check a kernel is 2-D, finite, with positive sum; return it as float64 normalised to sum 1.

    Individual negative taps (e.g. ringing in estimated kernels) are kept; only the sum must be
    positive.
    """
    t = torch.as_tensor(np.asarray(k) if not isinstance(k, torch.Tensor) else k).to(torch.float64)
    if t.dim() != 2:
        raise ValueError(
            f"{source} has shape {tuple(t.shape)}; a blur kernel must be 2-D (pick one with index=)."
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{source} contains NaN or infinite values; fix the kernel file.")
    total = float(t.sum())
    if not total > 0:
        what = "all zero" if not bool(t.abs().sum() > 0) else f"sum {total:g} <= 0"
        raise ValueError(f"{source} is {what}; a blur kernel needs a positive sum to be normalised.")
    return t / total


def _mat_arrays_scipy(path: Path) -> dict[str, list[np.ndarray]]:
    """MATLAB ≤ v7.2 file: each variable → list of 2-D arrays (cells flattened, 3-D split on last axis)."""
    import scipy.io

    out = {}
    for name, value in scipy.io.loadmat(str(path)).items():
        if name.startswith("__"):
            continue
        if value.dtype == object:
            out[name] = [np.asarray(c) for c in value.ravel(order="F")]  # MATLAB linear (column-major) order
        elif value.ndim == 3:
            out[name] = [value[..., i] for i in range(value.shape[-1])]
        else:
            out[name] = [value]
    return out


def _mat_arrays_hdf5(path: Path) -> dict[str, list[np.ndarray]]:
    """MATLAB v7.3 (HDF5) file; HDF5 stores MATLAB arrays transposed, so each array is ``.T``-ed."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            if name.startswith("#") or not isinstance(ds, h5py.Dataset):
                continue
            cls = ds.attrs.get("MATLAB_class", b"")
            cls = cls.decode() if isinstance(cls, bytes) else str(cls)
            if cls == "cell":  # HDF5 shape is MATLAB's reversed: C-order ravel = MATLAB linear order
                out[name] = [np.asarray(f[ref][()]).T for ref in ds[()].ravel()]
            else:
                arr = np.asarray(ds[()]).T
                out[name] = [arr[..., i] for i in range(arr.shape[-1])] if arr.ndim == 3 else [arr]
    return out


def load_kernels(path: str | Path, variable: str | None = None) -> list[torch.Tensor]:
    """All kernels in a file, each 2-D float64 and **normalised to sum 1**.

    * ``.npy`` – a ``K×K`` array or an ``N×K×K`` stack (first axis indexes kernels);
    * images (``.png``, ``.jpg`` …) – one grayscale kernel (RGB only if R = G = B);
    * ``.mat`` – MATLAB ≤ v7.2 through ``scipy.io.loadmat`` or v7.3 (HDF5) through ``h5py``: a
      cell array (e.g. DPIR's ``kernels_12.mat`` 1×12, ``Levin09.mat`` 1×8) in MATLAB's linear
      order, a ``K×K×N`` array (last axis indexes kernels) or one ``K×K`` array. ``variable``
      names the MATLAB variable when the file has more than one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"kernel file {path} does not exist; check the path.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        arrays = [arr[i] for i in range(arr.shape[0])] if arr.ndim == 3 else [arr]
    elif suffix in IMAGE_SUFFIXES:
        arrays = [_read_kernel_image(path)]
    elif suffix == ".mat":
        import h5py

        variables = _mat_arrays_hdf5(path) if h5py.is_hdf5(str(path)) else _mat_arrays_scipy(path)
        if variable is None:
            if len(variables) != 1:
                raise ValueError(f"{path} holds variables {sorted(variables)}; pass variable= to pick one.")
            variable = next(iter(variables))
        if variable not in variables:
            raise ValueError(f"{path} has no variable {variable!r}; it holds {sorted(variables)}.")
        arrays = variables[variable]
    else:
        raise ValueError(f"kernel file {path} has unsupported type {suffix!r}; use .npy, .mat or an image.")
    return [validate_kernel(a, f"kernel {i} of {path}") for i, a in enumerate(arrays)]


def _read_kernel_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("L", "I;16", "I", "F"):
            return np.asarray(im, dtype=np.float64)
        if im.mode == "RGB":
            rgb = np.asarray(im, dtype=np.float64)
            if (rgb == rgb[..., :1]).all():
                return rgb[..., 0]
        raise ValueError(f"kernel image {path} has mode {im.mode} with colour; save kernels as grayscale.")


def load_kernel(
    path: str | Path,
    index: int | None = None,
    variable: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """One kernel from a file (see :func:`load_kernels`), 2-D and **normalised to sum 1**.

    ``index`` picks a kernel from a file holding several (0-based); it may be omitted only when
    the file holds exactly one.
    """
    kernels = load_kernels(path, variable)
    if index is None:
        if len(kernels) != 1:
            raise ValueError(f"{path} holds {len(kernels)} kernels; pass index=0..{len(kernels) - 1}.")
        index = 0
    if not (isinstance(index, int) and -len(kernels) <= index < len(kernels)):
        raise ValueError(
            f"index {index!r} is out of range: {path} holds {len(kernels)} kernels (0..{len(kernels) - 1})."
        )
    return kernels[index].to(dtype)
