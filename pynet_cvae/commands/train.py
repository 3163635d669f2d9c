"""``pynet-cvae train``: train a recipe, configured by flags or files.

``pynet-cvae train`` trains a registered recipe (:mod:`pynet_cvae.recipes`; the CVAE
plugin's ``conditional`` by default) on the training split of a data set (by default
the handwritten digits embedded in scikit-learn, so it needs no network). Its
configuration is typed (:mod:`pynet_cvae.commands.settings`): every option is a flag
and a key of the ``--config`` files, and ``--print_config`` prints the configuration
that reproduces the run. It writes to ``--output``:

- ``run.json``: the run's configuration (``--config runs/x/run.json`` trains it again);
- ``checkpoints/``: ``model_0_epoch_<e>.pth``, the initial state and
  ``model_config.json`` (the network and its resolved arguments, what ``pynet-cvae
  sample`` and ``evaluate`` rebuild the model from);
- ``train.json``, ``validation.json`` (histories) and ``history.csv``;
- what the recipe's observers write (the CVAE recipes: ``samples/``, one sample grid
  per epoch).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .settings import CHANGEABLE, DATASETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command (its arguments are parsed by its own parser)."""
    train = subparsers.add_parser(
        "train", add_help=False, help="train a registered recipe (by default the "
                                      "conditional VAE) from flags or a config file",
        description="Train a recipe and write checkpoints, histories, sample grids and "
                    "the run's configuration to --output.")
    train.format_help = _recipe_help  # type: ignore[method-assign]
    train.set_defaults(run=run, own_arguments=True)


def _recipe_help() -> str:
    from .settings import build_train_parser

    return build_train_parser().format_help()


def run(arguments: argparse.Namespace) -> int:
    """Parse the ``train`` arguments, train, then print the summary."""
    from ..cli import configure_logging
    from .settings import parse_train_arguments

    parser, namespace = parse_train_arguments(arguments.arguments)
    if not namespace.quiet:
        configure_logging()
    print(format_summary(train(parser, namespace)))
    return 0


def train(parser: Any, namespace: Any, observers: Sequence[Tuple[str, Any]] = ()
          ) -> Dict[str, Any]:
    """Train the run of a parsed ``pynet-cvae train`` configuration; return a summary.

    Parameters
    ----------
    parser : jsonargparse.ArgumentParser
        The parser (:func:`~pynet_cvae.commands.settings.parse_train_arguments`).
    namespace : jsonargparse.Namespace
        The parsed configuration.
    observers : sequence of (str, callable)
        More ``(signal, observer)`` pairs, attached after the recipe's.

    Returns
    -------
    dict
    """
    import torch

    from ..datasets import DataManager
    from ..fileio import atomic_write_text
    from ..interfaces import DeepLearningInterface
    from ..recipes import DataContext
    from ..registry import Recipes
    from ..seeding import seed_everything
    from ..trained import save_model_config
    from .settings import configuration_dict, model_fields_of, options_of, settings_of

    settings = settings_of(namespace)
    recipe = Recipes.get(settings.recipe)()
    options = options_of(namespace, recipe.options_class)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    data = fetch_dataset(settings.dataset, settings.datasetdir)
    sample_size = settings.sample_size
    if sample_size is None:
        sample_size = 1.0 if settings.dataset in ("digits", "thick-digits") else 0.5
    configuration = configuration_dict(parser, namespace)
    if settings.resume:
        check_resumed_configuration(settings.output, configuration)
    os.makedirs(settings.output, exist_ok=True)
    atomic_write_text(os.path.join(settings.output, CONFIG_FILE),
                      json.dumps(configuration, indent=2) + "\n")
    context = DataContext(
        input_path=data.input_path, metadata_path=data.metadata_path,
        image_shape=image_shape(data.input_path), output=settings.output,
        seed=settings.seed, batch_size=settings.batch_size, folds=settings.folds,
        sample_size=sample_size)
    plan = recipe.build(options, model_fields_of(namespace), context, settings.network)
    manager = DataManager(input_path=data.input_path, number_of_folds=settings.folds,
                          batch_size=settings.batch_size, seed=settings.seed,
                          **plan.manager_arguments)
    interface = DeepLearningInterface(
        model=plan.model, optimizer_name=settings.optimizer,
        learning_rate=settings.learning_rate, metrics=plan.metrics, loss=plan.loss,
        add_labels=plan.add_labels, device=settings.device,
        progress=False if settings.quiet else None)
    for signal, observer in [*plan.observers, *observers]:
        interface.add_observer(signal, observer)
    if settings.board:
        from ..plotting import update_board
        from .board import training_board
        interface.board = training_board(settings, context.image_shape)
        interface.add_observer("after_epoch", update_board)
    checkpointdir = os.path.join(settings.output, "checkpoints")
    save_model_config(checkpointdir, plan.network, plan.model_config, recipe=settings.recipe,
                      image_shape=list(context.image_shape), dataset=settings.dataset,
                      datasetdir=_absolute(settings.datasetdir))
    scheduler = None
    if settings.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(interface.optimizer,
                                                               T_max=settings.epochs)
    start = time.perf_counter()
    train_history, validation_history = interface.training(
        manager=manager, nb_epochs=settings.epochs, checkpointdir=checkpointdir,
        fold_index=0, with_validation=True, resume=settings.resume, scheduler=scheduler)
    wall_time = time.perf_counter() - start
    if settings.board:
        interface.board.close()
    histories = [train_history, validation_history]
    for history in histories:
        history.save(settings.output)
    csv_path = write_history_csv(os.path.join(settings.output, "history.csv"), histories)
    samples = [getattr(observer, "last_path", None) for _, observer in plan.observers]
    return {
        "dataset": settings.dataset, "epochs": settings.epochs,
        "train_samples": len(manager["train"][0]),
        "validation_samples": len(manager["validation"][0]),
        "wall_time_s": wall_time,
        "train": train_history.last(), "validation": validation_history.last(),
        "output": settings.output, "checkpoint": _latest(checkpointdir),
        "history_csv": csv_path, "samples": next((path for path in samples if path), None),
        "recipe": settings.recipe, "network": plan.network, **plan.summary,
    }


#: The run's configuration in the run folder.
CONFIG_FILE = "run.json"
def check_resumed_configuration(output: str, configuration: Dict[str, Any]) -> None:
    """Refuse to resume a run with other settings than its ``run.json``'s.

    Only the settings of :data:`~.settings.CHANGEABLE` (epochs, devices, display) may
    differ; nothing is written before this check.

    Parameters
    ----------
    output : str
        The run folder.
    configuration : dict
        The new run's configuration.

    Raises
    ------
    ValueError
        Naming each setting that differs, with both values.
    """
    path = os.path.join(output, CONFIG_FILE)
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as stream:
        try:
            saved = json.load(stream)
        except json.JSONDecodeError as error:
            raise ValueError(f"cannot read the run's configuration {path!r}: {error}") \
                from None
    changes = [f"{key} {json.dumps(saved.get(key))} -> {json.dumps(configuration.get(key))}"
               for key in sorted(set(saved) | set(configuration))
               if key not in CHANGEABLE and saved.get(key) != configuration.get(key)]
    if changes:
        raise ValueError(f"--resume would change the run of {output!r}: "
                         f"{', '.join(changes)}; keep its settings (in {CONFIG_FILE}) or "
                         "train into a new --output")


def fetch_dataset(name: str, datasetdir: Optional[str]) -> Any:
    """Fetch a data set: a short name of :data:`~.settings.DATASETS` or a registered
    fetcher's name, prepared in ``datasetdir``.

    Parameters
    ----------
    name : str
        The data set.
    datasetdir : str, optional
        Its folder (the fetcher's first argument); the embedded digits need none.

    Returns
    -------
    Item
        ``(input_path, output_path, metadata_path)``.
    """
    from ..registry import Fetchers

    fetcher_name = DATASETS.get(name, name)
    if not Fetchers.contains(fetcher_name):
        raise ValueError(f"--dataset {name!r} is neither one of {sorted(DATASETS)} nor a "
                         f"registered fetcher ({sorted(Fetchers.get_registry())})")
    if datasetdir is None:
        if name in ("mnist", "fashion-mnist"):
            raise ValueError(f"--dataset {name} needs --datasetdir DIR (where its files "
                             "are or will be downloaded)")
        return Fetchers.get(fetcher_name)()
    return Fetchers.get(fetcher_name)(datasetdir)


def image_shape(input_path: str) -> Tuple[int, ...]:
    """The shape of one image of an ``.npy`` of ``(N, channels, ...)`` images, without
    its channel axis when it has one channel."""
    import numpy as np

    shape = np.load(input_path, mmap_mode="r").shape
    if len(shape) < 3:
        raise ValueError(f"expected images of shape (N, channels, ...) in {input_path!r}, "
                         f"got {shape}")
    return tuple(int(side) for side in (shape[2:] if shape[1] == 1 else shape[1:]))


def write_history_csv(path: str, histories: List[Any]) -> str:
    """Write histories as one CSV table: split, fold, epoch, then one column per value."""
    from ..fileio import atomic_open

    names = sorted({name for history in histories for name in history.metrics})
    with atomic_open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["split", "fold", "epoch"] + names)
        for history in histories:
            series = {name: dict(zip(*history[name])) for name in history.metrics}
            for step in history.steps:
                fold, epoch = step if isinstance(step, tuple) else (0, step)
                writer.writerow([history.name, fold, epoch]
                                + [series.get(name, {}).get(step, "") for name in names])
    return path


def format_summary(summary: Dict[str, Any]) -> str:
    """The final report of ``pynet-cvae train``."""
    def values(split: str) -> str:
        return ", ".join(f"{name} {value:.4f}" for name, value in summary[split].items())

    lines = [
        f"Trained on {summary['dataset']} for {summary['epochs']} epochs "
        f"({summary['train_samples']} training / {summary['validation_samples']} "
        f"validation images) in {summary['wall_time_s']:.1f} s.",
        f"  recipe:           {summary['recipe']} ({summary['network']})"
        + ("" if summary.get("labelled") is None else
           f", {summary['labelled']} labelled training images"),
        f"  final train:      {values('train')}",
        f"  final validation: {values('validation')}",
        f"  checkpoint:       {summary['checkpoint']}",
        f"  histories:        {summary['history_csv']} (and train.json, validation.json)",
        f"  configuration:    {os.path.join(summary['output'], CONFIG_FILE)}"]
    if summary.get("samples"):
        lines.append(f"  sample grid:      {summary['samples']} (rows: conditions)")
    return "\n".join(lines)


def _latest(checkpointdir: str) -> Optional[str]:
    from ..checkpoint import latest_checkpoint

    return latest_checkpoint(checkpointdir)


def _absolute(path: Optional[str]) -> Optional[str]:
    return None if path is None else os.path.abspath(path)
