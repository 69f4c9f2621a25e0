"""The issue-20 probe scripts: whole-image denoising of two priors, and the mean of K solver samples."""

from __future__ import annotations

import pytest
import torch

from tests.bench.conftest import load_script, tiny_any_size_prior


@pytest.fixture(scope="module")
def fullsize():
    return load_script("benchmarks/natural/fullsize_denoising.py")


def test_views_are_the_whole_image_and_its_centre_crops(fullsize):
    x = torch.arange(144 * 192, dtype=torch.float32).reshape(1, 1, 144, 192)
    v = fullsize.views(x)
    assert v["whole"] is x
    assert v["crop128"].shape[-2:] == (128, 128) and v["crop64"].shape[-2:] == (64, 64)
    assert float(v["crop64"][0, 0, 0, 0]) == float(x[0, 0, 40, 64])  # (144 − 64)/2, (192 − 64)/2


def test_x0_psnr_uses_the_same_noise_for_every_prior_and_tells_priors_apart(fullsize):
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    a, b = tiny_any_size_prior(seed=0), tiny_any_size_prior(seed=1)
    assert fullsize.x0_psnr(a, x, 250, seed=5) == fullsize.x0_psnr(a, x, 250, seed=5)
    assert fullsize.x0_psnr(a, x, 250, seed=5) != fullsize.x0_psnr(b, x, 250, seed=5)
    assert fullsize.x0_psnr(a, x, 250, seed=5) != fullsize.x0_psnr(a, x, 250, seed=6)


def test_sample_means_are_taken_over_1_2_4_and_all_samples():
    probe = load_script("benchmarks/natural/sample_mean_probe.py")
    assert probe.ks(8) == [1, 2, 4, 8]
    assert probe.ks(6) == [1, 2, 4, 6]
    assert probe.ks(1) == [1]
