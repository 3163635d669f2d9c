"""``pynet-cvae train``: train a CVAE.

It trains the ``conditional`` recipe (``--model tutorial``: pynet's tutorial recipe;
see :mod:`pynet_cvae.plugins.cvae.recipes`) on the training split of a data set (by
default the handwritten digits embedded in scikit-learn, so it needs no network) and
writes to ``--output``:

- ``checkpoints/``: ``model_0_epoch_<e>.pth``, the initial state and
  ``model_config.json`` (what ``pynet-cvae sample`` and ``evaluate`` rebuild the model
  from);
- ``train.json``, ``validation.json`` (histories) and ``history.csv``;
- ``samples/sampling_fold0_epoch<e>.png``: one row per class, one column per latent
  vector, after each epoch;
- ``run.json``: the run's settings, which ``--resume`` compares (see
  :mod:`pynet_cvae.runs`: a folder holding another run is refused unless
  ``--resume`` or ``--overwrite``, and one process at a time writes a run).

One ``--seed`` seeds Python, NumPy and torch, the splits and the shuffling: two
identical commands write identical checkpoints. Under ``torchrun`` every process
trains its share and rank 0 writes the files and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .stopping import interrupted_run
from .types import (decay, fraction, non_negative_float, non_negative_int, positive_float,
                    positive_int, seed)

DATASETS = ("digits", "mnist", "fashion-mnist")
#: The recipes, architectures and unlabelled modes of the CVAE plugin (checked there).
RECIPES = ("conditional", "tutorial")
ARCHITECTURES = ("conv", "mlp")
UNLABELLED_MODES = ("marginal", "sample")
LR_SCHEDULES = ("constant", "cosine")
RUN_OUTPUTS = ("checkpoints", "samples", "train.json", "validation.json", "history.csv",
               "board.jsonl", "metadata_semi_supervised.tsv")
"""What a run writes in ``--output`` (``--overwrite`` removes these, nothing else)."""
RESUMABLE_SETTINGS = ("training",)
"""The sections of ``run.json`` that ``--resume`` may change (epochs, devices...)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    train = subparsers.add_parser(
        "train", help="train a conditional VAE (or the tutorial's)",
        description="Train a conditional VAE and write checkpoints, histories and "
                    "sample grids to --output.")
    train.add_argument("--dataset", choices=DATASETS, default="digits",
                       help="the data set (default: the embedded digits, no network)")
    train.add_argument("--datasetdir", default=None,
                       help="where mnist / fashion-mnist files are (or are downloaded to)")
    train.add_argument("--output", default="runs/cvae", help="the output directory")
    train.add_argument("--epochs", type=positive_int, default=20)
    train.add_argument("--batch-size", type=positive_int, default=64)
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                       help="the learning rate over the epochs: constant (default) or "
                            "cosine (from --learning-rate down to 0 at the last epoch)")
    add_model_arguments(train)
    train.add_argument("--folds", type=positive_int, default=10,
                       help="number of cross-validation folds; fold 0 is trained")
    train.add_argument("--sample-size", type=fraction, default=None,
                       help="fraction of the data used (default: 1 for digits, 0.5 "
                            "otherwise, as in the tutorial)")
    train.add_argument("--seed", type=seed, default=42)
    from .board import add_training_board_options

    add_training_board_options(train)
    train.add_argument("--quiet", action="store_true", help="print only the summary")
    train.add_argument("--resume", action="store_true",
                       help="continue from the last good checkpoint in --output (a fresh "
                            "start when there is none): the run ends as an uninterrupted "
                            "one; refused if a data, model or optimizer setting changed")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run --output holds (its files are removed first)")
    train.add_argument("--keep-last", type=non_negative_int, default=3, metavar="N",
                       help="keep the N latest checkpoints, and the one of lowest "
                            "validation loss (default 3; 0: every checkpoint)")
    train.add_argument("--early-stopping", type=positive_int, default=None,
                       metavar="PATIENCE", help="stop after PATIENCE epochs without a "
                                                "lower validation loss")
    train.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Train, then print the summary (rank 0 prints under ``torchrun``)."""
    from ..distributed import launched_rank

    summary = train(arguments)
    if launched_rank() == 0:
        print(format_summary(summary))
    return 0


def train(arguments: argparse.Namespace, observers: Sequence[Tuple[str, Any]] = ()
          ) -> Dict[str, Any]:
    """Train the CVAE as ``pynet-cvae train`` does; return a summary dict.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed ``train`` arguments.
    observers : sequence of (str, callable)
        More ``(signal, observer)`` pairs, attached after the command's own.
    """
    import torch

    from ..checkpointing import best_checkpoint
    from ..datasets import DataManager
    from ..datasets.transforms import Flatten
    from ..distributed import launched_rank
    from ..interfaces import DeepLearningInterface
    from ..loggers.csv import write_history_csv
    from ..observers import EarlyStopping
    from ..plugins.cvae import ConditionalSampler, DecodeLoss, save_model_config
    from ..plugins.cvae.recipes import build_recipe
    from ..runs import RunFolder
    from ..seeding import seed_everything

    if arguments.threads is not None:
        torch.set_num_threads(arguments.threads)
    seed_everything(arguments.seed)
    with_validation = arguments.folds > 1
    if arguments.early_stopping is not None and not with_validation:
        raise ValueError("--early-stopping watches the validation loss: it needs --folds "
                         "2 or more (--folds 1 trains on every image, without validation)")
    _check_split_arguments(arguments)
    data = fetch_dataset(arguments.dataset, arguments.datasetdir)
    sample_size = arguments.sample_size
    if sample_size is None:
        sample_size = 1.0 if arguments.dataset == "digits" else 0.5
    semi_supervised = ((arguments.labelled_per_class is not None
                        or arguments.labelled_fraction is not None)
                       and not arguments.labelled_only)
    image_shape = _image_shape(data.input_path)
    n_classes = _number_of_classes(data.metadata_path)
    recipe = build_recipe(arguments.model, image_shape[0] * image_shape[1], n_classes,
                          image_shape, semi_supervised=semi_supervised,
                          classifier_only=arguments.classifier_only,
                          **_model_options(arguments))
    writer = launched_rank() == 0
    folder = RunFolder(arguments.output, run_settings(arguments, recipe, sample_size),
                       resume=arguments.resume, overwrite=arguments.overwrite,
                       outputs=RUN_OUTPUTS, changeable=RESUMABLE_SETTINGS)
    with folder if writer else contextlib.nullcontext():
        with tempfile.TemporaryDirectory() as scratch:  # the other ranks' files
            splits, labelled = _training_splits(arguments, data, sample_size,
                                                arguments.output if writer else scratch)
            manager = DataManager(
                input_path=data.input_path, labels=["label"],
                number_of_folds=arguments.folds, batch_size=arguments.batch_size,
                test_size=0, input_transforms=[Flatten()], add_input=True,
                seed=arguments.seed, **splits)
        if isinstance(recipe.loss, DecodeLoss):  # its terms stand for the metrics VAELoss
            recipe.loss.return_terms = True      # and ClassificationLoss: not computed twice
        interface = DeepLearningInterface(
            model=recipe.model, optimizer_name="Adam", learning_rate=recipe.learning_rate,
            metrics=recipe.metrics, loss=recipe.loss, add_labels=recipe.add_labels,
            device=arguments.device, progress=False if arguments.quiet else None)
        for signal, observer in recipe.observers:
            interface.add_observer(signal, observer)
        if arguments.early_stopping is not None:
            interface.add_observer("after_epoch", EarlyStopping(
                monitor="val_loss", patience=arguments.early_stopping))
        sampler = ConditionalSampler(image_shape=image_shape,
                                     output_dir=os.path.join(arguments.output, "samples"))
        interface.add_observer("after_epoch", sampler)
        if arguments.board and writer:
            from ..plotting import update_board
            from .board import training_board
            interface.board = training_board(arguments, image_shape)
            interface.add_observer("after_epoch", update_board)
        for signal, observer in observers:
            interface.add_observer(signal, observer)
        checkpointdir = os.path.join(arguments.output, "checkpoints")
        if writer:
            save_model_config(checkpointdir, recipe.network, recipe.model_kwargs,
                              recipe=recipe.name, options=recipe.options,
                              image_shape=list(image_shape), dataset=arguments.dataset,
                              datasetdir=_absolute(arguments.datasetdir))
        scheduler = None
        if arguments.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(interface.optimizer,
                                                                   T_max=arguments.epochs)
        start = time.perf_counter()
        try:
            train_history, validation_history = interface.training(
                manager=manager, nb_epochs=arguments.epochs, checkpointdir=checkpointdir,
                fold_index=0, with_validation=with_validation, resume=arguments.resume,
                scheduler=scheduler, keep_last=arguments.keep_last or None,
                keep_best=with_validation)
        except KeyboardInterrupt as interruption:  # Ctrl-C, SIGTERM: say how to resume
            raise interrupted_run(interruption, checkpointdir,
                                  interface.last_checkpoint) from None
        wall_time = time.perf_counter() - start
        if arguments.board and writer:
            interface.board.close()
        if not with_validation:  # the interface returns an empty history, as pynet did
            validation_history = None
        histories = [history for history in (train_history, validation_history)
                     if history is not None]
        csv_path = os.path.join(arguments.output, "history.csv")
        if writer:
            for history in histories:
                history.save(arguments.output)
            write_history_csv(csv_path, histories)
    return {
        "dataset": arguments.dataset, "epochs": arguments.epochs,
        "epochs_run": len(train_history.steps),
        "train_samples": len(manager["train"][0]),
        "validation_samples": len(manager["validation"][0] or ()),
        "wall_time_s": wall_time,
        "train": train_history.last(),
        "validation": None if validation_history is None else validation_history.last(),
        "output": arguments.output, "checkpoint": _latest(checkpointdir),
        "best_checkpoint": best_checkpoint(checkpointdir, validation_history),
        "history_csv": csv_path, "samples": sampler.last_path,
        "history_files": [f"{history.name}.json" for history in histories],
        "model": recipe.name, "network": recipe.network,
        "labelled": labelled,
    }


def run_settings(arguments: argparse.Namespace, recipe: Any, sample_size: float
                 ) -> Dict[str, Any]:
    """The settings of a run (``run.json``), by section: ``data``, ``model`` and
    ``optimizer`` must stay the same on ``--resume``, ``training`` may change."""
    cosine = arguments.lr_schedule == "cosine"
    return {
        "data": {"dataset": arguments.dataset, "datasetdir": _absolute(arguments.datasetdir),
                 "sample_size": sample_size, "folds": arguments.folds,
                 "seed": arguments.seed, "batch_size": arguments.batch_size,
                 **{name: getattr(arguments, name) for name in (
                     "labelled_per_class", "labelled_fraction", "labelled_per_batch",
                     "labelled_only")}},
        "model": {"recipe": recipe.name, "network": recipe.network,
                  "classifier_only": arguments.classifier_only,
                  **{key: value for key, value in recipe.options.items()
                     if key != "learning_rate"}},
        "optimizer": {"name": "Adam", "learning_rate": recipe.learning_rate,
                      "lr_schedule": arguments.lr_schedule,
                      "schedule_epochs": arguments.epochs if cosine else None},
        "training": {"epochs": arguments.epochs, "early_stopping": arguments.early_stopping,
                     "keep_last": arguments.keep_last, "device": arguments.device,
                     "threads": arguments.threads},
    }


def fetch_dataset(name: str, datasetdir: Optional[str]) -> Any:
    """Fetch ``name`` (one of :data:`DATASETS`) into ``datasetdir``."""
    from ..datasets import fetch_digits, fetch_fashion_mnist, fetch_minst

    if name == "digits":
        return fetch_digits(datasetdir)
    if datasetdir is None:
        raise ValueError(f"--dataset {name} needs --datasetdir DIR (where its files are "
                         "or will be downloaded)")
    return fetch_minst(datasetdir) if name == "mnist" else fetch_fashion_mnist(datasetdir)


def format_summary(summary: Dict[str, Any]) -> str:
    """The final report of ``pynet-cvae train``."""
    def values(split: str) -> str:
        if summary[split] is None:
            return "none (--folds 1: every image trains)"
        return ", ".join(f"{name} {value:.4f}" for name, value in summary[split].items())

    epochs = f"{summary['epochs']} epochs"
    if summary.get("epochs_run", summary["epochs"]) < summary["epochs"]:
        epochs = f"{summary['epochs_run']} of {epochs} (stopped early)"
    best = summary.get("best_checkpoint")
    return "\n".join([
        f"Trained the CVAE on {summary['dataset']} for {epochs} "
        f"({summary['train_samples']} training / {summary['validation_samples']} "
        f"validation images) in {summary['wall_time_s']:.1f} s.",
        f"  model:            {summary['model']} recipe ({summary['network']})"
        + ("" if summary.get("labelled") is None else
           f", {summary['labelled']} labelled training images"),
        f"  final train:      {values('train')}",
        f"  final validation: {values('validation')}",
        f"  checkpoint:       {summary['checkpoint']}"
        + ("" if best is None or best == summary["checkpoint"] else
           f" (lowest validation loss: {best})"),
        f"  histories:        {summary['history_csv']} (and "
        f"{', '.join(summary.get('history_files', ['train.json', 'validation.json']))})",
        f"  sample grid:      {summary['samples']} (rows: classes)",
    ])


def _image_shape(input_path: str) -> tuple:
    import numpy as np

    shape = np.load(input_path, mmap_mode="r").shape
    if len(shape) != 4 or shape[1] != 1:
        raise ValueError(f"expected gray images of shape (N, 1, H, W) in {input_path!r}, "
                         f"got {shape}")
    return int(shape[2]), int(shape[3])


def _number_of_classes(metadata_path: str) -> int:
    import pandas as pd

    labels = pd.read_csv(metadata_path, sep="\t", usecols=["label"])["label"]
    return int(labels.max()) + 1


def _latest(checkpointdir: str) -> Optional[str]:
    from ..checkpoint import latest_checkpoint

    return latest_checkpoint(checkpointdir)


# ---------------------------------------------------------------------- model options
def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the model options (see :mod:`pynet_cvae.plugins.cvae.recipes`).

    The choices are spelt here so that building the parser does not import torch;
    the recipe checks them again.
    """
    group = parser.add_argument_group(
        "model", "The recipe and its options; an unset option takes the recipe's default "
                 "(see pynet_cvae.plugins.cvae.recipes.RECIPE_DEFAULTS).")
    group.add_argument("--model", choices=RECIPES, default="conditional",
                       help="'conditional': encoder conditioned on the class, consistency "
                            "term, labels optional (default); 'tutorial': pynet's "
                            "tutorial recipe unchanged")
    group.add_argument("--hidden-dim", type=positive_int, default=None,
                       help="hidden units (default 512 / tutorial 128)")
    group.add_argument("--latent-dim", type=positive_int, default=None,
                       help="latent dimension (default 20)")
    group.add_argument("--learning-rate", type=positive_float, default=None,
                       help="Adam's learning rate (default 0.003 / tutorial 0.001)")
    group.add_argument("--classification-weight", type=non_negative_float, default=None,
                       help="weight of the classifier's cross-entropy (default 10)")
    group.add_argument("--architecture", choices=ARCHITECTURES, default=None,
                       help="conditional: convolutional (default) or dense networks")
    group.add_argument("--separate-classifier", action="store_true",
                       help="conditional: the classifier gets its own trunk instead of "
                            "sharing the encoder's")
    group.add_argument("--consistency-weight", type=non_negative_float, default=None,
                       help="conditional: weight of the frozen classifier's cross-entropy "
                            "on decoded prior samples (default 1; 0: off)")
    group.add_argument("--consistency-samples", type=positive_int, default=None,
                       help="conditional: prior samples per batch for that term (default "
                            "64)")
    group.add_argument("--kl-warmup", type=non_negative_int, default=None, metavar="EPOCHS",
                       help="conditional: raise the KL weight from 0 to 1 over EPOCHS")
    group.add_argument("--temperature", type=positive_float, default=None,
                       help="conditional: Gumbel-softmax temperature of sampled classes")
    group.add_argument("--temperature-end", type=positive_float, default=None,
                       help="conditional: anneal the temperature to this value ...")
    group.add_argument("--temperature-epochs", type=positive_int, default=None,
                       help="... over this many epochs (default 10)")
    group.add_argument("--unlabelled", choices=UNLABELLED_MODES, default=None,
                       help="conditional: unlabelled images sum every class under q(y|x) "
                            "('marginal', default) or sample one ('sample')")
    group.add_argument("--pseudo-labels", action="store_true",
                       help="conditional, semi-supervised: also train the classifier on "
                            "pseudo-labels of augmented unlabelled images (FixMatch)")
    group.add_argument("--pseudo-label-threshold", type=fraction, default=None,
                       help="conditional: confidence a guess needs to become a target "
                            "(default 0.95)")
    group.add_argument("--pseudo-label-weight", type=non_negative_float, default=None,
                       help="conditional: weight of the pseudo-label cross-entropy "
                            "(default 10)")
    group.add_argument("--augment-flip", action="store_true",
                       help="conditional: mirror the augmented views at random (clothes, "
                            "not digits)")
    group.add_argument("--classifier-without-elbo", action="store_true",
                       help="conditional, semi-supervised: the ELBO of unlabelled images does "
                            "not train the classifier (labels and pseudo-labels do)")
    group.add_argument("--classifier-average", type=decay, default=None, metavar="DECAY",
                       help="conditional: classify with an exponential moving average of "
                            "the classifier's weights of this decay, e.g. 0.999 (default 0: "
                            "the live weights)")
    labels = group.add_mutually_exclusive_group()
    labels.add_argument("--labelled-per-class", type=positive_int, default=None,
                        help="semi-supervised: keep the labels of this many training "
                             "images per class, hide the others")
    labels.add_argument("--labelled-fraction", type=fraction, default=None,
                        help="semi-supervised: keep this fraction of the training labels")
    group.add_argument("--labelled-per-batch", type=positive_int, default=None,
                       help="semi-supervised: labelled images in every training batch, the "
                            "rest unlabelled (default: a third of --batch-size)")
    group.add_argument("--labelled-only", action="store_true",
                       help="semi-supervised baseline: train on the labelled images alone")
    group.add_argument("--classifier-only", action="store_true",
                       help="baseline: train the classifier alone (cross-entropy only)")
    group.add_argument("--threads", type=positive_int, default=None,
                       help="torch threads (default: torch's choice)")
    group.add_argument("--device", default="cpu",
                       help="cpu, cuda, cuda:N, mps or auto (default cpu)")


def _model_options(arguments: argparse.Namespace) -> Dict[str, Any]:
    """The recipe options given on the command line (None: the recipe's default)."""
    options = {name: getattr(arguments, name) for name in (
        "hidden_dim", "latent_dim", "learning_rate", "classification_weight", "architecture",
        "consistency_weight", "consistency_samples", "kl_warmup", "temperature",
        "temperature_end", "temperature_epochs", "unlabelled", "pseudo_label_threshold",
        "pseudo_label_weight", "classifier_average")}
    options["shared_trunk"] = False if arguments.separate_classifier else None
    options["pseudo_labels"] = True if arguments.pseudo_labels else None
    options["augment_flip"] = True if arguments.augment_flip else None
    options["elbo_trains_classifier"] = False if arguments.classifier_without_elbo else None
    return options


def _check_split_arguments(arguments: argparse.Namespace) -> None:
    """Refuse the semi-supervised options that do not go together."""
    if arguments.labelled_per_class is None and arguments.labelled_fraction is None:
        for option, value in (("--labelled-only", arguments.labelled_only),
                              ("--labelled-per-batch", arguments.labelled_per_batch)):
            if value:
                raise ValueError(f"{option} needs --labelled-per-class or "
                                 "--labelled-fraction (which labels to keep)")
        return
    if arguments.folds != 10:
        raise ValueError("--folds does not apply to semi-supervised training: it keeps "
                         "10% of the kept training images, labelled, for validation")
    if arguments.labelled_only and arguments.labelled_per_batch is not None:
        raise ValueError("--labelled-per-batch mixes labelled and unlabelled images: it "
                         "does not apply with --labelled-only")
    if not arguments.labelled_only:
        labelled_per_batch(arguments.labelled_per_batch, arguments.batch_size)


def _training_splits(arguments: argparse.Namespace, data: Any, sample_size: float,
                     folder: str) -> Tuple[Dict[str, Any], Optional[int]]:
    """The DataManager arguments choosing the training rows, and the number of labelled
    training images when labels are hidden (semi-supervised training: the table with
    the hidden labels is written in ``folder``).

    Only the data set's training split trains and validates: its test split is for
    ``pynet-cvae evaluate``.
    """
    from ..plugins.cvae.semisupervised import (
        LABELLED_ONLY, MISSING_LABEL, TRAIN_VALIDATION, hide_labels)

    if arguments.labelled_per_class is None and arguments.labelled_fraction is None:
        return {"metadata_path": data.metadata_path, "stratify_label": "label",
                "projection_labels": {"split": "train"}, "sample_size": sample_size}, None
    hidden = hide_labels(
        data.metadata_path, os.path.join(folder, "metadata_semi_supervised.tsv"),
        labelled_per_class=arguments.labelled_per_class,
        labelled_fraction=arguments.labelled_fraction, sample_size=sample_size,
        seed=arguments.seed)
    splits = {"metadata_path": hidden.metadata_path, "missing_label": MISSING_LABEL,
              "custom_stratification": TRAIN_VALIDATION}
    if arguments.labelled_only:
        splits["custom_stratification"] = LABELLED_ONLY
    else:
        splits["labelled_per_batch"] = labelled_per_batch(arguments.labelled_per_batch,
                                                          arguments.batch_size)
    return splits, hidden.labelled


def labelled_per_batch(requested: Optional[int], batch_size: int) -> int:
    """The labelled images of each semi-supervised batch: ``requested``, by default a
    third of the batch (at least 1)."""
    if requested is None:
        return max(1, batch_size // 3)
    if requested >= batch_size:
        raise ValueError(f"--labelled-per-batch {requested} leaves no room for unlabelled "
                         f"images in batches of --batch-size {batch_size}: expected at most "
                         f"{batch_size - 1}")
    return requested


def _absolute(path: Optional[str]) -> Optional[str]:
    return None if path is None else os.path.abspath(path)

