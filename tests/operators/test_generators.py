"""Mask and blur-kernel generators: determinism, conventions, ratios, file readers."""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from operators.generators import (
    MASK_KINDS,
    box_mask,
    expand_mask,
    fill_fraction,
    free_form_mask,
    gaussian_kernel,
    half_mask,
    invert_mask,
    irregular_mask,
    load_kernel,
    load_kernels,
    load_mask_file,
    make_mask,
    mask_summary,
    motion_kernel,
    random_mask,
)

SHARED = Path(os.environ.get("INVDIFF_SHARED", Path(__file__).parents[2].parent / "shared"))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def mask_folder(tmp_path_factory) -> Path:
    """Three 40×40 white-hole PNGs with 10 %, 20 %, 30 % of rows white."""
    folder = tmp_path_factory.mktemp("masks")
    for i, rows in enumerate((4, 8, 12)):
        a = np.zeros((40, 40), np.uint8)
        a[:rows] = 255
        Image.fromarray(a).save(folder / f"{i:03d}.png")
    return folder


def params_for(kind: str, folder: Path) -> dict:
    return {"folder": folder, "hole_is": "white"} if kind == "irregular" else {}


RANDOM_KINDS = ["box", "random", "irregular", "free_form", "wide", "narrow", "half"]


# -- masks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(MASK_KINDS))
@pytest.mark.parametrize("size", [64, (48, 80)])
def test_mask_shape_dtype_binary_and_determinism(kind, size, mask_folder):
    a = make_mask(kind, size, gen(0), **params_for(kind, mask_folder))
    b = make_mask(kind, size, gen(0), **params_for(kind, mask_folder))
    h, w = (size, size) if isinstance(size, int) else size
    assert a.shape == (1, h, w) and a.dtype == torch.float32
    assert bool(((a == 0) | (a == 1)).all())
    assert torch.equal(a, b)
    assert 0.0 < fill_fraction(a) < 1.0


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_random_masks_differ_across_seeds(kind, mask_folder):
    masks = {make_mask(kind, 64, gen(s), **params_for(kind, mask_folder)).numpy().tobytes() for s in range(6)}
    assert len(masks) > 1


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("box", 0.25),
        ("random", 0.92),
        ("half", 0.5),
        ("expand", 1 - 1 / 16),
        ("lines", 0.5),
        ("super_resolve", 0.75),
    ],
)
def test_fixed_fill_fractions(kind, expected):
    for seed in range(3):
        assert fill_fraction(make_mask(kind, 64, gen(seed))) == pytest.approx(expected, abs=0.5 / 64**2)


@pytest.mark.parametrize(
    ("kind", "low", "high"), [("free_form", 0.1, 0.3), ("wide", 0.2, 0.4), ("narrow", 0.1, 0.3)]
)
def test_stroke_masks_hole_ratio_in_range(kind, low, high):
    ratios = [fill_fraction(make_mask(kind, 64, gen(s))) for s in range(15)]
    assert all(low <= r <= high for r in ratios), ratios
    assert max(ratios) - min(ratios) > 0.02  # the target ratio really is drawn


def test_free_form_custom_range():
    m = free_form_mask(96, gen(0), hole_range=(0.45, 0.5))
    assert 0.45 <= fill_fraction(m) <= 0.5
    with pytest.raises(ValueError, match="hole_range"):
        free_form_mask(64, gen(0), hole_range=(0.5, 0.2))


def test_box_dps_geometry():
    """32×32 at 64² placed ≥ 4 px from each border; 128×128 at 256² ≥ 16 px; centred option."""
    for size, side, margin in ((64, 32, 4), (256, 128, 16)):
        for seed in range(5):
            hole = box_mask(size, gen(seed))[0] == 0
            rows, cols = hole.any(1).nonzero()[:, 0], hole.any(0).nonzero()[:, 0]
            assert len(rows) == side and len(cols) == side
            assert rows.min() >= margin and rows.max() <= size - 1 - margin
            assert cols.min() >= margin and cols.max() <= size - 1 - margin
    centred = box_mask(64, gen(0), centred=True)[0] == 0
    assert centred[16:48, 16:48].all() and centred.sum() == 32 * 32
    with pytest.raises(ValueError, match="does not fit"):
        box_mask(64, gen(0), box=60)


def test_half_sides():
    left = half_mask(8, gen(0), side="left")[0]
    assert (left[:, :4] == 0).all() and (left[:, 4:] == 1).all()
    sides = {half_mask(8, gen(s)).numpy().tobytes() for s in range(20)}
    assert len(sides) == 4
    with pytest.raises(ValueError, match="side"):
        half_mask(8, gen(0), side="middle")


def test_structured_masks_layout():
    lines = make_mask("lines", 6, gen(0))[0]
    assert (lines[1::2] == 0).all() and (lines[0::2] == 1).all()
    sr = make_mask("super_resolve", 6, gen(0))[0]
    assert (sr[0::2, 0::2] == 1).all() and sr.sum() == 9
    ex = expand_mask(256)[0]
    assert ex.sum() == 64 * 64 and (ex[96:160, 96:160] == 1).all()


def test_random_mask_exact_count_and_channel_shared():
    m = random_mask((10, 20), gen(0), missing=0.92)
    assert m.shape == (1, 10, 20) and int((m == 0).sum()) == 184


def test_make_mask_errors():
    with pytest.raises(ValueError, match="unknown mask kind"):
        make_mask("circle", 64, gen(0))
    with pytest.raises(ValueError, match="takes parameters"):
        make_mask("box", 64, gen(0), radius=3)
    with pytest.raises(TypeError, match="torch.Generator"):
        make_mask("random", 64, 0)
    with pytest.raises(ValueError, match="size"):
        make_mask("random", 0, gen(0))


def test_invert_and_summary():
    m = random_mask(16, gen(1), missing=0.25)
    assert torch.equal(invert_mask(invert_mask(m)), m)
    assert fill_fraction(invert_mask(m)) == pytest.approx(0.75)
    assert "25.0%" in mask_summary(m)
    with pytest.raises(ValueError, match="binary"):
        invert_mask(m * 0.5)


def test_load_mask_file_polarity_and_resize(tmp_path):
    a = np.zeros((20, 30), np.uint8)
    a[:5, :] = 255  # white top quarter
    Image.fromarray(a).save(tmp_path / "m.png")
    white = load_mask_file(tmp_path / "m.png", hole_is="white")
    black = load_mask_file(tmp_path / "m.png", hole_is="black")
    assert white.shape == (1, 20, 30)
    assert (white[0, :5] == 0).all() and (white[0, 5:] == 1).all()
    assert torch.equal(black, invert_mask(white))
    small = load_mask_file(tmp_path / "m.png", hole_is="white", size=(8, 12))
    assert small.shape == (1, 8, 12) and bool(((small == 0) | (small == 1)).all())
    assert fill_fraction(small) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="hole_is"):
        load_mask_file(tmp_path / "m.png", hole_is="auto")
    with pytest.raises(TypeError):
        load_mask_file(tmp_path / "m.png")  # polarity is required
    with pytest.raises(FileNotFoundError):
        load_mask_file(tmp_path / "none.png", hole_is="white")


def test_irregular_folder_choice(mask_folder):
    fractions = {
        round(fill_fraction(irregular_mask(40, gen(s), mask_folder, hole_is="white")), 3) for s in range(12)
    }
    assert fractions <= {0.1, 0.2, 0.3} and len(fractions) > 1


@pytest.mark.shared
def test_nvidia_irregular_bins_polarity():
    folder = SHARED / "masks" / "nvidia-irregular" / "01-10"
    if not folder.is_dir():
        pytest.skip(f"shared masks not found at {folder}; set INVDIFF_SHARED")
    files = sorted(folder.glob("*.png"))[:5]
    for f in files:
        m = load_mask_file(f, hole_is="white")
        assert 0.01 <= fill_fraction(m) <= 0.10
        assert fill_fraction(load_mask_file(f, hole_is="black")) == pytest.approx(1 - fill_fraction(m))
    m64 = irregular_mask(64, gen(0), folder, hole_is="white")
    assert m64.shape == (1, 64, 64) and 0.0 < fill_fraction(m64) < 0.15


# -- kernels ------------------------------------------------------------------------------------
def centre_of_mass(k: torch.Tensor) -> tuple[float, float]:
    idx = torch.arange(k.shape[0], dtype=torch.float64)
    k = k.double()
    return float((k.sum(1) * idx).sum() / k.sum()), float((k.sum(0) * idx).sum() / k.sum())


def assert_valid_kernel(k: torch.Tensor, size: int) -> None:
    assert k.shape == (size, size)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(k.min()) >= 0
    r, c = centre_of_mass(k)
    assert abs(r - (size - 1) / 2) < 1 and abs(c - (size - 1) / 2) < 1


def test_gaussian_kernel():
    k = gaussian_kernel(61, 3.0)
    assert_valid_kernel(k, 61)
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))
    r = torch.arange(61.0) - 30
    var = float((k.sum(1) * r**2).sum())
    assert var == pytest.approx(9.0, rel=1e-4)
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(60, 3.0)
    with pytest.raises(ValueError, match="std"):
        gaussian_kernel(15, 0.0)


@pytest.mark.parametrize("size", [15, 61])
def test_motion_kernel_valid_deterministic(size):
    a = motion_kernel(size, 0.5, generator=gen(0))
    assert_valid_kernel(a, size)
    assert torch.equal(a, motion_kernel(size, 0.5, generator=gen(0)))
    assert not torch.equal(a, motion_kernel(size, 0.5, generator=gen(1)))
    assert float(a.max()) < 0.5  # a streak, not a delta


def test_motion_kernel_extent_grows_with_intensity():
    def spread(intensity: float) -> float:
        out = []
        for s in range(6):
            k = motion_kernel(61, intensity, generator=gen(s)).double()
            r = torch.arange(61.0, dtype=torch.float64) - 30
            out.append(float((k.sum(1) * r**2).sum() + (k.sum(0) * r**2).sum()))
        return sum(out) / len(out)

    assert spread(0.1) < spread(0.5) < spread(0.9)


def test_motion_kernel_errors():
    with pytest.raises(TypeError, match="generator"):
        motion_kernel(61, 0.5)
    with pytest.raises(ValueError, match="intensity"):
        motion_kernel(61, 1.5, generator=gen(0))


def test_load_kernel_npy_png_and_validation(tmp_path):
    raw = np.zeros((5, 5))
    raw[2, 1:4] = [1.0, 2.0, 1.0]
    np.save(tmp_path / "k.npy", raw)
    k = load_kernel(tmp_path / "k.npy")
    assert torch.allclose(k.double(), torch.from_numpy(raw / 4))
    np.save(tmp_path / "stack.npy", np.stack([raw, raw.T]))
    assert torch.allclose(load_kernel(tmp_path / "stack.npy", index=1).double(), torch.from_numpy(raw.T / 4))
    with pytest.raises(ValueError, match="index"):
        load_kernel(tmp_path / "stack.npy")
    with pytest.raises(ValueError, match="out of range"):
        load_kernel(tmp_path / "stack.npy", index=2)
    Image.fromarray((raw * 100).astype(np.uint8)).save(tmp_path / "k.png")
    assert torch.allclose(load_kernel(tmp_path / "k.png").double(), torch.from_numpy(raw / 4))
    for name, bad, msg in (
        ("nan", np.full((3, 3), np.nan), "NaN"),
        ("zero", np.zeros((3, 3)), "all zero"),
        ("neg", -np.ones((3, 3)), "sum"),
        ("vec", np.ones(3), "2-D"),
    ):
        np.save(tmp_path / f"{name}.npy", bad)
        with pytest.raises(ValueError, match=msg):
            load_kernel(tmp_path / f"{name}.npy")


def test_load_kernel_mat_v5_and_hdf5_orientation(tmp_path):
    """An asymmetric kernel keeps its orientation through scipy (v5) and HDF5 (v7.3, transposed)."""
    k = np.zeros((3, 5))
    k[0, 4] = 3.0
    k[2, 0] = 1.0
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = k, k[::-1]
    scipy.io.savemat(tmp_path / "v5.mat", {"kernels": cell, "single": k})
    with pytest.raises(ValueError, match="variable"):
        load_kernels(tmp_path / "v5.mat")
    assert torch.allclose(
        load_kernel(tmp_path / "v5.mat", 1, variable="kernels").double(), torch.from_numpy(k[::-1] / 4)
    )
    assert torch.allclose(
        load_kernel(tmp_path / "v5.mat", variable="single").double(), torch.from_numpy(k / 4)
    )
    with h5py.File(tmp_path / "v73.mat", "w") as f:  # MATLAB v7.3 stores each array transposed
        ds = f.create_dataset("psf", data=k.T)
        ds.attrs["MATLAB_class"] = np.bytes_(b"double")
    assert torch.allclose(load_kernel(tmp_path / "v73.mat").double(), torch.from_numpy(k / 4))


@pytest.mark.shared
def test_shared_kernel_files():
    path12, levin = SHARED / "kernels" / "kernels_12.mat", SHARED / "kernels" / "Levin09.mat"
    if not (path12.is_file() and levin.is_file()):
        pytest.skip(f"shared kernels not found under {SHARED}; set INVDIFF_SHARED")
    k12 = load_kernels(path12)
    assert len(k12) == 12 and all(k.shape == (25, 25) for k in k12)
    lev = load_kernels(levin)
    assert [k.shape[0] for k in lev] == [19, 17, 15, 27, 13, 21, 23, 23]
    for k in k12 + lev:
        assert float(k.sum()) == pytest.approx(1.0) and k.dim() == 2 and float(k.min()) >= 0
    assert load_kernel(levin, index=3).dtype == torch.float32
    assert math.isclose(float(load_kernel(path12, 0).sum()), 1.0, rel_tol=1e-6)
