"""The ``invdiff`` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import bench, info, solve, train

SUBCOMMANDS = {"train": train, "solve": solve, "bench": bench, **info.COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invdiff", description="Imaging inverse problems with diffusion priors.")
    parser.add_argument("--version", action="version", version=f"invdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return SUBCOMMANDS[args.command].run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
