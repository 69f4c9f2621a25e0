"""benchmarks/results/subset_table.py: pooled means on the images every listed method ran, per task."""

from __future__ import annotations

from .conftest import load_script


def row(task, method, image, psnr):
    return {"task": task, "method": method, "image": image, "psnr": psnr, "ssim": psnr / 100, "lpips": 1 / psnr}


def test_each_task_pools_only_the_images_every_method_that_ran_it_has():
    st = load_script("benchmarks/results/subset_table.py")
    rows = [row("blur", "wiener", f"i{k}", 20.0 + k) for k in range(4)]
    rows += [row("blur", "ddrm", f"i{k}", 30.0 + k) for k in range(2)]  # the subset: i0, i1
    rows += [row("sr4", "wiener", f"i{k}", 10.0) for k in range(3)]  # ddrm did not run sr4: all 3 images
    lines = st.table(rows, ["wiener", "ddrm"])
    assert lines[0] == "| method | blur | sr4 |"
    cells = {line.split(" | ")[0]: line.split(" | ")[1:] for line in lines[2:]}
    assert cells["| wiener"][0] == "20.50 / 0.205 / 0.049 (2)"  # i0, i1 only: paired with ddrm
    assert cells["| ddrm"][0] == "30.50 / 0.305 / 0.033 (2)"
    assert cells["| wiener"][1].startswith("10.00 / 0.100 / 0.100 (3)") and cells["| ddrm"][1] == "– |"


def test_a_metric_the_suite_did_not_compute_is_na_and_main_refuses_unknown_methods(tmp_path, capsys):
    import json
    import sys

    st = load_script("benchmarks/results/subset_table.py")
    rows = [{**row("blur", "ddrm", "i0", 30.0), "lpips": None}]
    assert st.table(rows, ["ddrm"])[2] == "| ddrm | 30.00 / 0.300 / n/a (1) |"
    (tmp_path / "results.jsonl").write_text(json.dumps(rows[0]) + "\n")
    argv = sys.argv
    try:
        sys.argv = ["subset_table.py", str(tmp_path), "--methods", "ddrm,dps"]
        try:
            st.main()
        except SystemExit as e:
            assert "has no rows of ['dps']" in str(e)
        else:
            raise AssertionError("an unknown method must be refused")
    finally:
        sys.argv = argv
