"""
Observers: a custom ``after_epoch`` observer and a regularizer
==============================================================

The training interface emits *signals* (``before_fold``, ``before_epoch``,
``regularizer``, ``after_epoch``, ``after_fold``) and calls every observer attached
to them with one signal object that carries the signal's values (see
:mod:`pynet_cvae.observable` for the list). An observer is any callable: a
function, a method or an object with ``__call__``.

This example trains a small digit classifier and attaches:

- an ``after_epoch`` observer that records and prints every value of the epoch;
- a ``before_epoch`` observer that changes the learning rate (a warm-up);
- a ``regularizer``, whose return value is added to each training batch's loss.
"""

# %%
# A classifier that returns its hidden layer
# ------------------------------------------
#
# A model may return ``(prediction, layer_outputs)``: the dict of extra outputs
# reaches the loss, the metrics and the ``regularizer`` observers.

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "20"))

data = fetch_digits()
manager = DataManager(
    input_path=data.input_path, metadata_path=data.metadata_path, labels=["label"],
    stratify_label="label", number_of_folds=5, test_size=0, batch_size=32,
    input_transforms=[Flatten()])


class Classifier(nn.Module):
    """A one-hidden-layer classifier that also returns its hidden activations."""

    def __init__(self, input_dim: int = 64, hidden_dim: int = 128, n_classes: int = 10):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU())
        self.output = nn.Linear(hidden_dim, n_classes)

    def forward(self, x):
        hidden = self.hidden(x)
        return self.output(hidden), {"hidden": hidden}


def accuracy(logits, labels):
    """The fraction of correctly classified images."""
    return (logits.argmax(dim=1) == labels).float().mean()
# sphinx_gallery_thumbnail_number = 2

# %%
# An ``after_epoch`` observer
# ---------------------------
#
# ``after_epoch`` carries the epoch, the fold, the mean training loss, each metric
# by name and, with validation, ``val_loss``, ``val_<metric>`` and ``val_pred``
# (the validation predictions). ``signal.keys`` lists the names and
# ``signal.object`` is the interface itself. An object is a convenient observer
# when it keeps state, here the values of every epoch.


class EpochRecorder:
    """Keep the scalar values of every epoch and print a one-line summary."""

    def __init__(self):
        self.records = []

    def __call__(self, signal):
        if not self.records:
            print("after_epoch carries:", signal.keys)
        values = {key: getattr(signal, key) for key in signal.keys
                  if isinstance(getattr(signal, key), (int, float))}
        values["lr"] = signal.object.optimizer.param_groups[0]["lr"]
        self.records.append(values)
        print(f"epoch {signal.epoch:2d}: loss {signal.loss:.3f}, val_loss "
              f"{signal.val_loss:.3f}, val_accuracy {signal.val_accuracy:.3f}, "
              f"predictions {signal.val_pred.shape}")

    def curve(self, name):
        return [record[name] for record in self.records]


# %%
# A ``before_epoch`` observer: learning-rate warm-up
# --------------------------------------------------
#
# ``before_epoch`` carries ``epoch`` and ``fold``. Through ``signal.object`` an
# observer reaches the optimizer: this one raises the learning rate linearly over
# the first epochs.


def warm_up(signal, base_lr=0.05, epochs=5):
    """Scale the learning rate by (epoch + 1) / epochs during the first epochs."""
    for group in signal.object.optimizer.param_groups:
        group["lr"] = base_lr * min(1.0, (signal.epoch + 1) / epochs)


# %%
# A regularizer
# -------------
#
# ``regularizer`` is emitted once per training batch with the model's
# ``layer_outputs``; every non-None return is added to the batch loss before the
# backward pass. This one penalises the mean absolute hidden activation (an L1
# activity penalty), which pushes the network to use fewer hidden units per image.


def sparse_activity(signal, weight=0.5):
    """L1 penalty on the hidden activations."""
    return weight * signal.layer_outputs["hidden"].abs().mean()


def train(regularize):
    """Train a classifier, with or without the regularizer; return it and its records."""
    torch.manual_seed(0)
    interface = DeepLearningInterface(
        model=Classifier(), optimizer_name="SGD", learning_rate=0.05, momentum=0.9,
        loss_name="CrossEntropyLoss", metrics=[accuracy], progress=False)
    recorder = EpochRecorder()
    interface.add_observer("before_epoch", warm_up)
    interface.add_observer("after_epoch", recorder)
    if regularize:
        interface.add_observer("regularizer", sparse_activity)
    interface.training(manager=manager, nb_epochs=NB_EPOCHS, fold_index=0)
    return interface.model, recorder


plain_model, plain = train(regularize=False)
sparse_model, sparse = train(regularize=True)

# %%
# What the observers saw
# ----------------------
#
# The recorder's values give the learning curves and the warm-up of the learning
# rate. The loss of the regularized run includes the penalty.

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
epochs = plain.curve("epoch")
for recorder, name in ((plain, "no regularizer"), (sparse, "L1 activity")):
    axes[0].plot(epochs, recorder.curve("val_loss"), marker="o", label=name)
    axes[1].plot(epochs, recorder.curve("val_accuracy"), marker="o", label=name)
axes[2].plot(epochs, plain.curve("lr"), marker="o", color="gray")
for axis, title in zip(axes, ["val_loss", "val_accuracy", "learning rate (warm-up)"]):
    axis.set_title(title)
    axis.set_xlabel("epoch")
axes[0].legend()
axes[1].legend()
fig.tight_layout()

# %%
# The effect of the regularizer
# -----------------------------
#
# On the validation images, the regularized network switches off many more hidden
# units per image, for a similar accuracy (compare the curves above).

validation_images = manager["validation"][0].get_batch(
    range(len(manager["validation"][0]))).inputs
fig, axis = plt.subplots(figsize=(6, 3.5))
for model, name in ((plain_model, "no regularizer"), (sparse_model, "L1 activity")):
    model.eval()
    with torch.no_grad():
        _, outputs = model(validation_images)
    active = (outputs["hidden"] > 1e-3).float().mean(dim=1).numpy()
    axis.hist(active, bins=np.linspace(0, 1, 41), alpha=0.7, label=name)
axis.set_xlabel("fraction of active hidden units per image")
axis.set_ylabel("validation images")
axis.legend()
fig.tight_layout()
