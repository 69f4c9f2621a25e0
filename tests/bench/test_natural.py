"""The natural-image suite: it parses and names CBSD68, and a tiny copy runs at the images' own (odd, non-square) sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from invdiff.bench import load_suite, parse_suite, run_suite
from invdiff.bench.sizes import size_problem
from invdiff.bench.store import RESULTS, read_rows
from invdiff.solvers import build_solver

from .conftest import REPO, load_script, sample_image, shared_dir, tiny_any_size_prior

NATURAL = REPO / "configs" / "bench" / "natural.yaml"
SHARED = shared_dir()
TASKS = {"inpaint_box", "inpaint_random", "gaussian_blur", "motion_blur", "sr4", "jpeg10"}


def test_the_natural_suite_names_its_images_tasks_and_subset():
    suite = load_suite(NATURAL)
    assert suite.native and suite.multiple_of == 4 and suite.prior == "natural"
    kodak, cbsd = suite.sets
    assert (kodak.label, kodak.dataset, kodak.images) == ("kodak24", "kodak24", None)
    assert (cbsd.label, cbsd.dataset) == ("cbsd68", "natural-bsds/val") and len(set(cbsd.images)) == 68
    gpu8 = suite.subsets["gpu8"]
    assert sum(n.startswith("kodak24/") for n in gpu8) == 8 and sum(n.startswith("cbsd68/") for n in gpu8) == 8
    assert {m.label: m.images for m in suite.methods} == {
        "ddrm": None, "dps": "gpu8", "repaint": "gpu8",
        **{k: "gpu8" for k in ("diffpir", "ddnm", "pigdm", "daps", "dps-100")}}  # issue 16's few-step rows
    tasks = {t.label: t for t in suite.tasks}
    assert set(tasks) == TASKS and all(t.sigma_y == 0.05 for k, t in tasks.items() if k != "jpeg10")
    assert tasks["inpaint_box"].params == {"mask_kind": "box", "centred": True}
    assert tasks["inpaint_random"].params == {"mask_kind": "random", "missing": 0.8}
    assert tasks["gaussian_blur"].params == {"kernel_size": 61, "std": 3.0}
    assert tasks["motion_blur"].params == {"kernel_size": 61, "intensity": 0.5}
    assert all(build_solver(m.method, **m.settings) for m in suite.methods)


@pytest.mark.skipif(SHARED is None, reason="../shared (the evaluation images) is absent")
def test_cbsd68_is_a_subset_of_bsd100_and_every_image_is_there():
    from invdiff.bench.protocol import native_shape, suite_images

    suite = load_suite(NATURAL)
    images = suite_images(suite, SHARED / "datasets")
    assert len(images) == 24 + 68 and len({im.name for im in images}) == 92
    assert len(list((SHARED / "datasets" / "natural-bsds" / "val").glob("*.jpg"))) == 100
    shapes = {native_shape(im.path, 4) for im in images}
    assert shapes == {(512, 768), (768, 512), (320, 480), (480, 320)}
    assert set(suite.subsets["gpu8"]) <= {im.name for im in images}


TUNE = REPO / "configs" / "bench" / "natural-tune.yaml"


def test_the_natural_tuning_sweep_shares_the_tasks_and_none_of_the_test_images():
    tune, test = load_suite(TUNE), load_suite(NATURAL)
    assert {t.label: (t.task, t.sigma_y, t.params) for t in tune.tasks} == \
        {t.label: (t.task, t.sigma_y, t.params) for t in test.tasks}
    assert (tune.seed, tune.prior, tune.native, tune.multiple_of) == (test.seed, test.prior, True, 4)
    (val,) = tune.sets
    cbsd = next(s for s in test.sets if s.label == "cbsd68")
    assert val.dataset == cbsd.dataset and len(val.images) == 6 and not set(val.images) & set(cbsd.images)
    assert {m.method for m in tune.methods} == {"diffpir", "ddnm", "pigdm", "dps"}
    assert all(m.settings.get("steps") == 100 for m in tune.methods)
    assert all(build_solver(m.method, **m.settings) for m in tune.methods)


@pytest.mark.skipif(SHARED is None, reason="../shared (the evaluation images) is absent")
def test_the_gpu_pack_holds_both_suites_images_byte_for_byte(tmp_path):
    pack_eval = load_script("benchmarks/natural/pack_eval.py")
    n, total = pack_eval.pack(SHARED / "datasets", tmp_path)
    assert n == 24 + 68 + 6 and total > 0
    manifest = (tmp_path / "MANIFEST.tsv").read_text().splitlines()[1:]
    assert len(manifest) == n and "natural-bsds/val/156065.jpg" in {row.split("\t")[0] for row in manifest}


def write_photo(path, size_wh, name, quality=None):
    arr = sample_image(name, size_wh)
    Image.fromarray(arr).save(path, **({"quality": quality} if quality else {}))


@pytest.fixture(scope="module")
def tiny_natural(tmp_path_factory):
    """natural.yaml cut down: 3 + 3 images of 40×56, 56×40 and 41×57 (→ 40×56), 9×9 kernels, 2-step solvers."""
    root = tmp_path_factory.mktemp("natural")
    (root / "kodak24").mkdir()
    (root / "natural-bsds" / "val").mkdir(parents=True)
    write_photo(root / "kodak24" / "kodim01.png", (56, 40), "astronaut")
    write_photo(root / "kodak24" / "kodim02.png", (40, 56), "coffee")   # portrait
    write_photo(root / "kodak24" / "kodim03.png", (56, 40), "chelsea")
    for i, name in enumerate(("rocket", "coffee", "astronaut")):
        size = (57, 41) if i != 1 else (41, 57)
        write_photo(root / "natural-bsds" / "val" / f"{i}.jpg", size, name, quality=95)
    raw = yaml.safe_load(NATURAL.read_text())
    raw["sets"]["cbsd68"]["images"] = ["0.jpg", "1.jpg", "2.jpg"]
    raw["subsets"] = {"gpu8": ["kodak24/kodim02.png", "cbsd68/1.jpg"]}
    raw["tasks"]["gaussian_blur"].update(kernel_size=9)
    raw["tasks"]["motion_blur"].update(kernel_size=9)
    raw["methods"] = {"ddrm": {"steps": 2}, "dps": {"steps": 2, "images": "gpu8"},
                      "repaint": {"steps": 2, "jump_length": 1, "resamples": 1, "images": "gpu8"}}
    raw.update(lpips=False, batch_size=2, grid_cell=24)
    suite = parse_suite(raw)
    out = run_suite(suite, root / "out", data=root, prior=tiny_any_size_prior(), progress=False)
    return out, suite


def test_every_method_runs_on_its_images_at_their_own_size(tiny_natural):
    out, _suite = tiny_natural
    rows = read_rows(out / RESULTS)
    names = {"kodak24/kodim01.png", "kodak24/kodim02.png", "kodak24/kodim03.png", "cbsd68/0.jpg", "cbsd68/1.jpg",
             "cbsd68/2.jpg"}
    by = {}
    for r in rows:
        by.setdefault((r["task"], r["method"]), set()).add(r["image"])
    for task in TASKS:
        assert by[(task, "ddrm" if task != "jpeg10" else "measurement")] == names, task
        if task != "jpeg10":
            assert by[(task, "dps")] == by[(task, "repaint")] == {"kodak24/kodim02.png", "cbsd68/1.jpg"}
    assert by[("sr4", "bicubic")] == by[("inpaint_random", "biharmonic")] == by[("motion_blur", "wiener")] == names
    meta = json.loads((out / "meta.json").read_text())
    assert meta["tasks"]["inpaint_box"]["params"] == {"mask_kind": "box", "centred": True}
    with Image.open(out / "images" / "sr4" / "ddrm" / "cbsd68__1.png") as im:   # 41×57 JPEG → cropped 40×56
        assert im.size == (40, 56)
    with Image.open(out / "images" / "sr4" / "_measured" / "kodak24__kodim02.png") as im:  # shown at image size
        assert im.size == (40, 56)
    with Image.open(out / "images" / "inpaint_box" / "_measured" / "kodak24__kodim02.png") as im:  # 56×40 portrait
        hole = np.asarray(im).sum(-1) == 0
    assert hole[14:42, 10:30].all() and hole.mean() == pytest.approx(0.25, abs=0.02)  # centred 28×20 box


def test_the_report_pairs_every_method_on_each_scope(tiny_natural):
    out, _ = tiny_natural
    md = (out / "results.md").read_text()
    for scope in ("#### kodak24 — 3 images", "#### kodak24 ∩ gpu8 — 1 images", "#### cbsd68 — 3 images",
                  "#### cbsd68 ∩ gpu8 — 1 images"):
        assert scope in md
    section = md.split("\n### sr4")[1].split("\n### ")[0]
    full, paired = section.split("#### kodak24 ∩ gpu8")[0], section.split("#### kodak24 ∩ gpu8")[1].split("####")[0]
    assert "| ddrm |" in full and "| dps |" not in full
    assert all(f"| {m} | " in paired for m in ("ddrm", "dps", "repaint", "bicubic"))
    assert all(line.split("|")[3].strip() == "1" for line in paired.splitlines() if line.startswith("| ") and
               not line.startswith("| method"))
    import csv

    with open(out / "results.csv") as f:
        scopes = {r["images"] for r in csv.DictReader(f)}
    assert scopes == {"kodak24", "kodak24 ∩ gpu8", "cbsd68", "cbsd68 ∩ gpu8"}
    with Image.open(out / "grid_sr4.png") as grid:  # one grid row per set (the subset images), cells of 24 px
        assert grid.height < 14 + 3 * 26


def test_a_fixed_size_prior_is_refused_at_another_size_and_an_any_size_one_is_not():
    from tests.priors.helpers import tiny_prior

    fixed = tiny_prior()
    assert size_problem(fixed, 16, 16) is None
    assert "attention" in size_problem(fixed, 40, 56)
    anysize = tiny_any_size_prior()
    assert size_problem(anysize, 40, 56) is None and size_problem(anysize, 56, 40) is None
    assert "at least" in size_problem(anysize, 1, 56)
    x = torch.zeros(1, 3, 40, 56)
    assert anysize.eps(x, 10).shape == x.shape


def test_a_subset_is_spread_over_the_ranks():
    """With 8 ranks the natural suite's 16 gpu8 images go 2 to each rank (split by list position over all 92
    images, all 8 CBSD68 ones would have fallen on rank 0)."""
    from invdiff.bench.runner import Dist, Runner

    suite = load_suite(NATURAL)
    runner = Runner.__new__(Runner)
    runner.suite = suite
    from invdiff.bench.protocol import BenchImage

    runner.images = [BenchImage(i, f"kodak24/kodim{i + 1:02d}.png", None) for i in range(24)] + \
                    [BenchImage(i, f"cbsd68/{n}", None) for i, n in enumerate(suite.sets[1].images)]
    runner.shapes = {}  # shapes unknown: equal costs (tests/bench/test_ranks.py has the shape-aware split)
    gpu8 = set(suite.subsets["gpu8"])
    per_rank = []
    for rank in range(8):
        runner.dist = Dist(rank=rank, world=8)
        per_rank.append([im.name for im in runner._my_images()])
    assert sorted(n for names in per_rank for n in names) == sorted(im.name for im in runner.images)
    assert [sum(n in gpu8 for n in names) for names in per_rank] == [2] * 8


def test_the_tuned_settings_rewrite_only_the_methods_and_keep_the_protocol(tmp_path):
    tuned = load_script("benchmarks/natural/tuned_suite.py")
    chosen = {"dps": {"sr4": {"zeta": 1.5}, "jpeg10": {}}, "ddnm": {"gaussian_blur": {"eta": 0.5}}, "pigdm": {},
              "_about": {"runs": ["runs/x"], "fallback": {"pigdm": ["jpeg10"]}}}
    (tmp_path / "chosen.json").write_text(json.dumps(chosen))
    out = tmp_path / "natural.yaml"
    assert tuned.main([str(tmp_path / "chosen.json"), "--out", str(out)]) == 0
    before, after = load_suite(NATURAL), load_suite(out)
    assert after.fingerprint() == before.fingerprint()  # rows already in the results stay valid
    assert [m.label for m in after.methods] == [m.label for m in before.methods]
    by = {m.label: m for m in after.methods}
    assert by["dps"].per_task == by["dps-100"].per_task == {"sr4": {"zeta": 1.5}}  # DPS-1000 takes DPS-100's ζ
    assert by["dps-100"].settings == {"steps": 100} and by["ddnm"].per_task == {"gaussian_blur": {"eta": 0.5}}
    assert by["ddrm"].images is None and all(by[k].images == "gpu8" for k in by if k != "ddrm")
    head_lines = NATURAL.read_text().split("\nmethods:")[0].splitlines(keepends=True)
    while head_lines and head_lines[-1].startswith("#"):  # the methods block's own comment lines are rewritten
        head_lines.pop()
    head = "".join(head_lines)
    assert out.read_text().startswith(head) and "&id" not in out.read_text()
    assert "pigdm on jpeg10" in out.read_text()


def test_tuned_suite_refuses_a_suite_without_methods_in_one_line_and_writes_nothing(tmp_path, capsys):
    tuned = load_script("benchmarks/natural/tuned_suite.py")
    (tmp_path / "chosen.json").write_text(json.dumps({"dps": {"sr4": {"zeta": 2.0}}}))
    (tmp_path / "suite.yaml").write_text("name: x\n")
    out = tmp_path / "out.yaml"
    assert tuned.main([str(tmp_path / "chosen.json"), "--suite", str(tmp_path / "suite.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no top-level 'methods:' block" in err[0] and not out.exists()
