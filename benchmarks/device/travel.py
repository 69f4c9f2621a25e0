"""Control what a GPU call carries: leave shipped weights out, show the size, put everything back.

The device tool sends the working tree — tracked files plus untracked files git does not ignore —
and the paths named in ``carry``, 64 MiB in all. The shipped priors are most of the tracked bytes,
and most calls need none or one of them. ``leave-out`` takes the named priors' weight files out of
git's index (the files stay on disk) and ignores them in ``.git/info/exclude``, so they do not
travel; ``restore`` puts the index back exactly as HEAD has it and removes the ignore lines.

Safety: ``leave-out`` refuses while the index holds staged changes (restoring must not lose
them), and installs a pre-commit hook that refuses any commit while weights are left out, so their
removal cannot be committed by accident (the tests that load every shipped prior are the second
net). The state lives in this worktree's git directory.

    python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 --carry .carry
    python3 benchmarks/device/travel.py leave-out natural --figures     # figures stay home too
    ... device call ...
    python3 benchmarks/device/travel.py restore
    python3 benchmarks/device/travel.py status --carry .carry
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

LIMIT_MIB = 64
EXCLUDE_BEGIN, EXCLUDE_END = "# >>> invdiff travel: weights left out", "# <<< invdiff travel"
HOOK = """#!/bin/sh
# installed by benchmarks/device/travel.py: no commit while shipped weights are out of the index
state="$(git rev-parse --git-dir)/invdiff-travel.json"
if [ -f "$state" ]; then
  echo "invdiff: shipped weights are left out of the index for a GPU call; run" >&2
  echo "  python3 benchmarks/device/travel.py restore" >&2
  echo "before committing." >&2
  exit 1
fi
"""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def git_path(kind: str) -> Path:
    return Path(git("rev-parse", kind).strip()).resolve()


def state_file() -> Path:
    return git_path("--git-dir") / "invdiff-travel.json"


def weight_files(prior: str) -> list[str]:
    files = sorted(p for p in git("ls-files", f"invdiff/weights/{prior}.safetensors",
                                   f"invdiff/weights/{prior}-*-of-*.safetensors").split("\n") if p)
    if not files:
        raise SystemExit(f"travel: error: no tracked weights for prior {prior!r} under invdiff/weights/.")
    # "faces64-*" also matches faces64-sr4's shards: keep only this prior's own shard names
    return [f for f in files if Path(f).name.split("-0")[0] == prior or Path(f).stem == prior]


def travelling(carry: list[str]) -> tuple[int, int]:
    """(bytes, files) that a call would carry: the working tree as the tool sees it, plus ``carry``."""
    paths = [p for p in git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0") if p]
    files = [Path(p) for p in paths if Path(p).is_file()]
    for c in carry:
        root = Path(c)
        files += [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def set_exclude(lines: list[str]) -> None:
    exclude = git_path("--git-common-dir") / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.exists() else ""
    if EXCLUDE_BEGIN in text:
        head, rest = text.split(EXCLUDE_BEGIN, 1)
        text = head + rest.split(EXCLUDE_END, 1)[1].lstrip("\n")
    if lines:
        text = text.rstrip("\n") + ("\n" if text.strip() else "") + "\n".join([EXCLUDE_BEGIN, *lines, EXCLUDE_END]) + "\n"
    exclude.write_text(text)


def install_hook() -> None:
    hook = git_path("--git-common-dir") / "hooks" / "pre-commit"
    if hook.exists() and "invdiff/travel" not in hook.read_text() and "travel.py" not in hook.read_text():
        raise SystemExit(f"travel: error: {hook} exists and is not ours; add its check by hand.")
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(HOOK)
    hook.chmod(0o755)


def report(carry: list[str]) -> None:
    size, count = travelling(carry)
    mib = size / 2**20
    print(f"a GPU call would carry {count} files, {mib:.1f} MiB of {LIMIT_MIB} MiB"
          + (f" (with {', '.join(carry)})" if carry else ""))
    if mib > LIMIT_MIB:
        print("travel: warning: over the limit: the call would be refused.", file=sys.stderr)


# Tracked files no GPU job reads: result figures and gzipped row dumps (≈ 14 MiB, measured 2026-11-26). The plain
# `results.jsonl` row files travel (2.4 MiB in all): a lease may choose over earlier runs' rows, and run_gpu_issue20_s6.sh's
# choice silently lost natural-tune2's when they stayed home.
FIGURES = ("benchmarks/**/*.png", "benchmarks/**/*.jsonl.gz")


def figure_files() -> list[str]:
    """Tracked figures and row dumps under ``benchmarks/`` (what ``--figures`` leaves out too)."""
    return sorted(f for f in git("ls-files", "--", *(f":(glob){g}" for g in FIGURES)).split("\n") if f)


def leave_out(priors: list[str], carry: list[str], figures: bool = False) -> int:
    if state_file().exists():
        print("travel: error: weights are already left out; run `travel.py restore` first.", file=sys.stderr)
        return 2
    if subprocess.run(["git", "diff", "--cached", "--quiet"], check=False).returncode != 0:
        print("travel: error: the index holds staged changes; commit or unstage them first.", file=sys.stderr)
        return 2
    files = [f for p in priors for f in weight_files(p)] + (figure_files() if figures else [])
    install_hook()
    state_file().write_text(json.dumps({"priors": priors, "files": files}, indent=1))
    git("rm", "--cached", "--quiet", "--", *files)
    set_exclude(files)
    print(f"left out of the index (still on disk): {len(files)} files: {', '.join(files[:8])}"
          + (" …" if len(files) > 8 else ""))
    report(carry)
    return 0


def restore() -> int:
    if not state_file().exists():
        print("nothing to restore: no weights are left out.")
        return 0
    files = json.loads(state_file().read_text())["files"]
    git("reset", "--quiet", "HEAD", "--", *files)
    set_exclude([])
    state_file().unlink()
    missing = [f for f in files if not Path(f).is_file()]
    staged = git("diff", "--cached", "--name-only", "--", *files).split()
    if missing or staged:
        print(f"travel: error: after restoring, missing {missing}, staged {staged}.", file=sys.stderr)
        return 1
    print(f"restored {len(files)} weight files to the index")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lo = sub.add_parser("leave-out", help="leave these priors' weights out of what travels")
    lo.add_argument("priors", nargs="*", help="built-in prior names, e.g. faces64 faces64-sr4")
    lo.add_argument("--figures", action="store_true",
                    help="also leave out the tracked figures and row dumps under benchmarks/ (no GPU job reads them)")
    for p in (lo, sub.add_parser("status", help="print what a call would carry")):
        p.add_argument("--carry", nargs="*", default=[], help="paths the call will name in carry")
    sub.add_parser("restore", help="put the weights back into the index")
    args = ap.parse_args(argv)
    if args.cmd == "leave-out":
        if not args.priors and not args.figures:
            ap.error("leave-out needs prior names, --figures, or both.")
        return leave_out(args.priors, args.carry, args.figures)
    if args.cmd == "restore":
        return restore()
    report(args.carry)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
