"""A small training run for the distributed tests, launched by ``torchrun`` (or alone).

Run as ``python -m tests.distributed_worker OUTDIR --batch-size B --epochs E
[--checkpoints DIR] [--resume]`` from the repository root, under ``torchrun
--nproc_per_node=N`` or as one plain process. It trains a small MLP classifier
(deterministic: no dropout) with Adam on a fixed synthetic data set of 96 training
and 40 validation samples, a shuffling sampler and a metric, and every process
writes ``OUTDIR/rank<r>.pt``: the final weights, the histories, the number of
training batches it ran and the signals its observers received (``once``: a
:func:`~pynet_cvae.observable.rank_zero_only` observer of ``after_epoch``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

import numpy as np
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.observable import rank_zero_only

N_TRAIN, N_VALIDATION, N_FEATURES, N_CLASSES = 96, 40, 8, 3


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The fraction of correct classes."""
    return (logits.argmax(dim=1) == labels).float().mean()


def make_manager(batch_size: int) -> DataManager:
    """The same data set every time."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_TRAIN + N_VALIDATION, N_FEATURES)).astype("float32")
    y = ((x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)).astype("int64")
    return DataManager.from_numpy(
        train_inputs=x[:N_TRAIN], train_labels=y[:N_TRAIN],
        validation_inputs=x[N_TRAIN:], validation_labels=y[N_TRAIN:],
        batch_size=batch_size, sampler="random", seed=7)


def make_interface(seed: int = 0, **options: Any) -> DeepLearningInterface:
    """The classifier, seeded alike in every process."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, N_CLASSES))
    return DeepLearningInterface(model=model, optimizer_name="Adam", learning_rate=0.05,
                                 loss_name="CrossEntropyLoss", metrics=[accuracy],
                                 progress=False, **options)


class BatchCounter:
    """Counts the training batches (a ``regularizer`` observer, adding nothing)."""

    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, signal: Any) -> None:
        self.batches += 1


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--checkpoints")
    parser.add_argument("--resume", action="store_true")
    arguments = parser.parse_args(argv)
    interface = make_interface()
    counter = BatchCounter()
    signals: List[str] = []
    interface.add_observer("regularizer", counter)
    interface.add_observer("before_epoch", lambda signal: signals.append("before_epoch"))
    interface.add_observer("after_epoch", lambda signal: signals.append("after_epoch"))
    interface.add_observer("after_epoch", rank_zero_only(
        lambda signal: signals.append("once")))
    train, validation = interface.training(
        make_manager(arguments.batch_size), nb_epochs=arguments.epochs,
        checkpointdir=arguments.checkpoints, resume=arguments.resume)
    rank = interface.distributed.rank if interface.distributed is not None else 0
    result: Dict[str, Any] = {
        "weights": interface.model.state_dict(), "train": train.to_dict(),
        "validation": validation.to_dict(), "batches": counter.batches,
        "signals": signals,
        "world_size": 1 if interface.distributed is None else interface.distributed.world_size,
        "wrapped": interface.parallel_model is not None}
    os.makedirs(arguments.outdir, exist_ok=True)
    torch.save(result, os.path.join(arguments.outdir, f"rank{rank}.pt"))


if __name__ == "__main__":
    main()
