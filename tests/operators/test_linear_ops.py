"""Operator-specific checks: independent oracles for each forward model, the registry, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import operators
from operators import (
    GaussianBlur,
    GaussianNoise,
    Inpainting,
    MotionBlur,
    NotLinearError,
    OperatorError,
    SuperResolution,
    registry,
)


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- blur ---------------------------------------------------------------------------------------
def test_separable_circular_equals_fft():
    x = rand(2, 3, 23, 30)
    sep = GaussianBlur(2.0, 15, boundary="circular")
    fft = GaussianBlur(2.0, 15, method="fft")
    torch.testing.assert_close(sep.apply(x), fft.apply(x), rtol=0, atol=1e-13)
    torch.testing.assert_close(sep.adjoint(x), fft.adjoint(x), rtol=0, atol=1e-13)
    s_sep, s_fft = sep.singulars(x)[0].sort().values, fft.singulars(x)[0].sort().values
    torch.testing.assert_close(s_sep, s_fft, rtol=0, atol=1e-12)


@pytest.mark.parametrize("boundary,pad_mode", [("reflect", "reflect"), ("replicate", "replicate"),
                                               ("zero", "constant"), ("circular", "circular")])
def test_separable_boundary_matches_padded_conv2d(boundary, pad_mode):
    """Against the DPS-style pad-then-conv2d, and against the FFT form: same inside, different at the border."""
    x, r = rand(1, 3, 21, 26, seed=1), 4
    op = GaussianBlur(1.5, 2 * r + 1, boundary=boundary)
    padded = F.pad(x, (r, r, r, r), mode=pad_mode)
    reference = F.conv2d(padded, op.kernel.expand(3, 1, -1, -1), groups=3)
    torch.testing.assert_close(op.apply(x), reference, rtol=0, atol=1e-13)
    circular = GaussianBlur(1.5, 2 * r + 1, method="fft").apply(x)
    inner = (..., slice(r, -r), slice(r, -r))
    torch.testing.assert_close(op.apply(x)[inner], circular[inner], rtol=0, atol=1e-13)
    border_gap = (op.apply(x) - circular).abs().max()
    assert (border_gap < 1e-13) if boundary == "circular" else (border_gap > 1e-3)


def test_gaussian_kernel():
    op = GaussianBlur()
    assert op.kernel.shape == (61, 61) and op.kernel.sum().item() == pytest.approx(1.0, abs=1e-12)
    c = op.kernel[30]
    assert c[30 + 3] / c[30] == pytest.approx(math.exp(-0.5), rel=1e-12)  # std 3 px


def test_motion_blur_matches_direct_circular_convolution():
    """y[i] = Σ_t h[t] x[(i − t + K//2) mod n] for an even×odd, asymmetric kernel."""
    h = rand(4, 5, seed=2)
    h = h / h.sum()
    x = rand(1, 1, 9, 11, seed=3)
    y = MotionBlur(h, channels=1).apply(x)[0, 0].numpy()
    hn, xn = h.numpy(), x[0, 0].numpy()
    expected = np.zeros((9, 11))
    for t1 in range(4):
        for t2 in range(5):
            expected += hn[t1, t2] * np.roll(xn, (t1 - 2, t2 - 2), axis=(0, 1))
    np.testing.assert_allclose(y, expected, atol=1e-14)


def test_motion_blur_keeps_constant_and_mean():
    h = rand(7, 7, seed=4)
    op = MotionBlur(h / h.sum())
    torch.testing.assert_close(op.apply(torch.full((1, 3, 16, 16), 0.3, dtype=torch.float64)),
                               torch.full((1, 3, 16, 16), 0.3, dtype=torch.float64))
    s = op.singulars(rand(1, 3, 16, 16))
    assert s.max().item() == pytest.approx(1.0)  # DC gain of a kernel summing to 1


# -- super-resolution ---------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bicubic_matches_pil_inside(factor):
    """PIL's antialiased bicubic (a = −0.5) equals ours away from the border (PIL renormalises there)."""
    a = rand(10 * factor, 7 * factor, seed=factor, dtype=torch.float32).numpy()
    pil = np.asarray(Image.fromarray(a, mode="F").resize((7, 10), Image.BICUBIC))
    ours = SuperResolution(factor, channels=1).apply(torch.from_numpy(a)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours[2:-2, 2:-2], pil[2:-2, 2:-2], atol=1e-6)


@pytest.mark.parametrize("kernel", ["bicubic", "average"])
def test_sr_keeps_constants_and_factor_one_is_identity(kernel):
    x = torch.full((1, 3, 12, 8), 0.7, dtype=torch.float64)
    torch.testing.assert_close(SuperResolution(4, kernel).apply(x), torch.full((1, 3, 3, 2), 0.7, dtype=torch.float64))
    z = rand(2, 3, 5, 7)
    torch.testing.assert_close(SuperResolution(1, kernel).apply(z), z, rtol=0, atol=1e-15)


def test_average_sr_is_block_mean_with_block_svd():
    f = 3
    op = SuperResolution(f, "average", channels=1)
    x = rand(2, 1, 6, 9)
    torch.testing.assert_close(op.apply(x), x.reshape(2, 1, 2, 3, 3, 3).mean(dim=(3, 5)))
    torch.testing.assert_close(op.singulars(x), torch.full((1, 6), 1 / f, dtype=torch.float64))
    # one block: V is an orthogonal f²×f² matrix whose first column is constant (= 1/f)
    Vt = op.V_t(torch.eye(f * f, dtype=torch.float64).reshape(f * f, 1, f, f)).T
    torch.testing.assert_close(Vt @ Vt.T, torch.eye(f * f, dtype=torch.float64))
    torch.testing.assert_close(Vt[0], torch.full((f * f,), 1 / f, dtype=torch.float64))
    # an image constant on blocks has no null-space coefficients
    blocky = rand(1, 1, 2, 3).repeat_interleave(f, -2).repeat_interleave(f, -1)
    assert op.V_t(blocky)[:, 6:].abs().max() < 1e-14
    torch.testing.assert_close(op.pinv(op.apply(blocky)), blocky)


def test_sr_name_and_sizes():
    assert SuperResolution(2).name == "sr2" and registry.build("sr3").factor == 3
    assert SuperResolution(4).output_shape((5, 3, 16, 12)) == (5, 3, 4, 3)
    assert SuperResolution(4).input_shape_for(rand(1, 3, 4, 3)) == (1, 3, 16, 12)


# -- inpainting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mask_shape", [(5, 6), (1, 5, 6), (3, 5, 6), (1, 1, 5, 6), (2, 1, 5, 6), (2, 3, 5, 6)])
def test_inpainting_mask_shapes(mask_shape):
    m = (rand(*mask_shape, seed=5) < 0.4).float()
    op = Inpainting(m)
    x = rand(2, 3, 5, 6, seed=6)
    torch.testing.assert_close(op.apply(x), m.expand(2, 3, 5, 6).to(x) * x)
    assert op.singulars(x).shape == (2 if len(mask_shape) == 4 and mask_shape[0] == 2 else 1, 90)
    assert op.fraction_missing == pytest.approx(1 - m.mean().item())


def test_per_sample_masks_match_one_operator_per_sample():
    masks = (rand(3, 1, 5, 7, seed=7) < 0.5).float()
    op = Inpainting(masks)
    x, y = rand(3, 3, 5, 7, seed=8), rand(3, 3, 5, 7, seed=9)
    assert abs((op.apply(x) * y).sum() - (x * op.adjoint(y)).sum()) < 1e-12 * (op.apply(x) * y).sum()
    for i in range(3):
        single = Inpainting(masks[i])
        torch.testing.assert_close(op.apply(x)[i:i + 1], single.apply(x[i:i + 1]))
        torch.testing.assert_close(op.pinv(y)[i:i + 1], single.pinv(y[i:i + 1]))
        torch.testing.assert_close(op.singulars(x)[i], single.singulars(x[:1])[0])
    with pytest.raises(OperatorError, match="per-sample"):
        op.apply(x[:2])


def test_inpainting_noise_only_where_observed():
    m = (rand(16, 16, seed=10) < 0.3).float()
    op = Inpainting(m, noise=GaussianNoise(0.5))
    x = rand(2, 3, 16, 16, seed=11)
    y = op.measure(x, torch.Generator().manual_seed(0))
    assert torch.all(y[:, :, m == 0] == 0)
    assert (y - x)[:, :, m == 1].std().item() == pytest.approx(0.25, rel=0.15)
    torch.testing.assert_close(op.pinv(y), m * y)


# -- registry -----------------------------------------------------------------------------------
def test_registry_names_and_errors(monkeypatch):
    assert operators.available() == ["gaussian_blur", "inpaint", "jpeg", "motion_blur", "sr4"]
    for name in ("gaussian_blur", "sr4"):
        assert registry.build(name).name == name
    assert registry.build("inpaint", mask=torch.ones(4, 4), noise=0.05).noise.sigma_y == 0.05
    with pytest.raises(OperatorError, match="available: gaussian_blur, inpaint, jpeg"):
        operators.build("denoise")
    missing = registry.Entry("operators._not_written_yet:JPEG", registry.REGISTRY["jpeg"].example, ((3, 8, 8),))
    monkeypatch.setitem(registry.REGISTRY, "jpeg", missing)
    with pytest.raises(OperatorError, match="does not exist yet"):
        operators.build("jpeg")
    assert "jpeg" in operators.available()


def test_nonlinear_views_refused():
    class Square(operators.Operator):
        def apply(self, x):
            return x * x

        def pinv(self, y):
            return y.sqrt()

    with pytest.raises(NotLinearError):
        Square().adjoint(rand(1, 1, 2, 2))
    assert not Square().has_svd and not Square().linear


# -- bad input ----------------------------------------------------------------------------------
OPS = {
    "inpaint": lambda: Inpainting(torch.ones(8, 8)),
    "gaussian": lambda: GaussianBlur(1.0, 5),
    "gaussian_fft": lambda: GaussianBlur(1.0, 5, method="fft"),
    "motion": lambda: MotionBlur(torch.full((3, 3), 1 / 9)),
    "sr": lambda: SuperResolution(4),
}


@pytest.mark.parametrize("make", OPS.values(), ids=OPS.keys())
@pytest.mark.parametrize("bad,match", [
    (torch.rand(3, 8, 8), "4-D"),
    (torch.rand(1, 1, 8, 8), "channels"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    (torch.ones(1, 3, 8, 8, dtype=torch.int64), "float"),
    (np.ones((1, 3, 8, 8)), "torch.Tensor"),
])
def test_bad_images(make, bad, match):
    op = make()
    with pytest.raises(OperatorError, match=match):
        op.apply(bad)
    with pytest.raises(OperatorError, match=match):
        op.adjoint(bad if match != "channels" else torch.rand(1, 1, 2, 2))


def test_bad_sizes_and_parameters():
    x = rand(1, 3, 10, 10)
    with pytest.raises(OperatorError, match="does not match"):
        Inpainting(torch.ones(8, 8)).apply(x)
    with pytest.raises(OperatorError, match="exactly 0"):
        Inpainting(torch.full((8, 8), 0.5))
    with pytest.raises(OperatorError, match="mask must be"):
        Inpainting(torch.ones(8))
    with pytest.raises(OperatorError, match="channels"):
        Inpainting(torch.ones(2, 8, 8))
    with pytest.raises(OperatorError, match="sum to 1"):
        MotionBlur(torch.ones(3, 3))
    with pytest.raises(OperatorError, match="non-negative"):
        MotionBlur(torch.tensor([[0.6, -0.2, 0.6]]))
    with pytest.raises(OperatorError, match="2-D"):
        MotionBlur(torch.full((1, 3, 3), 1 / 9))
    for op in (MotionBlur(torch.full((11, 3), 1 / 33)), GaussianBlur(1.0, 11), GaussianBlur(1.0, 11, method="fft")):
        with pytest.raises(OperatorError, match="larger than"):
            op.apply(rand(1, 3, 10, 12))
    with pytest.raises(OperatorError, match="odd"):
        GaussianBlur(1.0, 6)
    with pytest.raises(OperatorError, match="sigma"):
        GaussianBlur(0.0)
    with pytest.raises(OperatorError, match="circular"):
        GaussianBlur(method="fft", boundary="reflect")
    with pytest.raises(OperatorError, match="boundary"):
        GaussianBlur(boundary="wrap")
    for factor in (2.5, 4.0, "4", True, 0):
        with pytest.raises(OperatorError, match="factor"):
            SuperResolution(factor)
    with pytest.raises(OperatorError, match="divisible"):
        SuperResolution(4).apply(rand(1, 3, 10, 12))
    with pytest.raises(OperatorError, match="kernel"):
        SuperResolution(4, kernel="lanczos")
    with pytest.raises(OperatorError, match="channels"):
        GaussianBlur(channels=0)


def test_bad_svd_arguments():
    op = GaussianBlur(1.0, 5)
    x = rand(2, 3, 8, 9)
    with pytest.raises(OperatorError, match="coefficients"):
        op.V(op.V_t(x)[:, :-1], x.shape)
    with pytest.raises(OperatorError, match="shape"):
        op.V(op.V_t(x), (8, 9))
    with pytest.raises(OperatorError, match="per-sample"):
        Inpainting(torch.ones(2, 1, 8, 9)).singulars(rand(3, 3, 8, 9))
