"""benchmarks/natural/ship_run.py: a continued run's export becomes the shipped prior, its run appended to the record."""

from __future__ import annotations

import json

import pytest
import torch

from invdiff.priors.native import read_prior, write_prior
from tests.bench.conftest import load_script


def ship_module():
    return load_script("benchmarks/natural/ship_run.py")


def state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a.weight": torch.randn(20, 8, generator=g), "b.weight": torch.randn(20, 8, generator=g)}


OLD_TRAINING = {"data": "photos; random 64² crops, flips", "steps": 100, "images_seen": 1000, "train_seconds": 10.0, "crop": 64,
                "runs": [{"session": "s1", "steps": 60, "images_seen": 600, "train_seconds": 6.0, "init": "random"},
                         {"session": "s2", "steps": 40, "images_seen": 400, "train_seconds": 4.0, "init": "natural"}]}


def exports(tmp_path, init_matches: bool = True):
    old = write_prior(tmp_path / "weights/natural", state(0), {"name": "natural", "training": OLD_TRAINING},
                      shard_bytes=700)
    old_sha = json.loads(old.read_text())["sha256"]
    new_training = {"data": "photos; random 128² crops, flips", "steps": 30, "images_seen": 120, "train_seconds": 3.5, "crop": 128,
                    "batch_size": 2, "gpus": 2, "lr": 2e-4, "lr_decay": "linear", "device": "GPU X",
                    "init_from": "natural", "init_sha256": old_sha if init_matches else "0" * 64}
    new = write_prior(tmp_path / "run/natural-r3", state(1), {"name": "natural-r3", "training": new_training},
                      shard_bytes=700)
    return old, new


def test_the_export_replaces_the_shipped_files_and_its_run_joins_the_record(tmp_path):
    old, new = exports(tmp_path)
    target = ship_module().ship(new, old, session="s3", device="2 x GPU X")
    assert target == old and sorted(p.name for p in old.parent.iterdir()) == [
        "natural-00001-of-00002.safetensors", "natural-00002-of-00002.safetensors", "natural.json"]
    weights, meta = read_prior(target)  # the sha256 of the renamed shards still matches
    torch.testing.assert_close(weights, state(1))
    t = meta["training"]
    assert meta["name"] == "natural" and [r["session"] for r in t["runs"]] == ["s1", "s2", "s3"]
    assert t["runs"][-1]["batch_size"] == "2 per GPU x 2" and t["runs"][-1]["crop"] == 128
    assert t["runs"][-1]["init"].startswith("natural sha256 ") and t["runs"][-1]["device"] == "2 x GPU X"
    assert (t["steps"], t["images_seen"], t["train_seconds"]) == (130, 1120, 13.5)
    assert t["crop"] == "see runs" and "init_sha256" not in t
    assert [r["crop"] for r in t["runs"]] == [64, 64, 128]  # the earlier runs keep the value they trained with
    assert t["data"] == "photos; random crops (their size: see runs), flips"


def test_a_run_that_did_not_start_from_the_shipped_weights_is_refused(tmp_path):
    old, new = exports(tmp_path, init_matches=False)
    before = old.read_text()
    with pytest.raises(SystemExit, match="did not start from"):
        ship_module().ship(new, old, session="s3", device="GPU X")
    assert old.read_text() == before


def test_missing_files_get_one_line_and_leave_the_shipped_prior_as_it_was(tmp_path):
    old, new = exports(tmp_path)
    before = {p.name: p.read_bytes() for p in old.parent.iterdir()}
    (new.parent / "natural-r3-00002-of-00002.safetensors").unlink()  # an export whose weights came back in part
    with pytest.raises(SystemExit, match="needs 2 weight shards"):
        ship_module().ship(new, old, session="s3", device="GPU X")
    with pytest.raises(SystemExit, match="no such file"):
        ship_module().ship(tmp_path / "nowhere.json", old, session="s3", device="GPU X")
    assert {p.name: p.read_bytes() for p in old.parent.iterdir()} == before
