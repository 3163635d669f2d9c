"""``pynet-cvae train``: train the tutorial's CVAE.

It trains the tutorial's CVAE (by default on the handwritten digits
embedded in scikit-learn, so it needs no network) and writes to ``--output``:

- ``checkpoints/``: ``model_0_epoch_<e>.pth`` and the initial state;
- ``train.json``, ``validation.json`` (histories) and ``history.csv``;
- ``samples/sampling_fold0_epoch<e>.png``: one row per class, one column per latent
  vector, after each epoch.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from typing import Any, Dict, List, Optional

from .types import fraction, positive_float, positive_int

DATASETS = ("digits", "mnist", "fashion-mnist")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    train = subparsers.add_parser(
        "train", help="train the tutorial's CVAE",
        description="Train the tutorial's CVAE and write checkpoints, histories and "
                    "sample grids to --output.")
    train.add_argument("--dataset", choices=DATASETS, default="digits",
                       help="the data set (default: the embedded digits, no network)")
    train.add_argument("--datasetdir", default=None,
                       help="where mnist / fashion-mnist files are (or are downloaded to)")
    train.add_argument("--output", default="runs/cvae", help="the output directory")
    train.add_argument("--epochs", type=positive_int, default=20)
    train.add_argument("--batch-size", type=positive_int, default=64)
    train.add_argument("--hidden-dim", type=positive_int, default=128)
    train.add_argument("--latent-dim", type=positive_int, default=20)
    train.add_argument("--learning-rate", type=positive_float, default=1e-3)
    train.add_argument("--classification-weight", type=float, default=10.0)
    train.add_argument("--folds", type=positive_int, default=10,
                       help="number of cross-validation folds; fold 0 is trained")
    train.add_argument("--sample-size", type=fraction, default=None,
                       help="fraction of the data used (default: 1 for digits, 0.5 "
                            "otherwise, as in the tutorial)")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--board", action="store_true",
                       help="stream the curves and samples to Visdom")
    train.add_argument("--port", type=int, default=8097, help="the Visdom port")
    train.add_argument("--host", default="http://localhost", help="the Visdom host")
    train.add_argument("--env", default="cvae", help="the Visdom environment")
    train.add_argument("--quiet", action="store_true", help="print only the summary")
    train.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Train, then print the summary."""
    print(format_summary(train(arguments)))
    return 0


def train(arguments: argparse.Namespace) -> Dict[str, Any]:
    """Train the CVAE as ``pynet-cvae train`` does; return a summary dict."""
    import torch

    from ..datasets import DataManager
    from ..datasets.transforms import Flatten
    from ..interfaces import DeepLearningInterface
    from ..plugins.cvae import CVAE, ClassificationLoss, ConditionalSampler, DecodeLoss, VAELoss

    torch.manual_seed(arguments.seed)
    data = fetch_dataset(arguments.dataset, arguments.datasetdir)
    sample_size = arguments.sample_size
    if sample_size is None:
        sample_size = 1.0 if arguments.dataset == "digits" else 0.5
    manager = DataManager(
        input_path=data.input_path, metadata_path=data.metadata_path, labels=["label"],
        stratify_label="label", number_of_folds=arguments.folds,
        batch_size=arguments.batch_size, test_size=0, input_transforms=[Flatten()],
        add_input=True, sample_size=sample_size, seed=arguments.seed)
    image_shape = _image_shape(data.input_path)
    n_classes = _number_of_classes(data.metadata_path)
    model = CVAE(input_dim=image_shape[0] * image_shape[1], hidden_dim=arguments.hidden_dim,
                 latent_dim=arguments.latent_dim, n_classes=n_classes)
    interface = DeepLearningInterface(
        model=model, optimizer_name="Adam", learning_rate=arguments.learning_rate,
        metrics=[ClassificationLoss(), VAELoss()],
        loss=DecodeLoss(classification_weight=arguments.classification_weight),
        progress=False if arguments.quiet else None)
    sampler = ConditionalSampler(image_shape=image_shape,
                                 output_dir=os.path.join(arguments.output, "samples"))
    interface.add_observer("after_epoch", sampler)
    if arguments.board:
        from .plotting import Board, update_board
        interface.board = Board(port=arguments.port, host=arguments.host, env=arguments.env)
        interface.add_observer("after_epoch", update_board)
    checkpointdir = os.path.join(arguments.output, "checkpoints")
    start = time.perf_counter()
    train_history, validation_history = interface.training(
        manager=manager, nb_epochs=arguments.epochs, checkpointdir=checkpointdir,
        fold_index=0, with_validation=True)
    wall_time = time.perf_counter() - start
    histories = [train_history, validation_history]
    for history in histories:
        history.save(arguments.output)
    csv_path = write_history_csv(os.path.join(arguments.output, "history.csv"), histories)
    return {
        "dataset": arguments.dataset, "epochs": arguments.epochs,
        "train_samples": len(manager["train"][0]),
        "validation_samples": len(manager["validation"][0]),
        "wall_time_s": wall_time,
        "train": train_history.last(), "validation": validation_history.last(),
        "output": arguments.output, "checkpoint": _latest(checkpointdir),
        "history_csv": csv_path, "samples": sampler.last_path,
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

    return "\n".join([
        f"Trained the CVAE on {summary['dataset']} for {summary['epochs']} epochs "
        f"({summary['train_samples']} training / {summary['validation_samples']} "
        f"validation images) in {summary['wall_time_s']:.1f} s.",
        f"  final train:      {values('train')}",
        f"  final validation: {values('validation')}",
        f"  checkpoint:       {summary['checkpoint']}",
        f"  histories:        {summary['history_csv']} (and train.json, validation.json)",
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
