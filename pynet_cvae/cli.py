"""The ``pynet-cvae`` command line: ``pynet-cvae <command> [options]``.

Each command lives in a module: the core's in :mod:`pynet_cvae.commands`, the
plugins' declared in the ``pynet_cvae.commands`` entry-point group (the CVAE
plugin's ``sample`` and ``evaluate``); ``pynet-cvae --help`` lists them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

from .commands import command_modules


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pynet-cvae`` with every command's parser."""
    parser = argparse.ArgumentParser(
        prog="pynet-cvae", description="Train and inspect conditional VAEs with pynet-cvae.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
        importlib.import_module(module).add_parser(subparsers)
    return parser


def configure_logging() -> None:
    """Print the ``pynet_cvae`` logger's messages (a command not asked to be quiet)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``pynet-cvae``; return the exit status."""
    parser = build_parser()
    arguments, others = parser.parse_known_args(argv)
    if getattr(arguments, "own_arguments", False):
        arguments.arguments = others
    elif others:
        parser.error(f"unrecognized arguments: {' '.join(others)}")
    if not (getattr(arguments, "quiet", False) or getattr(arguments, "own_arguments", False)):
        configure_logging()
    try:
        return int(arguments.run(arguments) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"pynet-cvae: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
