"""benchmarks/device/travel.py: weights leave the index for a GPU call, commits are blocked, restore is exact."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def travel():
    spec = importlib.util.spec_from_file_location("travel", REPO / "benchmarks/device/travel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.org")
    git(tmp_path, "config", "user.name", "t")
    w = tmp_path / "invdiff/weights"
    w.mkdir(parents=True)
    for name in ("faces64-00001-of-00002", "faces64-00002-of-00002", "faces64-sr4-00001-of-00002", "natural"):
        (w / f"{name}.safetensors").write_bytes(name.encode() * 100)
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tracked(repo: Path) -> set[str]:
    return set(git(repo, "ls-files").stdout.split())


def test_leave_out_blocks_commits_and_restore_is_exact(repo, capsys):
    t = travel()
    before = git(repo, "ls-files", "-s").stdout
    assert t.main(["leave-out", "faces64"]) == 0
    left = tracked(repo)
    assert "invdiff/weights/faces64-00001-of-00002.safetensors" not in left
    assert "invdiff/weights/faces64-sr4-00001-of-00002.safetensors" in left  # another prior's shards stay
    assert (repo / "invdiff/weights/faces64-00001-of-00002.safetensors").is_file()  # still on disk
    status = git(repo, "status", "--porcelain", "--untracked-files=all").stdout
    assert "?? invdiff/weights/faces64-0" not in status  # ignored, so it does not travel either
    assert "would carry" in capsys.readouterr().out
    (repo / "code.py").write_text("x = 2\n")
    git(repo, "add", "code.py")
    blocked = git(repo, "commit", "-qam", "oops", check=False)
    assert blocked.returncode != 0 and "travel.py restore" in blocked.stderr
    git(repo, "reset", "-q", "code.py")
    assert t.main(["restore"]) == 0
    assert git(repo, "ls-files", "-s").stdout == before
    assert git(repo, "diff", "--cached", "--name-only").stdout == ""
    assert "faces64" not in (repo / ".git/info/exclude").read_text()
    git(repo, "commit", "-qam", "fine")  # the hook lets commits through again


def test_leave_out_refuses_staged_changes_and_unknown_priors(repo):
    t = travel()
    (repo / "code.py").write_text("x = 3\n")
    git(repo, "add", "code.py")
    assert t.main(["leave-out", "faces64"]) == 2
    git(repo, "reset", "-q", "code.py")
    with pytest.raises(SystemExit, match="no tracked weights"):
        t.main(["leave-out", "nope"])


def test_figures_leave_with_the_weights_and_come_back(repo):
    t = travel()
    fig = repo / "benchmarks/results/suite/grid.png"
    fig.parent.mkdir(parents=True)
    fig.write_bytes(b"png" * 100)
    (repo / "data").mkdir()
    (repo / "data/sample.png").write_bytes(b"png")  # a shipped sample, not a figure: it travels
    (repo / "benchmarks/results/suite/results.jsonl").write_text("{}\n")  # earlier rows a lease reads: travel
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "figures")
    before = git(repo, "ls-files", "-s").stdout
    assert t.main(["leave-out", "--figures"]) == 0
    left = tracked(repo)
    assert "benchmarks/results/suite/grid.png" not in left and "data/sample.png" in left
    assert "benchmarks/results/suite/results.jsonl" in left  # a lease chose over them (s6's tune job)
    assert "invdiff/weights/natural.safetensors" in left  # no prior named: the weights stay
    assert t.main(["restore"]) == 0
    assert git(repo, "ls-files", "-s").stdout == before
