"""Conditional (SR3) priors: the JSON's conditioning, save/load, the built-in faces64-sr4 entry, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from invdiff.priors import (
    ConditionalPrior,
    ConditioningError,
    SRConditioning,
    available_priors,
    is_conditional,
    load_prior,
    registry,
    save_prior,
)
from tests.priors.helpers import tiny_conditional_prior


def test_save_and_load_keep_the_conditioning(tmp_path: Path) -> None:
    prior = tiny_conditional_prior(seed=5)
    path = save_prior(prior, tmp_path / "c.json")
    meta = json.loads(path.read_text())
    assert meta["conditioning"]["task"] == "sr4" and meta["channels"] == 3
    loaded = load_prior(path)
    assert isinstance(loaded, ConditionalPrior) and is_conditional(loaded)
    assert loaded.conditioning == prior.conditioning and loaded.channels == 3
    x, c = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(loaded.eps(x, 40, c), prior.eps(x, 40, c))
    with pytest.raises(ConditioningError, match="only method sr3"):
        loaded.x0(x, 40)
    with pytest.raises(ConditioningError, match="only method sr3"):
        loaded.denoise(x, 1.0)
    with pytest.raises(ConditioningError, match="must match"):
        loaded.eps(x, 40, c[:, :, :8])


def test_a_json_whose_channels_contradict_its_network_is_refused(tmp_path: Path) -> None:
    path = save_prior(tiny_conditional_prior(), tmp_path / "c.json")
    meta = json.loads(path.read_text())
    del meta["conditioning"]  # 6 input channels but no condition stated
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="contradict"):
        load_prior(path)


def test_conditioning_is_validated() -> None:
    with pytest.raises(ConditioningError, match="tasks"):
        SRConditioning(task="inpaint")
    with pytest.raises(ConditioningError, match="unknown conditioning keys"):
        SRConditioning.from_dict({"task": "sr4", "colour": 1})


def test_faces64_sr4_is_a_builtin_reported_until_installed(tmp_path: Path, monkeypatch) -> None:
    info = {p.name: p for p in available_priors()}
    assert info["faces64-sr4"].path.name == "faces64-sr4.json" and "sr3" in info["faces64-sr4"].description
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path)
    assert not {p.name: p.installed for p in available_priors()}["faces64-sr4"]
    with pytest.raises(FileNotFoundError, match="'faces64-sr4' are not installed"):
        load_prior("faces64-sr4")
    save_prior(tiny_conditional_prior(), tmp_path / "faces64-sr4.json")
    assert {p.name: p.installed for p in available_priors()}["faces64-sr4"]
    assert isinstance(load_prior("faces64-sr4"), ConditionalPrior)
