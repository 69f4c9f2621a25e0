"""Pack the natural benchmark's images for the GPU machine: ``.carry/natural-eval/`` in the suites' layout.

    python benchmarks/natural/pack_eval.py [--data ROOT] [--out .carry/natural-eval] [--suite S ...]

copies exactly the files the suites read (default: ``configs/bench/natural.yaml`` and its validation
sweep ``natural-tune.yaml``) — Kodak24's 24 PNGs and CBSD68's 68
JPEGs (the BSDS originals: copying the JPEG bytes keeps the decoded pixels identical, which
re-encoding as PNG would too but at about four times the size) — byte for byte, checks each copy's
sha256 against its source, writes ``MANIFEST.tsv`` (path, bytes, sha256) and prints the total size.
On the GPU machine (``.carry/`` is git-ignored; carry it with the run)::

    INVDIFF_DATA=.carry/natural-eval invdiff bench configs/bench/natural.yaml --out OUT --fast
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from invdiff.bench import load_suite
from invdiff.bench.protocol import suite_images

SUITE = REPO / "configs" / "bench" / "natural.yaml"
SUITES = (SUITE, REPO / "configs" / "bench" / "natural-tune.yaml")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack(data: Path, out: Path, suite_paths: tuple[Path, ...] = SUITES) -> tuple[int, int]:
    """Copy every image of the suites from ``data`` to ``out`` (same relative paths); returns (files, bytes)."""
    images = {im.path: im for path in suite_paths for im in suite_images(load_suite(path), data)}.values()
    rows, total = [], 0
    for im in images:
        rel = im.path.relative_to(data)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(im.path, target)
        digest = sha256(target)
        if digest != sha256(im.path):
            raise OSError(f"copy of {im.path} differs from its source; rerun.")
        size = target.stat().st_size
        rows.append(f"{rel.as_posix()}\t{size}\t{digest}")
        total += size
    (out / "MANIFEST.tsv").write_text("path\tbytes\tsha256\n" + "\n".join(rows) + "\n")
    return len(images), total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(os.environ.get("INVDIFF_DATA", "../shared/datasets")),
                   help="dataset root (default: $INVDIFF_DATA, else ../shared/datasets)")
    p.add_argument("--out", type=Path, default=REPO / ".carry" / "natural-eval", help="pack folder (git-ignored)")
    p.add_argument("--suite", type=Path, action="append", default=None,
                   help="a suite whose images to pack (repeatable; default: natural.yaml and natural-tune.yaml)")
    args = p.parse_args(argv)
    n, total = pack(args.data, args.out, tuple(args.suite) if args.suite else SUITES)
    print(f"{n} images, {total / 2**20:.1f} MiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
