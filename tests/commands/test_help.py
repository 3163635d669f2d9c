"""Every flag of every pynet-cvae command says what it does in --help."""

import argparse

from pynet_cvae.cli import build_parser
from pynet_cvae.commands.settings import build_train_parser
from pynet_cvae.registry import Networks, Recipes


def flags_without_help(parser):
    return [action.option_strings[0] for action in parser._actions
            if action.option_strings and not (action.help or "").strip()
            and action.help is not argparse.SUPPRESS]


def train_parsers():
    """The train command's parser of each recipe; the network recipe's of each network."""
    for recipe in sorted(Recipes.get_registry()):
        network = Recipes.get(recipe)().network
        for name in ([network] if network else sorted(Networks.get_registry())):
            yield f"train --recipe {recipe} --network {name}", build_train_parser(recipe,
                                                                                 name)


def test_every_flag_of_every_command_has_help():
    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction)).choices
    assert {"train", "board", "normative", "sample", "evaluate", "export"} <= set(commands)
    missing = {"pynet-cvae": flags_without_help(parser)}
    missing.update({name: flags_without_help(command) for name, command in commands.items()
                    if name != "train"})  # train parses its own arguments, below
    missing.update({name: flags_without_help(train) for name, train in train_parsers()})
    assert {name: flags for name, flags in missing.items() if flags} == {}
