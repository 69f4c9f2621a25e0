"""One conformance suite for every registered operator (and the variants in conftest.py).

Linear-only checks skip non-linear operators, naming why. Sizes are odd and non-square (SR: a
multiple of its factor), batches have more than one sample.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from operators import GaussianNoise, OperatorError

BATCH = 2
CUDA = torch.cuda.is_available()


def images(shape: Sequence[int], dtype: torch.dtype = torch.float64, seed: int = 2, batch: int = BATCH):
    """Uniform [0, 1] tensors ``batch × shape`` (no cancellation in inner products, as real images)."""
    return torch.rand((batch, *shape), generator=torch.Generator().manual_seed(seed), dtype=dtype)


def measurement_shape(op, chw) -> tuple[int, ...]:
    return tuple(op.output_shape((1, *chw))[1:])


def dims(op, chw) -> tuple[int, int, int]:
    """``(D, M, k)``: input and measurement dimensions and the number of paired singular values."""
    k = op.singulars(images(chw, batch=1)).shape[1]
    return math.prod(chw), math.prod(measurement_shape(op, chw)), k


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ‖a − b‖ / ‖b‖ (absolute when b = 0)."""
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def dense(fn: Callable[[torch.Tensor], torch.Tensor], in_shape: Sequence[int]) -> np.ndarray:
    """The matrix of a linear map, column j = fn(e_j) (float64, one batched call)."""
    n = math.prod(in_shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *in_shape)
    return fn(basis).reshape(n, -1).T.numpy()


def inner(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


# -- all operators ---------------------------------------------------------------------------
def test_output_shapes(op, chw):
    x = images(chw)
    y = op.apply(x)
    assert tuple(y.shape) == op.output_shape(x.shape) and y.dtype == x.dtype
    assert op.pinv(y).shape == x.shape
    if op.linear:
        d, m, k = dims(op, chw)
        assert op.input_shape_for(y) == tuple(x.shape)
        assert op.adjoint(y).shape == x.shape
        assert op.V_t(x).shape == (BATCH, d) and op.U_t(y).shape == (BATCH, m)
        s = op.singulars(x)
        assert s.shape[0] in (1, BATCH) and k <= min(m, d) and bool((s >= 0).all())


def test_batch_equals_one_by_one(op, chw):
    x = images(chw, batch=3)
    y = op.apply(x)
    maps: list[tuple[Callable, torch.Tensor]] = [(op.apply, x), (op.pinv, y)]
    if op.linear:
        d, m, _ = dims(op, chw)
        maps += [(op.adjoint, y), (op.V_t, x), (op.U_t, y), (lambda z: op.V(z, chw), images((d,), batch=3)),
                 (lambda z: op.U(z, chw), images((m,), batch=3))]
    for fn, inp in maps:
        whole = fn(inp)
        for i in range(3):
            torch.testing.assert_close(fn(inp[i:i + 1]), whole[i:i + 1], rtol=1e-12, atol=1e-12)


def test_state_unchanged_by_calls(op, chw):
    """Parameters are constructor state: no call changes a buffer or stores anything."""
    before = {k: v.clone() for k, v in op.state_dict().items()}
    attributes = set(vars(op))
    for dtype in (torch.float32, torch.float64):
        x = images(chw, dtype)
        y = op.apply(x)
        op.pinv(y)
        op.measure(x, torch.Generator().manual_seed(0))
        if op.linear:
            op.adjoint(y)
            op.V(op.V_t(x), chw)
            op.U(op.U_t(y), chw)
            op.singulars(x)
    after = op.state_dict()
    assert set(after) == set(before) and set(vars(op)) == attributes
    for k, v in before.items():
        assert after[k].dtype == v.dtype and after[k].device == v.device and torch.equal(after[k], v), k


@pytest.mark.parametrize("seed", [0, 1234])
def test_measure_reproducible(op, chw, seed):
    noisy = copy.deepcopy(op)
    noisy.noise = GaussianNoise(0.2)
    x = images(chw)
    y1 = noisy.measure(x, torch.Generator().manual_seed(seed))
    y2 = noisy.measure(x, torch.Generator().manual_seed(seed))
    assert torch.equal(y1, y2)
    assert not torch.equal(y1, noisy.measure(x, torch.Generator().manual_seed(seed + 1)))
    per_sample = noisy.measure(x, [torch.Generator().manual_seed(seed + i) for i in range(BATCH)])
    for i in range(BATCH):
        alone = noisy.measure(x[i:i + 1], [torch.Generator().manual_seed(seed + i)])
        torch.testing.assert_close(alone, per_sample[i:i + 1], rtol=1e-12, atol=1e-12)
    with pytest.raises(OperatorError, match="generator"):
        noisy.measure(x)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_cpu_equals_cuda(op, chw, dtype, tol):
    x = images(chw, dtype)
    on_gpu = copy.deepcopy(op).to("cuda")
    for model in (op, on_gpu):  # CPU buffers with CUDA inputs, and CUDA buffers
        y = op.apply(x)
        assert rel(model.apply(x.cuda()).cpu(), y) < tol
        assert rel(model.pinv(y.cuda()).cpu(), op.pinv(y)) < tol
        if op.linear:
            assert rel(model.adjoint(y.cuda()).cpu(), op.adjoint(y)) < tol
            assert rel(model.V_t(x.cuda()).cpu(), op.V_t(x)) < tol
            assert rel(model.U_t(y.cuda()).cpu(), op.U_t(y)) < tol
            assert rel(model.singulars(x.cuda()).cpu(), op.singulars(x)) < tol
            assert rel(model.V(op.V_t(x).cuda(), chw).cpu(), x) < tol


# -- linear operators --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_dot_test(linear_op, chw, dtype, tol):
    """Relative dot test ⟨Ax, y⟩ = ⟨x, Aᵀy⟩."""
    x = images(chw, dtype, seed=3)
    y = images(measurement_shape(linear_op, chw), dtype, seed=4)
    lhs, rhs = inner(linear_op.apply(x), y), inner(x, linear_op.adjoint(y))
    assert abs(lhs - rhs) <= tol * abs(lhs)


def test_vjp_equals_adjoint(linear_op, chw):
    x = images(chw).requires_grad_(True)
    y = images(measurement_shape(linear_op, chw), seed=5)
    (grad,) = torch.autograd.grad(linear_op.apply(x), x, grad_outputs=y)
    assert rel(grad, linear_op.adjoint(y)) < 1e-12


def test_dense_oracle(linear_op, chw):
    """Adjoint, singular values, SVD factors and pinv against dense numpy on the explicit matrix."""
    op, yshape = linear_op, measurement_shape(linear_op, chw)
    d, m, k = dims(op, chw)
    A = dense(op.apply, chw)
    assert A.shape == (m, d)
    np.testing.assert_allclose(dense(op.adjoint, yshape), A.T, atol=1e-12)
    s = op.singulars(images(chw, batch=1))[0].numpy()
    expected = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(np.pad(np.sort(s)[::-1], (0, min(m, d) - k)), expected, atol=1e-12)
    Vt, Ut = dense(op.V_t, chw), dense(op.U_t, yshape)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(d), atol=1e-12)
    np.testing.assert_allclose(Ut @ Ut.T, np.eye(m), atol=1e-12)
    np.testing.assert_allclose(dense(lambda z: op.V(z, chw), (d,)), Vt.T, atol=1e-12)
    np.testing.assert_allclose(dense(lambda z: op.U(z, chw), (m,)), Ut.T, atol=1e-12)
    np.testing.assert_allclose(Ut.T[:, :k] @ np.diag(s) @ Vt[:k], A, atol=1e-12)
    P = dense(lambda y: op.pinv(y, rcond=1e-9), yshape)
    np.testing.assert_allclose(P, np.linalg.pinv(A, rcond=1e-9), atol=1e-9 * max(1.0, np.abs(P).max()))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_svd_identities(linear_op, chw, dtype, tol):
    op = linear_op
    d, m, k = dims(op, chw)
    x, y = images(chw, dtype, seed=6), images(measurement_shape(op, chw), dtype, seed=7)
    z, w = images((d,), dtype, seed=8) - 0.5, images((m,), dtype, seed=9) - 0.5
    s = op.singulars(x)
    assert rel(op.U(F.pad(s * op.V_t(x)[:, :k], (0, m - k)), chw), op.apply(x)) < tol
    assert rel(op.V(op.V_t(x), chw), x) < tol and rel(op.V_t(op.V(z, chw)), z) < tol
    assert rel(op.U(op.U_t(y), chw), y) < tol and rel(op.U_t(op.U(w, chw)), w) < tol
    assert abs(inner(op.V_t(x), z) - inner(x, op.V(z, chw))) < tol * x.norm() * z.norm()
    assert abs(inner(op.U_t(y), w) - inner(y, op.U(w, chw))) < tol * y.norm() * w.norm()


def test_moore_penrose(linear_op, chw):
    """A A⁺ A = A, A⁺ A A⁺ = A⁺, A A⁺ and A⁺ A symmetric (float64, random vectors)."""
    A, P = linear_op.apply, linear_op.pinv
    x1, x2 = images(chw, seed=10), images(chw, seed=11)
    yshape = measurement_shape(linear_op, chw)
    y1, y2 = images(yshape, seed=12), images(yshape, seed=13)
    tol = 1e-8
    assert rel(A(P(A(x1))), A(x1)) < tol
    assert rel(P(A(P(y1))), P(y1)) < tol
    assert abs(inner(A(P(y1)), y2) - inner(y1, A(P(y2)))) < tol * y1.norm() * y2.norm()
    assert abs(inner(P(A(x1)), x2) - inner(x1, P(A(x2)))) < tol * x1.norm() * x2.norm()
