"""The sub-commands of ``pynet-cvae``, one module each.

A command module defines ``add_parser(subparsers)``, which adds its parser and sets
the parser's default ``run`` to a function taking the parsed arguments and returning
the exit status.
"""

COMMAND_MODULES = (
    "pynet_cvae.commands.train",
    "pynet_cvae.commands.sample",
    "pynet_cvae.commands.evaluate",
    "pynet_cvae.commands.board",
    "pynet_cvae.commands.normative",
)
