"""Crash-safe result rows: one JSON line per (task, method, image), appended and fsync'ed.

A single-process run appends to ``results.jsonl``; under ``torchrun`` rank ``r`` appends to
``shards/rank{r}.jsonl`` and rank 0 later merges the shards into ``results.jsonl``. A line is
written with one ``write`` of the whole line and then ``fsync``'ed, so a killed run leaves at most
one partial last line: readers ignore it and the owner truncates it away before appending again.
A row's key is ``(task, method, image)``; the first complete row for a key wins, so a crash in
the middle of a merge can leave a key in two files but never twice in the table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

RESULTS = "results.jsonl"
SHARDS = "shards"

Key = tuple[str, str, str]


def row_key(row: dict[str, Any]) -> Key:
    return (row["task"], row["method"], row["image"])


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Complete rows of one JSONL file; a partial (unterminated) last line is ignored."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the piece after the last newline is empty or a partial line
    rows = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {number} is not valid JSON ({err}); the file was edited or corrupted — "
                             f"delete that line and rerun to recompute it.") from None
    return rows


def repair(path: Path) -> int:
    """Truncate a partial last line (left by a killed writer); returns the number of bytes dropped."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep == len(data):
        return 0
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - keep


def shard_files(out: Path) -> list[Path]:
    return sorted((out / SHARDS).glob("rank*.jsonl"))


def all_rows(out: Path) -> list[dict[str, Any]]:
    """Every complete row of ``results.jsonl`` and the shards, first row per key only."""
    seen: set[Key] = set()
    rows = []
    for path in [out / RESULTS, *shard_files(out)]:
        for row in read_rows(path):
            if row_key(row) not in seen:
                seen.add(row_key(row))
                rows.append(row)
    return rows


class RowWriter:
    """Appends rows to one JSONL file, one durable line at a time (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dropped_bytes = repair(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, row: dict[str, Any]) -> None:
        data = (json.dumps(row, sort_keys=True) + "\n").encode()
        written = os.write(self._fd, data)
        if written != len(data):  # pragma: no cover - regular files take whole small writes
            raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes).")
        os.fsync(self._fd)

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.append(row)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def writer_for(out: Path, rank: int, world: int) -> RowWriter:
    """``results.jsonl`` for a single process, ``shards/rank{r}.jsonl`` under torchrun."""
    return RowWriter(out / RESULTS if world == 1 else out / SHARDS / f"rank{rank}.jsonl")


def merge_shards(out: Path) -> int:
    """Append the shards' rows missing from ``results.jsonl`` to it, then delete the shards; returns rows added."""
    with RowWriter(out / RESULTS) as main:
        have = {row_key(r) for r in read_rows(main.path)}
        added = 0
        for shard in shard_files(out):
            for row in read_rows(shard):
                if row_key(row) not in have:
                    main.append(row)
                    have.add(row_key(row))
                    added += 1
    for shard in shard_files(out):
        shard.unlink()
    return added
