"""Training packs and random-crop training: the pack round-trips, crops are what they claim, a
size-agnostic prior trains from a pack and its export says so."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import invdiff
from invdiff.cli import main
from invdiff.training.crops import CropBatches, fixed_crops
from invdiff.training.pack import read_pack, write_pack


def photo_folders(root, sizes=((40, 40), (33, 57))):
    """Two folders of small photo crops of different sizes (a, b)."""
    src = [data.astronaut(), data.coffee(), data.chelsea()]
    for k, (h, w) in enumerate(sizes):
        folder = root / "ab"[k]
        folder.mkdir(parents=True)
        for i in range(6):
            img = src[(i + k) % 3][5 * i:5 * i + h, 9 * i:9 * i + w]
            Image.fromarray(img).save(folder / f"{i:02d}.png")
    return [root / "a", root / "b"]


def test_pack_keeps_sizes_splits_and_fits_the_budget(tmp_path):
    folders = photo_folders(tmp_path)
    manifest = write_pack(folders, tmp_path / "p.tar", budget_mib=1.0, val_every=3)
    assert manifest["bytes"] <= 2**20 and manifest["quality"] == 95
    train, val = read_pack(tmp_path / "p.tar", "train"), read_pack(tmp_path / "p.tar", "val")
    assert len(train) == 8 and len(val) == 4  # every 3rd image per folder is held out
    assert sorted({im.shape for im in train}) == [(33, 57, 3), (40, 40, 3)]
    original = np.asarray(Image.open(folders[0] / "00.png"))
    psnr = 10 * np.log10(255**2 / np.mean((train[0].astype(float) - original) ** 2))
    assert psnr > 30  # WebP q95 of a photo
    with tarfile.open(tmp_path / "p.tar") as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json" and "images/b/05.webp" in names


def test_pack_lowers_quality_to_fit_and_refuses_when_nothing_fits(tmp_path):
    folders = photo_folders(tmp_path, sizes=((120, 120), (96, 150)))
    high = write_pack(folders, tmp_path / "hi.tar", budget_mib=1.0)
    low = write_pack(folders, tmp_path / "lo.tar", budget_mib=0.7 * high["bytes"] / 2**20)
    assert low["quality"] < high["quality"] and low["bytes"] < high["bytes"]
    with pytest.raises(ValueError, match="do not fit"):
        write_pack(folders, tmp_path / "no.tar", budget_mib=0.001)


def test_crops_cut_the_right_pixels_at_full_scale():
    img = np.arange(30 * 50 * 3, dtype=np.int64).reshape(30, 50, 3) % 251
    images = [img.astype(np.uint8)]
    batches = CropBatches(images, 8, 16, torch.device("cpu"), torch.Generator().manual_seed(0),
                          max_scale=1.0)
    x = batches.next()
    assert x.shape == (16, 3, 8, 8) and x.min() >= -1 and x.max() <= 1
    u8 = ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    windows = np.lib.stride_tricks.sliding_window_view(img.astype(np.uint8), (8, 8, 3))[..., 0, :, :, :]
    for crop in u8:  # every crop is a window of the image, or its mirror image
        hits = (windows == crop).all(axis=(-1, -2, -3)).any() or (windows == crop[:, ::-1]).all(axis=(-1, -2, -3)).any()
        assert hits


def test_crops_mix_scales_and_sizes_reproducibly():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), rng.integers(0, 256, (24, 64, 3), dtype=np.uint8)]
    make = lambda: CropBatches(images, 12, 8, torch.device("cpu"), torch.Generator().manual_seed(3), max_scale=2.0)
    a, b = make(), make()
    for _ in range(3):
        torch.testing.assert_close(a.next(), b.next())
    assert a.max_scale == 2.0
    assert CropBatches(images, 16, 8, torch.device("cpu"), torch.Generator(), max_scale=3.0).max_scale == 1.5
    with pytest.raises(ValueError, match="exceeds the smallest"):
        CropBatches(images, 32, 8, torch.device("cpu"), torch.Generator())


def test_fixed_crops_are_fixed():
    images = [np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)]
    a, b = fixed_crops(images, 8, 3), fixed_crops(images, 8, 3)
    assert a.shape == (3, 8, 8, 3) and np.array_equal(a, b)


def test_a_size_agnostic_prior_trains_from_a_pack(tmp_path):
    write_pack(photo_folders(tmp_path), tmp_path / "p.tar", budget_mib=1.0, val_every=3)
    args = ["train", "--data", str(tmp_path / "p.tar"), "--out", str(tmp_path / "run"), "--preset", "tiny-any",
            "--crop", "16", "--batch-size", "8", "--steps", "4", "--no-compile", "--quiet", "--name", "nat",
            "--ckpt-every", "100", "--sample-every", "100", "--export-dtype", "float32", "--sample-count", "2",
            "--sample-steps", "2", "--log-every", "2"]
    assert main(args) == 0
    meta = json.loads((tmp_path / "run/nat.json").read_text())
    assert meta["any_size"] is True and meta["training"]["crop"] == 16 and meta["training"]["training_images"] == 8
    held = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines() if "heldout" in line]
    assert held and "x0_mse_t250" in held[-1]["heldout"]  # the pack's val split is the held-out set
    assert (tmp_path / "run/samples_final_large.png").exists()
    prior = invdiff.load_prior(str(tmp_path / "run/nat.json"))
    assert torch.isfinite(prior.eps(torch.zeros(1, 3, 24, 40), 10)).all()  # another size than it trained on


def test_crop_mode_refuses_attention_and_packs_need_crops(tmp_path):
    write_pack(photo_folders(tmp_path), tmp_path / "p.tar", budget_mib=1.0)
    base = ["train", "--data", str(tmp_path / "p.tar"), "--out", str(tmp_path / "run"), "--steps", "1",
            "--no-compile", "--quiet"]
    with pytest.raises(ValueError, match="size-agnostic"):
        main([*base, "--preset", "tiny", "--crop", "16"])
    with pytest.raises(ValueError, match="--crop"):
        main([*base, "--preset", "tiny-any"])


def test_val_crops_follow_each_image_orientation_and_skip_those_too_small(tmp_path):
    """make_val_crops --shape H×W: a landscape image gives an H×W centre crop, a portrait one W×H (the probe's
    256×384 crops of BSDS's 481×321 and 321×481 val images); an image that fits neither is skipped."""
    from tests.bench.conftest import load_script

    crops = load_script("benchmarks/natural/make_val_crops.py")
    folders = photo_folders(tmp_path, sizes=((40, 40), (33, 57)))
    portrait = tmp_path / "c"
    portrait.mkdir()
    for i in range(3):
        Image.fromarray(data.astronaut()[:57, :33]).save(portrait / f"{i:02d}.png")
    write_pack([*folders, portrait], tmp_path / "p.tar", budget_mib=1.0, val_every=3)
    got = crops.val_centre_crops(tmp_path / "p.tar", (24, 48), count=10)
    shapes = [c.shape[:2] for _, c in got]
    assert shapes == [(24, 48), (24, 48), (48, 24)]  # the 40×40 val images fit neither orientation
    k, first = got[0]
    whole = read_pack(tmp_path / "p.tar", "val")[k]
    assert np.array_equal(first, whole[4:28, 4:52])  # centred: (33 - 24) // 2, (57 - 48) // 2
    square = crops.val_centre_crops(tmp_path / "p.tar", 30, count=10)
    assert [c.shape[:2] for _, c in square] == [(30, 30)] * 5


def test_int8_export_is_the_shipped_encoding_and_a_checkpoint_exports_its_own_architecture(tmp_path):
    """--export-dtype int8 writes what ships (int8 per output channel, edge layers and ``out.`` in float16), so a
    wider prior can come back from the GPU; export_checkpoint takes the architecture from the checkpoint's preset."""
    from safetensors.torch import load_file

    from invdiff.priors.native import INT8, weight_files
    from tests.bench.conftest import load_script

    write_pack(photo_folders(tmp_path), tmp_path / "p.tar", budget_mib=1.0, val_every=3)
    base = ["train", "--data", str(tmp_path / "p.tar"), "--preset", "tiny-any", "--crop", "16", "--batch-size", "4",
            "--steps", "2", "--no-compile", "--quiet", "--ckpt-every", "1", "--sample-every", "100",
            "--sample-count", "2", "--sample-steps", "2", "--log-every", "1", "--seed", "3"]
    assert main([*base, "--out", str(tmp_path / "a"), "--name", "q", "--export-dtype", "int8"]) == 0
    meta = json.loads((tmp_path / "a/q.json").read_text())
    assert meta["weights_encoding"] == INT8 and "out." in meta["float16_layers"]
    stored = {k: v for p in weight_files(tmp_path / "a/q.json") for k, v in load_file(str(p)).items()}
    assert stored["out.2.weight"].dtype == torch.float16 and stored["middle_block.0.in_layers.2.weight"].dtype == torch.int8
    export = load_script("benchmarks/natural/export_checkpoint.py")
    path = export.export(tmp_path / "a/checkpoint.pt", tmp_path / "c/q", like=None, int8=True)
    again = json.loads(path.read_text())
    assert again["architecture"] == meta["architecture"] and again["weights_encoding"] == INT8
    assert again["any_size"] is True and again["training"]["steps"] == 2
    x = torch.randn(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    q = invdiff.load_prior(str(tmp_path / "a/q.json"))
    assert torch.equal(invdiff.load_prior(str(path)).eps(x, 500), q.eps(x, 500))  # the last checkpoint's EMA, as run
    bf16 = invdiff.load_prior(str(export.export(tmp_path / "a/checkpoint.pt", tmp_path / "d/f", like=None)))
    key = "middle_block.0.in_layers.2.weight"
    wq, wf = q.net.state_dict()[key], bf16.net.state_dict()[key]  # the same EMA, one int8, one bfloat16
    bound = wf.flatten(1).abs().amax(dim=1) / 120  # half an int8 step (amax/254) + bfloat16 rounding (amax/256)
    assert 0 < (wq - wf).abs().max() and ((wq - wf).flatten(1).abs().amax(dim=1) <= bound).all()
