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
  sample``, ``evaluate`` and ``export`` rebuild the model from);
- ``train.json``, ``validation.json`` (histories) and ``history.csv``;
- what the recipe's observers write (the CVAE recipes: ``samples/``, one sample grid
  per epoch);
- with ``--logger``, the loggers' records: ``tensorboard/``, ``mlruns/``
  (:mod:`pynet_cvae.commands.tracking`).

The folder is a run folder (:mod:`pynet_cvae.runs`): one holding another run is
refused unless ``--resume`` (which first compares the settings with its ``run.json``:
only those of :data:`~.settings.CHANGEABLE` may change) or ``--overwrite``, and one
process at a time writes a run. One ``--seed`` seeds Python, NumPy and torch, the
splits and the shuffling: two identical commands write identical checkpoints. Under
``torchrun`` every process trains its share and rank 0 writes the files and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from typing import Any, Dict, Optional, Sequence, Tuple

from .settings import CHANGEABLE, DATASETS
from .stopping import interrupted_run
from .tracking import FOLDERS

RUN_OUTPUTS = ("checkpoints", "samples", "train.json", "validation.json", "history.csv",
               "board.jsonl", "metadata_semi_supervised.tsv", "metadata_condition.tsv",
               "export", *FOLDERS.values())
"""What a run writes in ``--output`` (``--overwrite`` removes these, nothing else)."""


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
    """Parse the ``train`` arguments, train, then print the summary (rank 0 prints
    under ``torchrun``)."""
    from ..cli import configure_logging
    from ..distributed import launched_rank
    from .settings import parse_train_arguments

    parser, namespace = parse_train_arguments(arguments.arguments)
    if not namespace.quiet:
        configure_logging()
    summary = train(parser, namespace)
    if launched_rank() == 0:
        print(format_summary(summary))
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

    from ..checkpointing import best_checkpoint
    from ..datasets import DataManager
    from ..distributed import launched_rank
    from ..interfaces import DeepLearningInterface
    from ..loggers.csv import write_history_csv
    from ..observers import EarlyStopping
    from ..recipes import DataContext
    from ..registry import Recipes
    from ..runs import RunFolder
    from ..seeding import seed_everything
    from ..trained import save_model_config
    from .settings import configuration_dict, model_fields_of, options_of, settings_of
    from .tracking import make_loggers

    settings = settings_of(namespace)
    recipe = Recipes.get(settings.recipe)()
    options = options_of(namespace, recipe.options_class)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    with_validation = settings.folds > 1
    data = fetch_dataset(settings.dataset, settings.datasetdir)
    sample_size = settings.sample_size
    if sample_size is None:
        sample_size = 1.0 if settings.dataset in ("digits", "thick-digits") else 0.5
    writer = launched_rank() == 0
    configuration = configuration_dict(parser, namespace)
    # made before the folder is touched: a missing package stops the command there
    loggers = make_loggers(settings.logger, settings.output, image_shape(data.input_path),
                           configuration, mlflow_uri=settings.mlflow_uri,
                           mlflow_experiment=settings.mlflow_experiment) if writer else []
    folder = RunFolder(settings.output, configuration,
                       resume=settings.resume, overwrite=settings.overwrite,
                       outputs=RUN_OUTPUTS, changeable=resumable_settings(settings))
    with folder if writer else contextlib.nullcontext(), contextlib.ExitStack() as closing:
        with tempfile.TemporaryDirectory() as scratch:  # the other ranks' files
            context = DataContext(
                input_path=data.input_path, metadata_path=data.metadata_path,
                image_shape=image_shape(data.input_path),
                output=settings.output if writer else scratch, seed=settings.seed,
                batch_size=settings.batch_size, folds=settings.folds,
                sample_size=sample_size)
            plan = recipe.build(options, model_fields_of(namespace), context,
                                settings.network)
            manager = DataManager(input_path=data.input_path,
                                  number_of_folds=settings.folds,
                                  batch_size=settings.batch_size, seed=settings.seed,
                                  **plan.manager_arguments)
        interface = DeepLearningInterface(
            model=plan.model, optimizer_name=settings.optimizer,
            learning_rate=settings.learning_rate, metrics=plan.metrics, loss=plan.loss,
            add_labels=plan.add_labels, device=settings.device,
            progress=False if settings.quiet else None)
        interface.named_epochs = True  # fold 0, epoch 3/20: what users read
        for signal, observer in plan.observers:
            interface.add_observer(signal, observer)
        if settings.early_stopping is not None:
            interface.add_observer("after_epoch", EarlyStopping(
                monitor="val_loss", patience=settings.early_stopping))
        if settings.board and writer:
            from ..plotting import update_board
            from .board import training_board
            interface.board = training_board(settings, context.image_shape)
            interface.add_observer("after_epoch", update_board)
        for signal, observer in observers:
            interface.add_observer(signal, observer)
        for logger in loggers:
            interface.add_logger(closing.enter_context(logger))
        checkpointdir = os.path.join(settings.output, "checkpoints")
        if writer:
            save_model_config(checkpointdir, plan.network, plan.model_config,
                              recipe=settings.recipe, image_shape=list(context.image_shape),
                              dataset=settings.dataset,
                              datasetdir=_absolute(settings.datasetdir))
        scheduler = None
        if settings.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(interface.optimizer,
                                                                   T_max=settings.epochs)
        start = time.perf_counter()
        try:
            train_history, validation_history = interface.training(
                manager=manager, nb_epochs=settings.epochs, checkpointdir=checkpointdir,
                fold_index=0, with_validation=with_validation, resume=settings.resume,
                scheduler=scheduler, keep_last=settings.keep_last or None,
                keep_best=with_validation)
        except KeyboardInterrupt as interruption:  # Ctrl-C, SIGTERM: say how to resume
            raise interrupted_run(interruption, checkpointdir,
                                  interface.last_checkpoint) from None
        wall_time = time.perf_counter() - start
        if settings.board and writer:
            interface.board.close()
        if not with_validation:  # the interface returns an empty history, as pynet did
            validation_history = None
        histories = [history for history in (train_history, validation_history)
                     if history is not None]
        csv_path = os.path.join(settings.output, "history.csv")
        if writer:
            for history in histories:
                history.save(settings.output)
            write_history_csv(csv_path, histories)
    samples = [getattr(observer, "last_path", None) for _, observer in plan.observers]
    return {
        "dataset": settings.dataset, "epochs": settings.epochs,
        "epochs_run": len(train_history.steps),
        "train_samples": len(manager["train"][0]),
        "validation_samples": len(manager["validation"][0] or ()),
        "wall_time_s": wall_time,
        "train": train_history.last(),
        "validation": None if validation_history is None else validation_history.last(),
        "output": settings.output, "checkpoint": _latest(checkpointdir),
        "best_checkpoint": best_checkpoint(checkpointdir, validation_history),
        "history_csv": csv_path, "samples": next((path for path in samples if path), None),
        "history_files": [f"{history.name}.json" for history in histories],
        "recipe": settings.recipe, "network": plan.network, "loggers": settings.logger,
        "mlflow_uri": settings.mlflow_uri, "mlflow_experiment": settings.mlflow_experiment,
        "mlflow_run": next((tracker.run_url(0) for tracker in loggers
                            if hasattr(tracker, "run_url")), None),
        **plan.summary,
    }


def resumable_settings(settings: Any) -> Tuple[str, ...]:
    """The settings ``--resume`` may change: :data:`~.settings.CHANGEABLE`, but the
    epochs when the cosine schedule reaches 0 at the last one (its length)."""
    if settings.lr_schedule == "cosine":
        return tuple(name for name in CHANGEABLE if name != "epochs")
    return CHANGEABLE


def fetch_dataset(name: str, datasetdir: Optional[str]) -> Any:
    """Fetch a data set: a short name of :data:`~.settings.DATASETS` or a registered
    fetcher's name, prepared in ``datasetdir``.

    Parameters
    ----------
    name : str
        The data set, or a participants table (``.tsv``) of NIfTI images.
    datasetdir : str, optional
        Its folder (the fetcher's first argument; for a table, where its converted
        files go, by default beside it); the embedded digits need none.

    Returns
    -------
    Item
        ``(input_path, output_path, metadata_path)``.
    """
    from ..registry import Fetchers

    if name.lower().endswith(".tsv"):
        from ..datasets.participants import fetch_participants, image_column_of

        return fetch_participants(name, image_column_of(name), datasetdir=datasetdir)
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


def format_summary(summary: Dict[str, Any]) -> str:
    """The final report of ``pynet-cvae train``."""
    from ..reporting import wrapped
    from ..runs import CONFIG_FILE
    from .tracking import logger_lines

    def values(split: str) -> str:
        head = f"  final {split}:".ljust(20)
        if summary[split] is None:
            return head + "none (--folds 1: every image trains)"
        return wrapped(head, [f"{name} {value:.4f}" for name, value in
                              summary[split].items()], separator=", ")

    epochs = f"{summary['epochs']} epochs"
    if summary.get("epochs_run", summary["epochs"]) < summary["epochs"]:
        epochs = f"{summary['epochs_run']} of {epochs} (stopped early)"
    best = summary.get("best_checkpoint")
    lines = [
        f"Trained on {summary['dataset']} for {epochs} "
        f"({summary['train_samples']} training / {summary['validation_samples']} "
        f"validation images) in {summary['wall_time_s']:.1f} s.",
        f"  recipe:           {summary['recipe']} ({summary['network']})"
        + ("" if summary.get("labelled") is None else
           f", {summary['labelled']} labelled training images"),
        values("train"),
        values("validation"),
        f"  checkpoint:       {summary['checkpoint']}"]
    if best is not None and best != summary["checkpoint"]:
        lines.append(f"  lowest val. loss: {best}")
    lines += [
        f"  histories:        {summary['history_csv']} (and "
        f"{', '.join(summary.get('history_files', ['train.json', 'validation.json']))})",
        f"  configuration:    {os.path.join(summary['output'], CONFIG_FILE)}"]
    if summary.get("samples"):
        lines.append(f"  sample grid:      {summary['samples']} (rows: conditions)")
    lines += logger_lines(summary.get("loggers", ()), summary["output"],
                          summary.get("mlflow_uri"), summary.get("mlflow_experiment"),
                          summary.get("mlflow_run"))
    return "\n".join(lines)


def _latest(checkpointdir: str) -> Optional[str]:
    from ..checkpoint import latest_checkpoint

    return latest_checkpoint(checkpointdir)


def _absolute(path: Optional[str]) -> Optional[str]:
    return None if path is None else os.path.abspath(path)
