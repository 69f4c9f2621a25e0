"""Noise models: the σ_y scale convention, Poisson statistics, and explicit generators."""

from __future__ import annotations

import pytest
import torch

from operators import GaussianBlur, GaussianNoise, OperatorError, PoissonNoise

CUDA = torch.cuda.is_available()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sigma_y_is_on_the_minus_one_one_scale():
    """σ_y = 0.1 adds std 0.05 to a [0, 1] image, i.e. std 0.1 once the image is mapped to [-1, 1]."""
    x = torch.full((4, 3, 64, 64), 0.5, dtype=torch.float64)
    y = GaussianNoise(0.1).add(x, gen(0))
    assert (y - x).std().item() == pytest.approx(0.05, rel=0.02)
    assert (2 * y - 1 - (2 * x - 1)).std().item() == pytest.approx(0.1, rel=0.02)
    assert abs((y - x).mean().item()) < 3 * 0.05 / (4 * 3 * 64 * 64) ** 0.5 * 2
    assert GaussianNoise.from_unit_range(0.05).sigma_y == 0.1 and GaussianNoise(0.1).std_unit == 0.05


def test_measure_uses_the_same_scale():
    op = GaussianBlur(1.0, 5, noise=0.2)
    x = torch.rand(2, 3, 32, 32, generator=gen(1), dtype=torch.float64)
    assert (op.measure(x, gen(2)) - op.apply(x)).std().item() == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("level,rate", [(0.3, 50.0), (0.8, 255.0)])
def test_poisson_mean_and_variance(level, rate):
    y = torch.full((8, 1, 64, 64), level, dtype=torch.float64)
    noisy = PoissonNoise(rate).add(y, gen(3))
    assert noisy.mean().item() == pytest.approx(level, rel=0.01)
    assert noisy.var().item() == pytest.approx(level / rate, rel=0.05)
    counts = noisy * rate
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-9)  # integer photon counts
    assert noisy.dtype == y.dtype


def test_poisson_clamps_negative_and_keeps_zero():
    y = torch.tensor([[[[-0.5, 0.0]]]])
    assert torch.equal(PoissonNoise(10).add(y, gen(0)), torch.zeros_like(y))


@pytest.mark.parametrize("noise", [GaussianNoise(0.1), PoissonNoise(100.0)])
def test_generators(noise):
    y = torch.full((3, 2, 8, 8), 0.4)
    assert torch.equal(noise.add(y, gen(0)), noise.add(y, gen(0)))  # seed 0 is a seed
    assert not torch.equal(noise.add(y, gen(0)), noise.add(y, gen(1)))
    batch = noise.add(y, [gen(5), gen(6), gen(7)])
    for i, seed in enumerate((5, 6, 7)):
        assert torch.equal(noise.add(y[i:i + 1], [gen(seed)]), batch[i:i + 1])
    with pytest.raises(OperatorError, match="generator"):
        noise.add(y)
    with pytest.raises(OperatorError, match="one torch.Generator per sample"):
        noise.add(y, [gen(0), gen(1)])


def test_noiseless_needs_no_generator():
    y = torch.rand(1, 3, 4, 4)
    out = GaussianNoise(0.0).add(y)
    assert torch.equal(out, y) and out is not y


def test_bad_noise_parameters():
    with pytest.raises(OperatorError, match="sigma_y"):
        GaussianNoise(-0.1)
    with pytest.raises(OperatorError, match="rate"):
        PoissonNoise(0)
    with pytest.raises(OperatorError, match="noise must be"):
        GaussianBlur(noise="0.05")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("noise", [GaussianNoise(0.1), PoissonNoise(100.0)])
def test_cpu_generator_gives_same_noise_on_cuda(noise):
    y = torch.full((2, 3, 8, 8), 0.4)
    torch.testing.assert_close(noise.add(y.cuda(), gen(4)).cpu(), noise.add(y, gen(4)))


def test_trusted_inputs_skips_only_the_value_scan_and_is_restored():
    import operators

    op = operators.build("sr4")
    bad = torch.full((1, 3, 8, 8), float("nan"))
    with pytest.raises(operators.OperatorError, match="NaN"):
        op.apply(bad)
    with operators.trusted_inputs():
        assert torch.isnan(op.apply(bad)).all()  # no scan: the NaN flows through
        with pytest.raises(operators.OperatorError, match="4-D"):
            op.apply(bad[0])  # shapes are still checked
    with pytest.raises(RuntimeError), operators.trusted_inputs():
        raise RuntimeError("leave the block by an exception")
    with pytest.raises(operators.OperatorError, match="NaN"):
        op.apply(bad)
