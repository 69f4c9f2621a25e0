"""The device copies of the separable operators' cached numpy factors (``operators._linalg.as_torch``).

Each cached factor is converted once per (device, dtype) and reused; an entry goes when its numpy array
dies; the shared tensors are never modified, and the operators' results are bit-identical to converting
afresh at every call (the behaviour before the cache).
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from operators import GaussianBlur, SuperResolution, _linalg
from operators._linalg import as_torch, frozen


def _key(a: np.ndarray, like: torch.Tensor) -> tuple:
    return id(a), like.device, like.dtype


def test_same_array_device_and_dtype_reuse_one_tensor():
    (a,) = frozen(np.arange(6.0).reshape(2, 3))
    like = torch.zeros(1)
    first = as_torch(a, like)
    assert as_torch(a, like) is first
    assert torch.equal(first, torch.tensor(a, dtype=torch.float32))


def test_another_dtype_gets_its_own_tensor():
    (a,) = frozen(np.linspace(0.0, 1.0, 7))
    single, double = as_torch(a, torch.zeros(1)), as_torch(a, torch.zeros(1, dtype=torch.float64))
    assert single is not double
    assert single.dtype == torch.float32 and double.dtype == torch.float64
    assert torch.equal(double, torch.tensor(a))
    assert as_torch(a, torch.zeros(1, dtype=torch.float64)) is double


def test_entry_goes_when_its_array_is_collected():
    like = torch.zeros(1)
    a = np.random.default_rng(0).random((4, 5))
    as_torch(a, like)
    key = _key(a, like)
    assert key in _linalg._DEVICE_COPIES
    del a
    gc.collect()
    assert key not in _linalg._DEVICE_COPIES


def test_a_reused_id_never_gets_a_stale_tensor():
    """CPython hands a freed array's id to the next array of that size: its values, not the old ones."""
    like = torch.zeros(1, dtype=torch.float64)
    for i in range(50):
        a = np.full(4, float(i))
        assert as_torch(a, like)[0].item() == i
        del a


def test_a_copy_first_made_under_inference_mode_still_serves_autograd():
    """DDRM may run under ``torch.inference_mode`` and DPS (autograd) next, on the same cached factor."""
    (a,) = frozen(np.eye(3))
    like = torch.zeros(1)
    with torch.inference_mode():
        as_torch(a, like)
    w = torch.ones(3, requires_grad=True)
    (as_torch(a, like) @ w).sum().backward()
    assert torch.equal(w.grad, torch.ones(3))


def test_a_shared_copy_changed_in_place_is_refused():
    (a,) = frozen(np.ones((2, 2)))
    like = torch.zeros(1)
    as_torch(a, like).mul_(2.0)
    with pytest.raises(RuntimeError, match="in place"):
        as_torch(a, like)


def _fresh(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """The conversion before the cache: a new tensor at every call."""
    return torch.tensor(a, device=like.device, dtype=like.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [lambda: GaussianBlur(3.0, 61), lambda: SuperResolution(4, "bicubic")],
                         ids=["gaussian_blur", "sr4"])
def test_results_are_bit_identical_to_converting_at_every_call(make, dtype):
    """Each view twice (the second from the cache, after every other view ran) against the old conversion."""
    op = make()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 72, generator=g, dtype=dtype)
    fh, fw = op._factors(64, 72)
    h, w = fh.R.shape[0], fw.R.shape[0]
    y = torch.rand(2, 3, h, w, generator=g, dtype=dtype)
    xc = _fresh(fh.Vt, x) @ x @ _fresh(fw.Vt, x).T
    want = {
        "apply": _fresh(fh.R, x) @ x @ _fresh(fw.R, x).T,
        "adjoint": _fresh(fh.R, y).T @ y @ _fresh(fw.R, y),
        "V_t": torch.cat([p.flatten(1) for p in (xc[..., :h, :w], xc[..., :h, w:], xc[..., h:, :])], dim=1),
        "V": _fresh(fh.Vt, x).T @ xc @ _fresh(fw.Vt, x),
        "U_t": (_fresh(fh.U, y).T @ y @ _fresh(fw.U, y)).flatten(1),
        "U": _fresh(fh.U, y) @ y @ _fresh(fw.U, y).T,
    }
    calls = {"apply": lambda: op.apply(x), "adjoint": lambda: op.adjoint(y), "V_t": lambda: op.V_t(x),
             "V": lambda: op.V(want["V_t"], x.shape), "U_t": lambda: op.U_t(y),
             "U": lambda: op.U(y.flatten(1), x.shape)}
    for _ in range(2):
        for name, call in calls.items():
            assert torch.equal(call(), want[name]), name


def test_fft_index_arrays_are_converted_once(monkeypatch):
    """Motion blur's frequency index arrays (``operators._fft``) go through the same cache, as int64."""
    from operators import MotionBlur, _fft
    from operators._fft import fourier_pairs

    op = MotionBlur(torch.ones(3, 5) / 15, channels=3)
    x = torch.rand(2, 3, 19, 26, generator=torch.Generator().manual_seed(0))
    z = op.V_t(x)
    self_idx, rep, inverse = fourier_pairs(19, 26)
    copies = [_linalg._DEVICE_COPIES.get((id(a), x.device, torch.long)) for a in (self_idx, rep, inverse)]
    assert all(c is not None for c in copies[:2])  # V_t converted self_idx and rep
    assert torch.equal(copies[1][1], torch.tensor(rep))
    assert torch.equal(op.V(z, x.shape), op.V(op.V_t(x), x.shape))
    assert _linalg._DEVICE_COPIES[(id(inverse), x.device, torch.long)][1].dtype == torch.long
    cached = op.V_t(x), op.V(z, x.shape), op.U_t(x), op.U(z, x.shape)
    monkeypatch.setattr(_fft, "as_torch", lambda a, like, dtype: torch.tensor(a, device=like.device, dtype=dtype))
    fresh = op.V_t(x), op.V(z, x.shape), op.U_t(x), op.U(z, x.shape)
    assert all(torch.equal(c, f) for c, f in zip(cached, fresh))
