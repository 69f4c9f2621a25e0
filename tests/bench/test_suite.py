"""Suites (YAML) and the per-image protocol: what is drawn for an image does not depend on its batch."""

from __future__ import annotations

import pytest
import torch

import operators
from invdiff.bench.protocol import (
    BenchImage,
    batch_operator,
    data_root,
    derive_seed,
    load_images,
    measure,
    suite_images,
)
from invdiff.bench.stacked import ImageWise
from invdiff.bench.suite import load_suite, parse_suite
from invdiff.solvers import build_solver

from .conftest import REPO, SMOKE

MINIMAL = {"name": "s", "dataset": "smoke", "resolution": 32, "tasks": {"box": {"task": "inpaint"}}}


def test_the_shipped_suites_parse():
    faces = load_suite(REPO / "configs" / "bench" / "faces64.yaml")
    assert faces.images == 100 and faces.resolution == 64 and faces.dataset == "faces-utk/heldout"
    tasks = {t.label: t for t in faces.tasks}
    assert {t.task for t in tasks.values()} == {"inpaint", "gaussian_blur", "motion_blur", "sr4", "jpeg"}
    assert tasks["inpaint_random"].params == {"mask_kind": "random", "missing": 0.92}
    assert tasks["jpeg10"].sigma_y == 0.0 and tasks["jpeg10"].params == {"quality": 10}
    assert all(t.sigma_y == 0.05 for label, t in tasks.items() if label != "jpeg10")
    assert [m.label for m in faces.methods] == ["ddrm", "dps", "repaint", "sr3", "sr3-100"]  # cheapest first
    assert all(m.settings == {} and m.prior is None for m in faces.methods[:3])  # each solver's defaults
    sr3 = {m.label: m for m in faces.methods if m.method == "sr3"}  # SR3 with its own conditional prior
    assert sr3["sr3"].prior == sr3["sr3-100"].prior == "faces64-sr4" and sr3["sr3-100"].settings == {"steps": 100}
    assert load_suite(SMOKE).images == 4
    for path in sorted((REPO / "configs" / "bench").glob("*.yaml")):  # every shipped suite, each method buildable
        suite = load_suite(path)
        assert suite.tasks and all(build_solver(m.method, **m.settings) for m in suite.methods), path.name
    zeta = {m.label: m for m in load_suite(REPO / "configs" / "bench" / "faces64-dps-zeta.yaml").methods}
    assert zeta["dps-z0.25"].settings == {"zeta": 0.25} and zeta["dps"].settings == {}


def test_suite_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown keys"):
        parse_suite({**MINIMAL, "bogus": 1})
    with pytest.raises(ValueError, match="choose one of"):
        parse_suite({**MINIMAL, "tasks": {"x": {"task": "deblur"}}})
    with pytest.raises(ValueError, match="solver"):
        parse_suite({**MINIMAL, "methods": {"fast": {"method": "nope"}}})
    with pytest.raises(ValueError, match="unknown baselines"):
        parse_suite({**MINIMAL, "baselines": ["magic"]})


def test_method_labels_pick_solvers_and_per_task_settings():
    suite = parse_suite({**MINIMAL, "methods": {"ddrm100": {"method": "ddrm", "steps": 100,
                                                             "per_task": {"box": {"eta": 1.0}}}}})
    m = suite.methods[0]
    assert (m.label, m.method) == ("ddrm100", "ddrm")
    assert m.settings_for("box") == {"steps": 100, "eta": 1.0} and m.settings_for("other") == {"steps": 100}


def test_fingerprint_ignores_run_only_settings():
    a, b = parse_suite(MINIMAL), parse_suite({**MINIMAL, "images": 3, "batch_size": 1, "prior": "elsewhere"})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != parse_suite({**MINIMAL, "seed": 1}).fingerprint()


def test_images_are_sorted_limited_and_need_a_root(smoke_env, monkeypatch):
    suite = parse_suite({**MINIMAL, "images": 4})
    names = [im.name for im in suite_images(suite, smoke_env["data"])]
    assert names == sorted(names) and len(names) == 4
    assert [im.name for im in suite_images(suite, smoke_env["data"], limit=2)] == names[:2]
    monkeypatch.delenv("INVDIFF_DATA", raising=False)
    with pytest.raises(ValueError, match="INVDIFF_DATA"):
        data_root(None)
    monkeypatch.setenv("INVDIFF_DATA", str(smoke_env["data"]))
    assert data_root(None) == smoke_env["data"]
    with pytest.raises(FileNotFoundError, match="data/README.md"):
        suite_images(parse_suite({**MINIMAL, "dataset": "absent"}), smoke_env["data"])


def test_each_image_draws_its_own_mask_and_noise_whatever_else_is_measured(smoke_env):
    suite = load_suite(SMOKE)
    images = suite_images(suite, smoke_env["data"])
    x = load_images(images, 32)
    box = next(t for t in suite.tasks if t.label == "inpaint_box")
    a = measure(suite, box, images[1], x[1:2])
    b = measure(suite, box, images[1], x[1:2])
    other = measure(suite, box, images[2], x[2:3])
    assert torch.equal(a.y, b.y) and torch.equal(a.operator.mask, b.operator.mask)
    assert not torch.equal(a.operator.mask, other.operator.mask)
    assert derive_seed(0, "t", "a.png") == derive_seed(0, "t", "a.png") != derive_seed(1, "t", "a.png")
    renamed = BenchImage(1, "other-name.png", images[1].path)
    assert not torch.equal(measure(suite, box, renamed, x[1:2]).y, a.y)


def test_batch_operator_stacks_masks_shares_fixed_operators_and_stacks_per_image_kernels():
    gen = torch.Generator().manual_seed(0)
    masks = [operators.Inpainting(torch.rand(1, 1, 8, 8, generator=gen).round(), noise=0.05) for _ in range(3)]
    stacked = batch_operator(masks)
    x = torch.rand(3, 3, 8, 8, generator=gen)
    assert torch.equal(stacked.apply(x), torch.cat([m.apply(x[i:i + 1]) for i, m in enumerate(masks)]))
    sr = [operators.SuperResolution(4, "bicubic", channels=3) for _ in range(2)]
    assert batch_operator(sr) is sr[0]
    k1 = torch.rand(3, 3, generator=gen)
    k2 = torch.rand(3, 3, generator=gen)
    assert isinstance(batch_operator([operators.MotionBlur(k1 / k1.sum()), operators.MotionBlur(k2 / k2.sum())]),
                      ImageWise)
    assert batch_operator([operators.JPEG(10), operators.JPEG(30)]) is None  # non-linear: one at a time


NATIVE = {"name": "n", "resolution": "native", "tasks": {"box": {"task": "inpaint"}},
          "sets": {"a": {"dataset": "smoke", "images": ["astronaut.png", "coffee.png"]}, "b": {"dataset": "smoke"}}}


def test_native_suite_errors_name_the_problem():
    with pytest.raises(ValueError, match="either 'dataset'"):
        parse_suite({**NATIVE, "dataset": "smoke"})
    with pytest.raises(ValueError, match="resolution is an int"):
        parse_suite({**NATIVE, "resolution": "big"})
    with pytest.raises(ValueError, match="multiple_of applies"):
        parse_suite({**MINIMAL, "multiple_of": 4})
    with pytest.raises(ValueError, match="which 'subsets' does not define"):
        parse_suite({**NATIVE, "methods": {"dps": {"images": "gpu8"}}})
    with pytest.raises(ValueError, match="belong to no set"):
        parse_suite({**NATIVE, "subsets": {"s": ["c/x.png"]}})
    with pytest.raises(ValueError, match="not in the image list of set 'a'"):
        parse_suite({**NATIVE, "subsets": {"s": ["a/chelsea.png"]}})


def test_sets_name_their_images_and_limit_applies_per_set(smoke_env):
    suite = parse_suite({**NATIVE, "subsets": {"s": ["a/coffee.png", "b/rocket.png"]}})
    names = [im.name for im in suite_images(suite, smoke_env["data"])]
    assert names[:2] == ["a/astronaut.png", "a/coffee.png"] and len(names) == 2 + 5
    assert [im.index for im in suite_images(suite, smoke_env["data"])][:3] == [0, 1, 0]
    assert [im.name for im in suite_images(suite, smoke_env["data"], limit=1)] == ["a/astronaut.png", "b/astronaut.png"]
    missing = parse_suite({**NATIVE, "sets": {"a": {"dataset": "smoke", "images": ["nope.png"]}}})
    with pytest.raises(FileNotFoundError, match="nope.png"):
        suite_images(missing, smoke_env["data"])
    assert parse_suite(NATIVE).fingerprint() == parse_suite({**NATIVE, "subsets": {"s": ["b/x.png"]}}).fingerprint()


def test_first_skips_sorted_files_and_changes_no_fingerprint(smoke_env):
    every = [im.name for im in suite_images(parse_suite(MINIMAL), smoke_env["data"])]
    later = parse_suite({**MINIMAL, "first": 2, "images": 2})
    assert later.first == 2 and [im.name for im in suite_images(later, smoke_env["data"])] == every[2:4]
    assert [im.index for im in suite_images(later, smoke_env["data"])] == [0, 1]  # position in the suite's list
    assert [im.name for im in suite_images(later, smoke_env["data"], limit=1)] == every[2:3]
    assert [im.name for im in suite_images(parse_suite({**MINIMAL, "first": 3}), smoke_env["data"])] == every[3:]
    assert later.fingerprint() == parse_suite(MINIMAL).fingerprint()  # which images changes no row
    sets = parse_suite({**{k: v for k, v in MINIMAL.items() if k != "dataset"},
                        "sets": {"a": {"dataset": "smoke", "first": 1, "images": 1}, "b": {"dataset": "smoke"}}})
    assert [im.name for im in suite_images(sets, smoke_env["data"])] == [f"a/{every[1]}"] + [f"b/{n}" for n in every]
    with pytest.raises(ValueError, match="after skipping the first 4"):
        suite_images(parse_suite({**MINIMAL, "first": 4, "images": 2}), smoke_env["data"])
    with pytest.raises(ValueError, match="holds 5"):
        suite_images(parse_suite({**MINIMAL, "first": 5}), smoke_env["data"])
    for bad in (-1, "x", 1.5):
        with pytest.raises(ValueError, match="'first' is a count"):
            parse_suite({**MINIMAL, "first": bad})
    with pytest.raises(ValueError, match="cannot be combined with a list"):
        parse_suite({**MINIMAL, "first": 1, "images": [every[0]]})
