"""A Sphinx directive that shows the ``--help`` of the ``pynet-cvae`` command.

``.. cli-help::`` renders the help of ``pynet-cvae`` then that of every
sub-command, taken from the argument parser at build time, so a new command or
option appears in the documentation without any edit.
"""

from __future__ import annotations

import argparse
import os
from typing import Iterator, List, Tuple

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

HELP_WIDTH = "88"


def sub_parsers(parser: argparse.ArgumentParser
                ) -> Iterator[Tuple[str, argparse.ArgumentParser]]:
    """Yield ``(name, parser)`` for each sub-command of ``parser``, in order."""
    for action in parser._actions:  # argparse has no public accessor for these
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def help_texts(parser: argparse.ArgumentParser) -> List[Tuple[str, str]]:
    """Return ``(title, help text)`` for the command and each sub-command, at any depth."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to the terminal's width
    try:
        texts = [(parser.prog, parser.format_help())]
        for _, sub in sub_parsers(parser):  # commands with sub-commands: theirs too
            texts += help_texts(sub)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return texts


class CliHelp(SphinxDirective):
    """``.. cli-help::``: the help of ``pynet-cvae`` and of each of its commands."""

    def run(self) -> List[nodes.Node]:
        from pynet_cvae import cli, commands

        for module in (cli, commands):  # rebuild the page when a command changes
            folder = os.path.dirname(module.__file__)
            for name in sorted(os.listdir(folder)):
                if name.endswith(".py"):
                    self.env.note_dependency(os.path.join(folder, name))
        result: List[nodes.Node] = []
        for title, text in help_texts(cli.build_parser()):
            result.append(nodes.rubric(title, title))
            block = nodes.literal_block(text, text)
            block["language"] = "text"
            result.append(block)
        return result


def setup(app: Sphinx) -> dict:
    """Register the directive."""
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
