"""The sub-commands of ``pynet-cvae``, one module each.

A command module defines ``add_parser(subparsers)``, which adds its parser and sets
the parser's default ``run`` to a function taking the parsed arguments and returning
the exit status (a command that parses its own arguments also sets
``own_arguments=True``: it finds them in ``arguments.arguments``).

The core's commands are :data:`COMMAND_MODULES`; a plugin adds its own by declaring
their modules in the ``pynet_cvae.commands`` entry-point group (the CVAE plugin:
``sample``, ``evaluate`` and ``export``)::

    entry_points={"pynet_cvae.commands": ["sample = my_plugin.commands.sample"]}

A plugin's normative model is a sub-command of ``pynet-cvae normative``, declared
the same way in the ``pynet_cvae.normative_commands`` group (the CVAE plugin:
``cvae``; see :mod:`pynet_cvae.commands.normative`).
"""

from __future__ import annotations

import logging
import warnings
from importlib.metadata import entry_points
from typing import List, Sequence

logger = logging.getLogger("pynet_cvae")

COMMAND_MODULES = (
    "pynet_cvae.commands.train",
    "pynet_cvae.commands.board",
    "pynet_cvae.commands.normative",
)
"""The core's commands."""

COMMAND_GROUP = "pynet_cvae.commands"
"""The entry-point group where plugins declare their command modules."""

NORMATIVE_GROUP = "pynet_cvae.normative_commands"
"""The entry-point group where plugins declare their ``pynet-cvae normative`` models."""

#: The core's sub-commands of ``pynet-cvae normative``.
NORMATIVE_COMMANDS = ("cohort", "baseline")


def command_modules() -> List[str]:
    """The core's command modules, then the plugins' (their entry points, by name).

    A plugin command whose name is taken by an earlier one is skipped with a warning.

    Returns
    -------
    list of str
        Module names.
    """
    core = list(COMMAND_MODULES)
    return core + _plugin_modules(COMMAND_GROUP, [module.rsplit(".", 1)[1] for module in core],
                                  "pynet-cvae")


def normative_command_modules() -> List[str]:
    """The plugins' modules of ``pynet-cvae normative`` sub-commands (by name).

    One whose name is taken (by the core's :data:`NORMATIVE_COMMANDS` or an earlier
    plugin's) is skipped with a warning.

    Returns
    -------
    list of str
        Module names.
    """
    return _plugin_modules(NORMATIVE_GROUP, NORMATIVE_COMMANDS, "pynet-cvae normative")


def _plugin_modules(group: str, taken: Sequence[str], command: str) -> List[str]:
    modules, names = [], set(taken)
    for entry_point in sorted(entry_points(group=group), key=lambda item: item.name):
        if entry_point.name in names:
            warnings.warn(f"{command} command {entry_point.name!r} of {entry_point.value} "
                          "is already defined: skipped", RuntimeWarning, stacklevel=3)
            continue
        names.add(entry_point.name)
        modules.append(entry_point.value.split(":")[0])
    return modules
