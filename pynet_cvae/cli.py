"""The ``pynet-cvae`` command line: ``pynet-cvae <command> [options]``.

Each command lives in a module: the core's in :mod:`pynet_cvae.commands`, the
plugins' declared in the ``pynet_cvae.commands`` entry-point group (the CVAE
plugin's ``sample``, ``evaluate`` and ``export``); ``pynet-cvae --help`` lists them.

Every failure the command line can name ends in one line on stderr,
``pynet-cvae: error: ...``, and exit status 1 (2 for a bad argument): a bad file,
a full disk, a read-only folder, a refused checkpoint, a lack of memory.
Ctrl-C and SIGTERM stop a command cleanly (:mod:`pynet_cvae.commands.stopping`):
an interrupted training says where its completed epochs are saved and how to
resume, and exits with 130 (SIGINT) or 143 (SIGTERM). The address-space limit
is checked before the numerical libraries load
(:mod:`pynet_cvae.commands.memory`). Warnings (a lost board server, a log that
cannot be written) are one line each too: ``pynet-cvae: warning: ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
import warnings
from typing import Iterator, NoReturn, Optional, Sequence

from . import __version__
from .commands import command_modules
from .commands.errors import describe_failure, describe_interruption
from .commands.memory import AddressSpaceTooSmall, check_address_space
from .commands.stopping import Interrupted, stopping_cleanly


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (with where to find the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pynet-cvae`` with every command's parser."""
    parser = _Parser(
        prog="pynet-cvae", description="Train and inspect conditional VAEs with pynet-cvae.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version of pynet-cvae and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
        importlib.import_module(module).add_parser(subparsers)
    return parser


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Print warnings as ``pynet-cvae: warning: ...``, without the source line."""
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, *args, **kwargs: (  # type: ignore[assignment]
        f"pynet-cvae: warning: {message}\n")
    try:
        yield
    finally:
        warnings.formatwarning = previous


def _fail(message: str) -> int:
    print(f"pynet-cvae: error: {message}", file=sys.stderr)
    return 1


def configure_logging() -> None:
    """Print the ``pynet_cvae`` logger's messages (a command not asked to be quiet)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``pynet-cvae``; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        check_address_space()
    except AddressSpaceTooSmall as error:
        return _fail(str(error))
    with _one_line_warnings():  # a plugin's command skipped
        parser = build_parser()
    arguments, others = parser.parse_known_args(argv)
    if getattr(arguments, "own_arguments", False):
        arguments.arguments = others
    elif others:
        parser.error(f"unrecognized arguments: {' '.join(others)}")
    if not (getattr(arguments, "quiet", False) or getattr(arguments, "own_arguments", False)):
        configure_logging()
    try:
        with stopping_cleanly(), _one_line_warnings():
            return int(arguments.run(arguments) or 0)
    except KeyboardInterrupt as interruption:
        print(f"pynet-cvae: {describe_interruption(interruption, argv)}", file=sys.stderr)
        return interruption.exit_status if isinstance(interruption, Interrupted) else 130
    except Exception as error:  # noqa: BLE001 - re-raised unless it can be named
        message = describe_failure(error)
        if message is None:
            raise
        return _fail(message)


if __name__ == "__main__":
    sys.exit(main())
