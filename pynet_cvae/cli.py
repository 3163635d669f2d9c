"""The ``pynet-cvae`` command line: ``pynet-cvae <command> [options]``.

Each command lives in a module of :mod:`pynet_cvae.commands`; ``pynet-cvae --help``
lists them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

from . import __version__
from .commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pynet-cvae`` with every command's parser."""
    parser = argparse.ArgumentParser(
        prog="pynet-cvae", description="Train and inspect conditional VAEs with pynet-cvae.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version of pynet-cvae and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``pynet-cvae``; return the exit status."""
    arguments = build_parser().parse_args(argv)
    if not getattr(arguments, "quiet", False):
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return int(arguments.run(arguments) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"pynet-cvae: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
