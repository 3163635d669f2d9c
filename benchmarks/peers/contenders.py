"""The contenders: each one trains the tutorial's recipe the way its users write it.

A contender is a function ``prepare(options) -> session``; the session has
``samples_per_epoch`` (the training samples one epoch goes through) and
``run(epochs, pacer)``, which trains for ``epochs`` epochs and calls
``pacer.epoch_start()`` at the start of each. Imports happen inside ``prepare`` so
that each child process loads only its own framework.

This module holds the two hand-written loops (the practical limit) and ours; the
peers are in :mod:`frameworks` (Lightning, Ignite) and :mod:`original_pynet`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import torch

import recipe
from data import load_tensors


class HandWrittenLoop:
    """A plain PyTorch loop over tensors pre-loaded on the device.

    Each epoch draws a fresh permutation, slices mini-batches out of the resident
    tensors, and keeps the running sums of the loss and metrics on the device: the
    host reads them once per epoch.
    """

    #: Whether the data set is loaded on the device (else it stays on the host).
    data_on_device = True

    def __init__(self, options: Dict[str, Any]) -> None:
        self.device = torch.device(options["device"])
        self.images, self.labels = load_tensors(
            options["files"], options["device"] if self.data_on_device else "cpu")
        self.model = recipe.build_model().to(self.device)
        self.loss = recipe.build_loss()
        self.metrics = recipe.build_metrics() if options["metrics"] else []
        self.optimizer = recipe.build_optimizer(self.model)
        self.samples_per_epoch = len(self.images)
        self.epoch_means: Dict[str, float] = {}

    def batches(self):
        """The epoch's mini-batches as ``(images, labels)`` on the device."""
        order = torch.randperm(self.samples_per_epoch, device=self.device)
        for start in range(0, self.samples_per_epoch, recipe.BATCH_SIZE):
            rows = order[start:start + recipe.BATCH_SIZE]
            yield self.images[rows], self.labels[rows]

    def train_epoch(self) -> None:
        """One epoch; the means are read back once, at its end."""
        self.model.train()
        sums: Dict[str, torch.Tensor] = {}
        seen = 0
        for images, labels in self.batches():
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            loss, reconstruction, layer_outputs = recipe.forward_loss(
                self.model, self.loss, images, labels)
            loss.backward()
            self.optimizer.step()
            values = {"loss": loss.detach()}
            values.update(recipe.metric_values(self.metrics, reconstruction, images, labels,
                                               layer_outputs))
            for name, value in values.items():
                weighted = value * len(images)
                sums[name] = sums[name] + weighted if name in sums else weighted
            seen += len(images)
        self.epoch_means = {name: float(total) / seen for name, total in sums.items()}

    def run(self, epochs: int, pacer: Any) -> None:
        for _ in range(epochs):
            pacer.epoch_start()
            self.train_epoch()


class DataLoaderLoop(HandWrittenLoop):
    """The same loop over ``DataLoader(TensorDataset(...), shuffle=True)`` on the host.

    What Lightning and Ignite are given: the difference to :class:`HandWrittenLoop`
    is torch's data path (sampler, per-sample indexing, ``default_collate``) and the
    host-to-device copy.
    """

    data_on_device = False

    def __init__(self, options: Dict[str, Any]) -> None:
        super().__init__(options)
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(self.images, self.labels),
            batch_size=recipe.BATCH_SIZE, shuffle=True)

    def batches(self):
        return iter(self.loader)


class Ours:
    """pynet-cvae's DeepLearningInterface and DataManager, as the tutorial writes them.

    Parameters
    ----------
    options : dict
        The worker's options.
    with_validation : bool
        Run the tutorial's validation pass (the fold's held-out tenth) after each
        epoch; its time counts in the epoch.
    """

    def __init__(self, options: Dict[str, Any], with_validation: bool) -> None:
        from pynet_cvae.datasets import DataManager
        from pynet_cvae.datasets.transforms import Flatten
        from pynet_cvae.interfaces import DeepLearningInterface

        files = options["files"]
        self.manager = DataManager(
            input_path=files.input_path, metadata_path=files.metadata_path,
            labels=["label"], stratify_label="label",
            number_of_folds=recipe.NUMBER_OF_FOLDS, batch_size=recipe.BATCH_SIZE,
            test_size=0, input_transforms=[Flatten()], add_input=True, sample_size=1)
        self.interface = DeepLearningInterface(
            model=recipe.build_model(), optimizer_name="Adam",
            learning_rate=recipe.LEARNING_RATE,
            metrics=recipe.build_metrics() if options["metrics"] else None,
            loss=recipe.build_loss(return_terms=True), device=options["device"],
            progress=False)
        self.with_validation = with_validation
        self.samples_per_epoch = len(self.manager["train"][0])

    def run(self, epochs: int, pacer: Any) -> None:
        self.interface.add_observer("before_epoch", pacer.epoch_start)
        self.interface.training(manager=self.manager, nb_epochs=epochs, checkpointdir=None,
                                fold_index=0, with_validation=self.with_validation)


def _frameworks(name: str) -> Callable[[Dict[str, Any]], Any]:
    def prepare(options: Dict[str, Any]) -> Any:
        import frameworks

        return getattr(frameworks, name)(options)
    return prepare


def _original_pynet(with_validation: bool) -> Callable[[Dict[str, Any]], Any]:
    def prepare(options: Dict[str, Any]) -> Any:
        from original_pynet import OriginalPynet

        return OriginalPynet(options, with_validation)
    return prepare


#: The contenders by name, in the order of a round.
CONTENDERS: Dict[str, Callable[[Dict[str, Any]], Any]] = {
    "hand-written": HandWrittenLoop,
    "dataloader": DataLoaderLoop,
    "ours": lambda options: Ours(options, with_validation=False),
    "ours+validation": lambda options: Ours(options, with_validation=True),
    "lightning": _frameworks("LightningContender"),
    "ignite": _frameworks("IgniteContender"),
    "pynet": _original_pynet(with_validation=False),
    "pynet+validation": _original_pynet(with_validation=True),
}

#: The contender every ratio is taken to.
REFERENCE = "hand-written"

DESCRIPTIONS = {
    "hand-written": "PyTorch loop over tensors pre-loaded on the device",
    "dataloader": "the same loop over DataLoader(TensorDataset), shuffle=True",
    "ours": "pynet_cvae DeepLearningInterface + DataManager, no validation",
    "ours+validation": "the same with the tutorial's validation pass each epoch",
    "lightning": "Lightning Trainer, LightningModule, DataLoader(TensorDataset)",
    "ignite": "Ignite Engine with Average metrics, DataLoader(TensorDataset)",
    "pynet": "original pynet (python-network 0.0.1) interface + DataManager",
    "pynet+validation": "the same with the tutorial's validation pass each epoch",
}
