"""SpeedConfig(dynamic=True): one shape-generic compiled graph for every image shape (compiled once per process
instead of once per shape; at 768×512 a static compile of the natural prior's forward took 118 s on an H200)."""

from __future__ import annotations

import pytest
import torch

from invdiff.priors.fast import NetRunner, SpeedConfig
from tests.priors.helpers import tiny_prior


def test_dynamic_reaches_torch_compile(monkeypatch):
    seen = {}

    def fake_compile(net, **kwargs):
        seen.update(kwargs)
        return net

    monkeypatch.setattr(torch, "compile", fake_compile)
    prior = tiny_prior()
    NetRunner(prior.net, SpeedConfig(compile=True, dynamic=True))
    assert seen["dynamic"] is True
    NetRunner(prior.net, SpeedConfig(compile=True))
    assert seen["dynamic"] is False  # the default stays one specialised graph per shape


def test_configure_passes_dynamic_and_keeps_the_output():
    prior = tiny_prior()
    x, t = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([500])
    reference = prior.eps(x, t)
    prior.configure(compile=True, compile_backend="eager", dynamic=True)
    assert prior.speed.dynamic is True
    for shape in [(16, 16), (16, 24)]:  # two shapes through the one runner
        x = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
        assert prior.eps(x, t).shape == x.shape
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(prior.eps(x, t), reference)


def test_dynamic_without_compile_is_refused():
    with pytest.raises(ValueError, match="dynamic"):
        SpeedConfig(dynamic=True)
