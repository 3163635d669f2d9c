"""A small but complete training run, used by the resume tests in-process and as a
child process that the tests kill with SIGKILL.

It has everything whose state a resumed run must restore: two folds, a shuffling
sampler, dropout (torch's generator), Adam, a scheduler, an EarlyStopping observer
and an observer that draws from Python's and NumPy's generators.

Run as ``python -m tests.resume_worker OUTDIR [--resume]`` from the repository root:
it prints ``ready`` once imported and ``epoch <fold> <epoch>`` after each epoch (just
before its checkpoint), trains with checkpoints in ``OUTDIR/checkpoints`` and writes
the final weights and histories to ``OUTDIR/final``.
"""

from __future__ import annotations

import json
import os
import random
import sys
from typing import Any, Dict, Tuple

import numpy as np
import pandas as pd
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.fileio import atomic_open, atomic_write_text
from pynet_cvae.history import History
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.observers import EarlyStopping
from pynet_cvae.seeding import seed_everything

N_SAMPLES, N_FEATURES, N_CLASSES = 600, 12, 3
NB_EPOCHS, NUMBER_OF_FOLDS = 8, 2


class NoisyObserver:
    """Draws from Python's and NumPy's global generators after every epoch."""

    def __init__(self) -> None:
        self.draws: list = []

    def __call__(self, signal: Any) -> None:
        self.draws.append(random.random() + float(np.random.rand()))

    def state_dict(self) -> Dict[str, Any]:
        return {"draws": list(self.draws)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.draws = list(state["draws"])


def write_data(directory: str) -> Tuple[str, str]:
    """The same synthetic classification data set every time, as .npy and TSV."""
    inputs = os.path.join(directory, "inputs.npy")
    metadata = os.path.join(directory, "metadata.tsv")
    if not os.path.isfile(metadata):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype("float32")
        y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
        with atomic_open(inputs, "wb") as stream:
            np.save(stream, x)
        atomic_write_text(metadata, pd.DataFrame({"label": y}).to_csv(sep="\t", index=False))
    return inputs, metadata


def build(directory: str) -> Tuple[DeepLearningInterface, DataManager, Any, Dict[str, Any]]:
    """The interface, manager, scheduler and observers of the run."""
    inputs, metadata = write_data(os.path.join(directory, "data"))
    seed_everything(11)  # the initial weights
    manager = DataManager(input_path=inputs, metadata_path=metadata, labels=["label"],
                          stratify_label="label", number_of_folds=NUMBER_OF_FOLDS,
                          batch_size=16, test_size=0, seed=3)
    model = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3),
        torch.nn.Linear(32, N_CLASSES))
    interface = DeepLearningInterface(model=model, optimizer_name="Adam", learning_rate=0.01,
                                      loss_name="CrossEntropyLoss", progress=False)
    scheduler = torch.optim.lr_scheduler.StepLR(interface.optimizer, step_size=2, gamma=0.7)
    observers = {"stopper": EarlyStopping(monitor="val_loss", patience=50),
                 "noisy": NoisyObserver()}
    interface.add_observer("after_epoch", observers["stopper"])
    interface.add_observer("after_epoch", observers["noisy"])
    return interface, manager, scheduler, observers


def train(directory: str, resume: bool, **options: Any) -> Tuple[DeepLearningInterface,
                                                                   History, History,
                                                                   Dict[str, Any]]:
    """Train (or resume) with checkpoints in ``directory/checkpoints``."""
    interface, manager, scheduler, observers = build(directory)
    train_history, validation_history = interface.training(
        manager, nb_epochs=NB_EPOCHS, checkpointdir=os.path.join(directory, "checkpoints"),
        scheduler=scheduler, resume=resume, seed=5, **options)
    return interface, train_history, validation_history, observers


def write_final(directory: str, interface: DeepLearningInterface, train_history: History,
                validation_history: History, observers: Dict[str, Any]) -> None:
    """Write what a finished run ends with, for comparison."""
    final = os.path.join(directory, "final")
    with atomic_open(os.path.join(final, "weights.pth"), "wb") as stream:
        torch.save(interface.model.state_dict(), stream)
    atomic_write_text(os.path.join(final, "state.json"), json.dumps({
        "train": train_history.to_dict(), "validation": validation_history.to_dict(),
        "observers": {name: observer.state_dict() for name, observer in observers.items()},
        "lr": interface.optimizer.param_groups[0]["lr"]}))


def print_progress(signal: Any) -> None:
    """Tell the parent process that an epoch ended (its checkpoint comes next)."""
    print(f"epoch {signal.fold} {signal.epoch}", flush=True)


def main(argv: list) -> int:
    directory, resume = argv[0], "--resume" in argv
    torch.set_num_threads(1)
    print("ready", flush=True)
    interface, manager, scheduler, observers = build(directory)
    interface.add_observer("after_epoch", print_progress)  # last: stateless
    train_history, validation_history = interface.training(
        manager, nb_epochs=NB_EPOCHS, checkpointdir=os.path.join(directory, "checkpoints"),
        scheduler=scheduler, resume=resume, seed=5)
    write_final(directory, interface, train_history, validation_history, observers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
