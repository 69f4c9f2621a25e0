"""Result rows on disk: durable appends, partial last lines, merging shards without duplicates."""

from __future__ import annotations

import json

import pytest

from invdiff.bench.store import RESULTS, RowWriter, all_rows, merge_shards, read_rows, repair, writer_for


def row(task: str, method: str, image: str, psnr: float = 20.0) -> dict:
    return {"task": task, "method": method, "image": image, "psnr": psnr}


def test_rows_round_trip_one_line_each(tmp_path):
    with writer_for(tmp_path, 0, 1) as w:
        w.extend([row("t", "m", "a"), row("t", "m", "b")])
    text = (tmp_path / RESULTS).read_text()
    assert text.count("\n") == 2 and text.endswith("\n")
    assert [r["image"] for r in read_rows(tmp_path / RESULTS)] == ["a", "b"]


def test_a_partial_last_line_is_ignored_then_truncated_by_its_writer(tmp_path):
    path = tmp_path / RESULTS
    with RowWriter(path) as w:
        w.append(row("t", "m", "a"))
    with open(path, "ab") as f:
        f.write(b'{"task": "t", "method": "m", "ima')  # killed mid-write
    assert [r["image"] for r in read_rows(path)] == ["a"]
    with RowWriter(path) as w:
        assert w.dropped_bytes == len(b'{"task": "t", "method": "m", "ima')
        w.append(row("t", "m", "b"))
    assert [json.loads(line)["image"] for line in path.read_text().splitlines()] == ["a", "b"]
    assert repair(path) == 0


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / RESULTS
    path.write_text(json.dumps(row("t", "m", "a")) + "\nnot json\n" + json.dumps(row("t", "m", "b")) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        read_rows(path)


def test_merge_appends_missing_rows_once_and_removes_shards(tmp_path):
    with writer_for(tmp_path, 0, 1) as w:
        w.append(row("t", "m", "a", 1.0))
    for rank, images in ((0, "ab"), (1, "cd")):
        with writer_for(tmp_path, rank, 2) as w:
            w.extend(row("t", "m", im, 2.0) for im in images)
    assert sorted(r["image"] for r in all_rows(tmp_path)) == ["a", "b", "c", "d"]
    assert merge_shards(tmp_path) == 3
    rows = read_rows(tmp_path / RESULTS)
    assert sorted(r["image"] for r in rows) == ["a", "b", "c", "d"]
    assert next(r for r in rows if r["image"] == "a")["psnr"] == 1.0  # the first row of a key wins
    assert not list((tmp_path / "shards").glob("*.jsonl"))
    assert merge_shards(tmp_path) == 0 and len(read_rows(tmp_path / RESULTS)) == 4


def test_methods_not_run_for_the_same_reason_share_one_line():
    from invdiff.bench.report import _task_section

    plan = [{"label": "sr3", "not_run": "only sr4."}, {"label": "sr3-100", "not_run": "only sr4."},
            {"label": "ddrm", "not_run": "no SVD."}, {"label": "dps", "not_run": None}]
    text = "\n".join(_task_section("jpeg10", {"task": "jpeg", "sigma_y": 0.0}, [], plan, "", None))
    assert "sr3, sr3-100 not run: only sr4." in text and "ddrm not run: no SVD." in text
    assert text.count("not run") == 2 and "dps not run" not in text


def test_source_hash_follows_the_code_not_the_file_dates(tmp_path):
    """meta.json's source_sha256: equal for equal sources, different after any edit, rename or new file."""
    from invdiff.bench.meta import source_sha256

    for pkg in ("invdiff", "operators"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(f"# {pkg}\n")
    (tmp_path / "README.md").write_text("not code")
    first = source_sha256(tmp_path)
    (tmp_path / "README.md").write_text("still not code")
    assert source_sha256(tmp_path) == first and len(first) == 64
    (tmp_path / "operators" / "__init__.py").write_text("# operators, edited\n")
    edited = source_sha256(tmp_path)
    assert edited != first
    (tmp_path / "operators" / "__init__.py").rename(tmp_path / "operators" / "core.py")
    assert source_sha256(tmp_path) not in (first, edited)
