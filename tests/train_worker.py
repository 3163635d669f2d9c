"""``pynet-cvae train`` with recording observers, for the distributed tests.

Run as ``python -m tests.train_worker RECORDS -- <pynet-cvae train arguments>`` from the
repository root, under ``torchrun --nproc_per_node=N`` or as one plain process. It runs
the command's own training function (:func:`pynet_cvae.commands.train.train`) with
the arguments given, and adds observers that run on every process and record, per
epoch: the training rows the process trained on (a hash of each image), its weights,
the KL weight and the Gumbel temperature (a model with one) its schedules set. Every process writes
``RECORDS/rank<r>.pt``; rank 0 prints the command's summary.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, Dict, List

import torch

from pynet_cvae.commands.settings import parse_train_arguments
from pynet_cvae.commands.train import format_summary, train
from pynet_cvae.distributed import launched_rank


def row_key(image: torch.Tensor) -> str:
    """A name for a training image (the digits' images are all different)."""
    return hashlib.sha1(image.numpy().tobytes()).hexdigest()[:16]


def kl_weight(loss: Any) -> float:
    """The weight KLWarmup gives the KL term of a zoo objective (or a loss's)."""
    from pynet_cvae.plugins.cvae.objective import KLDivergence, Objective

    if isinstance(loss, Objective):
        return float(loss.terms_of(KLDivergence)[0].scale)
    return float(loss.kl_weight)


class Recorder:
    """Observers of ``before_fold`` and ``after_epoch`` that note what each epoch did."""

    def __init__(self) -> None:
        self.epochs: List[Dict[str, Any]] = []
        self.rows: List[str] = []

    def watch_steps(self, signal: Any) -> None:
        """``before_fold``: note the rows of every training batch from now on."""
        interface = signal.object
        step = interface.train_step

        def recorded_step(batch: Any) -> Any:
            self.rows.extend(row_key(image) for image in batch.inputs)
            return step(batch)

        interface.train_step = recorded_step

    def end_epoch(self, signal: Any) -> None:
        """``after_epoch``: note the epoch's rows, weights and schedules."""
        interface = signal.object
        self.epochs.append({
            "epoch": signal.epoch, "rows": self.rows,
            "weights": {name: value.clone() for name, value in
                        interface.model.state_dict().items()},
            "kl_weight": kl_weight(interface.loss),
            "temperature": float(getattr(interface.model, "temperature", float("nan"))),
            "val_loss": signal.val_loss})
        self.rows = []


def main(argv: List[str]) -> None:
    records = argv[0]
    arguments = argv[argv.index("--") + 1:]
    parser, namespace = parse_train_arguments(arguments[arguments[:1] == ["train"]:])
    recorder = Recorder()
    summary = train(parser, namespace, observers=[("before_fold", recorder.watch_steps),
                                          ("after_epoch", recorder.end_epoch)])
    rank = launched_rank()
    os.makedirs(records, exist_ok=True)
    torch.save({"epochs": recorder.epochs, "train_samples": summary["train_samples"]},
               os.path.join(records, f"rank{rank}.pt"))
    if rank == 0:
        print(format_summary(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
