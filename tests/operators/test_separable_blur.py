"""A given separable kernel keeps the protocol's boundary (issue 14, item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import operators
from invdiff.tasks import gaussian_kernel_for, make_problem


def test_the_protocols_kernel_given_back_is_the_protocols_operator():
    """Re-solving a saved Gaussian-blur measurement with its saved kernel must use the same forward model."""
    x = torch.rand(2, 3, 24, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    k = gaussian_kernel_for(20)  # the protocol sizes its kernel by the smaller side
    given = operators.SeparableBlur(k)
    protocol = make_problem("gaussian_blur", (24, 20), torch.Generator().manual_seed(0)).operator
    torch.testing.assert_close(given.apply(x), protocol.apply(x), atol=1e-6, rtol=0)  # the kernel file is float32
    circular = operators.MotionBlur(k, channels=3)
    assert (circular.apply(x) - protocol.apply(x)).abs().max() > 1e-3  # what a given kernel used to become


def test_separable_blur_identities():
    k = np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 3.0, 1.0])
    op = operators.SeparableBlur(k / k.sum(), boundary="reflect", channels=2)
    x = torch.rand(3, 2, 9, 11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.rand(3, 2, 9, 11, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close((op.apply(x) * y).sum(), (x * op.adjoint(y)).sum())  # ⟨Ax, y⟩ = ⟨x, Aᵀy⟩
    torch.testing.assert_close(op.V(op.V_t(x), x.shape), x)
    s = op.singulars_for(x.shape, dtype=torch.float64)
    k_ = s.shape[1]
    z = op.V_t(x)
    svd = op.U(torch.nn.functional.pad(s * z[:, :k_], (0, z.shape[1] - k_)), x.shape)
    torch.testing.assert_close(svd, op.apply(x))


def test_non_separable_kernel_is_refused_with_one_sentence():
    with pytest.raises(operators.OperatorError, match="not separable"):
        operators.SeparableBlur(np.eye(3) / 3)


def test_a_kernel_read_back_from_8_bit_is_still_separable():
    """--save-all writes the kernel as an 8-bit PNG; its rounding must not make the protocol's kernel 'non-separable'."""
    k = gaussian_kernel_for(64).numpy().astype(np.float64)
    rounded = np.round(k / k.max() * 255) / 255
    s = np.linalg.svd(rounded, compute_uv=False)
    assert 1e-5 < s[1] / s[0] < operators.blur.SEPARABLE_RTOL  # not exactly rank 1, but well inside the tolerance
    op = operators.SeparableBlur(rounded / rounded.sum())
    assert op.boundary == "reflect"
