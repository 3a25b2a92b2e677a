"""The ``dali-mixup`` command (also ``python -m dali_mixup``): one subcommand per module in
``COMMANDS``, each with ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import build, check, preview

COMMANDS = (preview, check, build)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dali-mixup",
                                     description="Mixup and CutMix inside NVIDIA DALI pipelines.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad arguments or data)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:  # bad arguments or data: say so, without a trace
        parser.exit(2, f"dali-mixup {args.command}: error: {error}\n")
