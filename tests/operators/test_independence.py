"""`operators` is the physics layer: importable on its own, and it never pulls in `invdiff`."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_operators_import_alone_without_invdiff():
    code = ("import sys, operators, operators.generators, operators.jpeg; "
            "assert not any(m == 'invdiff' or m.startswith('invdiff.') for m in sys.modules), 'invdiff was imported'; "
            "print(sorted(operators.available()))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "inpaint" in done.stdout and "jpeg" in done.stdout


def test_no_source_file_mentions_an_invdiff_import():
    for path in (REPO / "operators").rglob("*.py"):
        text = path.read_text()
        assert "import invdiff" not in text and "from invdiff" not in text, path
