"""benchmarks/natural/compare_priors_val.py: each prior at its own chosen setting, paired on shared images."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.bench.conftest import load_script

VAL = {"tasks": {"sr4": {}, "inpaint_box": {}},
       "methods": {"ddnm@eta=0.5": {"method": "ddnm", "steps": 100, "eta": 0.5},
                   "ddnm@eta=1": {"method": "ddnm", "steps": 100, "eta": 1.0}}}


def row(task, label, image, psnr, lpips):
    return {"task": task, "method": label, "image": image, "psnr": psnr, "lpips": lpips}


def write_rows(folder, rows):
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def mod():
    return load_script("benchmarks/natural/compare_priors_val.py")


def test_each_prior_is_read_at_its_own_setting_and_paired_on_shared_images(tmp_path, mod):
    a = write_rows(tmp_path / "a", [row("sr4", "ddnm@eta=0.5", "x", 20.0, 0.5), row("sr4", "ddnm@eta=0.5", "y", 21.0, 0.4),
                                    row("sr4", "ddnm@eta=1", "x", 30.0, 0.1), row("sr4", "ddnm@eta=1", "y", 30.0, 0.1),
                                    row("sr4", "ddnm@eta=0.5", "z", 25.0, 0.3)])
    b = write_rows(tmp_path / "b", [row("sr4", "ddnm@eta=1", "x", 21.0, 0.45), row("sr4", "ddnm@eta=1", "y", 21.5, 0.42),
                                    row("sr4", "ddnm@eta=0.5", "x", 0.0, 9.0)])
    table = mod.compare(VAL, mod.load_rows([a]), {"ddnm": {"sr4": {"eta": 0.5}}},
                        mod.load_rows([b]), {"ddnm": {"sr4": {"eta": 1.0}}})
    assert len(table) == 1
    e = table[0]
    assert (e["a"], e["b"], e["images"]) == ("ddnm@eta=0.5", "ddnm@eta=1", 2)  # z has no B row
    assert e["psnr"]["diff"] == pytest.approx(0.75)
    assert e["lpips"]["diff"] == pytest.approx(-0.015)
    assert (e["psnr"]["b_better"], e["lpips"]["b_better"]) == (2, 1)  # LPIPS: lower is better


def test_a_suites_per_task_blocks_are_the_settings_it_ran_with(tmp_path, mod):
    suite = tmp_path / "natural.yaml"
    suite.write_text(yaml.safe_dump({"methods": {"ddrm": {}, "dps": {"per_task": {"sr4": {"zeta": 4.0}}},
                                                 "dps-100": {"method": "dps", "per_task": {"sr4": {"zeta": 9.0}}},
                                                 "ddnm": {"per_task": {"sr4": {"eta": 0.5}}}}}))
    assert mod.load_chosen(suite) == {"dps": {"sr4": {"zeta": 4.0}}, "ddnm": {"sr4": {"eta": 0.5}}}


def test_a_folder_without_rows_is_refused(tmp_path, mod):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no result rows"):
        mod.load_rows([tmp_path / "empty"])


def test_a_chosen_setting_the_suite_never_ran_is_refused_in_one_line(tmp_path, mod):
    a = write_rows(tmp_path / "a", [row("sr4", "ddnm@eta=0.5", "x", 20.0, 0.5)])
    with pytest.raises(SystemExit, match="eta.*0.7.*not an entry of the validation suite"):
        mod.compare(VAL, mod.load_rows([a]), {"ddnm": {"sr4": {"eta": 0.5}}},
                    mod.load_rows([a]), {"ddnm": {"sr4": {"eta": 0.7}}})
