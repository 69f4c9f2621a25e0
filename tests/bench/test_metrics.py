"""Metrics: PSNR by hand, SSIM against scikit-image and piq, LPIPS against the published reference pair."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from invdiff import metrics
from invdiff.metrics import Metrics, find_alexnet_weights, psnr, read_alexnet_features, ssim

from .conftest import sample_image, shared_dir

SHARED = shared_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared (LPIPS weights and reference images) is absent")


def as_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None].float() / 255


def noisy_pair(seed: int = 0, size: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    ref = as_tensor(sample_image("astronaut", (size, size)))
    gen = torch.Generator().manual_seed(seed)
    return (ref + 0.08 * torch.randn(ref.shape, generator=gen)).clamp(0, 1), ref


def test_psnr_of_a_constant_offset_is_exact():
    ref = torch.full((2, 3, 16, 16), 0.5)
    assert torch.allclose(psnr(ref + 0.1, ref), torch.full((2,), 20.0, dtype=torch.float64))


def test_ssim_matches_skimage():
    """piq's SSIM (what ``ssim`` calls, float32) against scikit-image's float64 reference, at two sizes."""
    from skimage.metrics import structural_similarity

    for size in (48, 61):
        x, ref = noisy_pair(size=size)
        ours = float(ssim(x, ref)[0])
        sk = structural_similarity(x[0].permute(1, 2, 0).double().numpy(), ref[0].permute(1, 2, 0).double().numpy(),
                                   channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                   data_range=1.0)
        assert ours == pytest.approx(sk, abs=1e-5)
        assert 0.2 < ours < 0.9
    assert float(ssim(ref, ref)[0]) == pytest.approx(1.0, abs=1e-6)
    non_square = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    assert ssim(non_square, non_square).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_ssim_is_per_image():
    x, ref = noisy_pair()
    batch = ssim(torch.cat([x, ref]), torch.cat([ref, ref]))
    assert batch[0] == pytest.approx(float(ssim(x, ref)[0])) and batch[1] == pytest.approx(1.0)


def test_ssim_rejects_images_smaller_than_its_window():
    with pytest.raises(ValueError, match="at least"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


@needs_shared
def test_lpips_reference_pair_scores():
    """The LPIPS project's example triplet: ex_ref vs ex_p0 / ex_p1 score 0.722 / 0.138 (AlexNet, v0.1)."""
    folder = SHARED / "weights" / "lpips-reference"
    load = lambda n: as_tensor(np.asarray(Image.open(folder / f"ex_{n}.png").convert("RGB")))
    m = Metrics(lpips_weights=SHARED / "weights" / "alexnet-features.safetensors")
    ref = load("ref")
    d0, d1 = float(m.lpips_distance(load("p0"), ref)[0]), float(m.lpips_distance(load("p1"), ref)[0])
    assert d0 == pytest.approx(0.7219, abs=0.002)
    assert d1 == pytest.approx(0.1376, abs=0.002)
    assert m.describe()["lpips"]["backbone_sha256"] == metrics.sha256_file(m.backbone)


@needs_shared
def test_alexnet_features_are_the_published_tensors():
    feats = read_alexnet_features(SHARED / "weights" / "alexnet-features.safetensors")
    digest = hashlib.sha256(feats["features.0.weight"].contiguous().numpy().tobytes()).hexdigest()
    assert digest[:12] == "773e4bd41d83"


@needs_shared
def test_torch_hub_checkpoint_is_found_and_scores_the_same(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    state = load_file(str(SHARED / "weights" / "alexnet-features.safetensors"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save({**state, "classifier.1.weight": torch.zeros(4, 4)}, tmp_path / "hub" / "checkpoints" / "alexnet-x.pth")
    isolate_from_weights(tmp_path, monkeypatch)
    path, how = find_alexnet_weights()
    assert how == "torch hub cache" and path.name == "alexnet-x.pth"
    x, ref = noisy_pair(size=64)
    hub = Metrics().lpips_distance(x, ref)
    shared = Metrics(lpips_weights=SHARED / "weights" / "alexnet-features.safetensors").lpips_distance(x, ref)
    assert torch.allclose(hub, shared)


def isolate_from_weights(tmp_path, monkeypatch) -> None:
    """No env variables, no ../shared beside the working directory or the repository, hub cache in tmp."""
    monkeypatch.delenv(metrics.ALEXNET_ENV, raising=False)
    monkeypatch.delenv("INVDIFF_SHARED", raising=False)
    (tmp_path / "work" / "repo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work" / "repo")
    monkeypatch.setattr(metrics, "_repo_root", lambda: tmp_path / "work" / "repo")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_without_weights_lpips_is_unavailable_with_a_reason(tmp_path, monkeypatch):
    isolate_from_weights(tmp_path, monkeypatch)
    m = Metrics()
    assert m.lpips_unavailable and "no AlexNet weights" in m.lpips_unavailable
    x, ref = noisy_pair(size=32)
    scores = m(x, ref)
    assert scores["lpips"] == [None] and scores["psnr"][0] > 10
    assert m.describe()["lpips"] == {"unavailable": m.lpips_unavailable}
    with pytest.raises(RuntimeError, match="unavailable"):
        m.lpips_distance(x, ref)


def test_named_weights_that_do_not_exist_are_an_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="argument"):
        find_alexnet_weights(tmp_path / "missing.safetensors")
    monkeypatch.setenv(metrics.ALEXNET_ENV, str(tmp_path / "nope.safetensors"))
    with pytest.raises(FileNotFoundError, match=metrics.ALEXNET_ENV):
        Metrics()


def test_a_file_that_is_not_alexnet_is_rejected(tmp_path):
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 5, 5)}, str(bad))
    with pytest.raises(ValueError, match="not a torchvision AlexNet"):
        read_alexnet_features(bad)
