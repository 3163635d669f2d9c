"""
Writing a plugin: your own model, loss and metric, selected by name
===================================================================

pynet-cvae keeps registries of networks, losses, metrics, observers and fetchers
(:mod:`pynet_cvae.registry`). A class decorator adds an object under its name;
:class:`~pynet_cvae.interfaces.DeepLearningInterface` then builds it from that
name, exactly as it builds a :mod:`torch.nn` loss from ``loss_name="NLLLoss"``.
The CVAE of the tutorial is registered this way, by the plugin
:mod:`pynet_cvae.plugins.cvae`.

This example registers a small convolutional network, a loss and two metrics at
runtime, trains them by name, and shows how a package declares them as a plugin
so that they are available as soon as it is installed.
"""

# %%
# Register a network, a loss and metrics
# --------------------------------------
#
# ``@Networks.register`` adds the class under its ``__name__``;
# ``register(name=...)`` chooses another name. Registering a different object
# under a name already taken is an error, so two plugins cannot silently replace
# each other's objects: ``accuracy``, for one, is already registered (pynet's
# metric of that name), so it is used as it is below, beside our two metrics.

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as func

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.registry import Losses, Metrics, Networks, Observers, get_tools

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "20"))


@Networks.register
class DigitConvNet(nn.Module):
    """Two convolutions and a linear layer for ``(1, 8, 8)`` digit images.

    Parameters
    ----------
    n_classes : int
        The number of classes.
    channels : int
        The number of channels of the first convolution (doubled in the second).
    """

    def __init__(self, n_classes: int = 10, channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten())
        self.classifier = nn.Linear(2 * channels * 2 * 2, n_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


@Losses.register(name="SmoothedCrossEntropy")
class LabelSmoothingLoss:
    """Cross-entropy against targets smoothed towards the uniform distribution.

    Parameters
    ----------
    smoothing : float
        The probability mass spread over all classes.
    """

    def __init__(self, smoothing: float = 0.1) -> None:
        self.smoothing = smoothing

    def __call__(self, logits, labels):
        return func.cross_entropy(logits, labels, label_smoothing=self.smoothing)


def class_recalls(logits, labels):
    """The recall of each class present in the batch."""
    predicted = logits.argmax(dim=1)
    return torch.stack([(predicted[labels == label] == label).float().mean()
                        for label in labels.unique()])


@Metrics.register
def balanced_accuracy(logits, labels):
    """The mean of the class recalls."""
    return class_recalls(logits, labels).mean()


@Metrics.register
def worst_class_recall(logits, labels):
    """The recall of the class the model finds hardest (on this batch)."""
    return class_recalls(logits, labels).min()


@Observers.register
def report_accuracy(signal):
    """An ``after_epoch`` observer that prints the validation accuracy."""
    if signal.epoch % 5 == 4 or signal.epoch == 0:
        print(f"epoch {signal.epoch:2d}: val_accuracy {signal.val_accuracy:.3f}")
# sphinx_gallery_thumbnail_number = 2

# %%
# Every registry lists the built-in objects, the installed plugins' (here the
# CVAE plugin) and ours. ``get_tools()`` gives all of them at once.

for kind, registered in get_tools().items():
    print(f"{kind:>9}: {', '.join(sorted(registered))}")

# %%
# Train by name
# -------------
#
# ``model`` is a registered network's name, built with ``model_kwargs``;
# ``loss_name`` and ``metrics`` name registered objects (a class is instantiated
# with its default arguments, a function is used as it is); the observer comes
# from its registry. The images keep their ``(1, 8, 8)`` shape for the
# convolutions.

torch.manual_seed(0)
data = fetch_digits()
manager = DataManager(
    input_path=data.input_path, metadata_path=data.metadata_path, labels=["label"],
    stratify_label="label", number_of_folds=5, test_size=0.2, batch_size=32)
interface = DeepLearningInterface(
    model="DigitConvNet", model_kwargs={"n_classes": 10, "channels": 16},
    optimizer_name="Adam", learning_rate=3e-3,
    loss_name="SmoothedCrossEntropy", metrics=["accuracy", "balanced_accuracy",
                                                  "worst_class_recall"],
    progress=False)
interface.add_observer("after_epoch", Observers.get("report_accuracy"))
print(interface.model)
train_history, validation_history = interface.training(
    manager=manager, nb_epochs=NB_EPOCHS, fold_index=0)

names = ["loss", "accuracy", "balanced_accuracy", "worst_class_recall"]
fig, axes = plt.subplots(1, len(names), figsize=(15, 3.5))
for axis, name in zip(axes, names):
    for history in (train_history, validation_history):
        steps, values = history[name]
        axis.plot([epoch for _, epoch in steps], values, marker="o", label=history.name)
    axis.set_title(name)
    axis.set_xlabel("epoch")
    axis.legend()
fig.tight_layout()

# %%
# On the test set, the confusion matrix shows which digits the network mixes up.

y_pred, _, y_true, test_loss, values = interface.testing(manager)
print(f"test loss {test_loss:.3f}, test metrics {values}")
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (np.asarray(y_true).ravel(), np.asarray(y_pred).argmax(axis=1)), 1)
fig, axis = plt.subplots(figsize=(5, 4.5))
image = axis.imshow(confusion, cmap="Blues")
for (row, column), count in np.ndenumerate(confusion):
    if count:
        axis.text(column, row, count, ha="center", va="center", fontsize=7,
                  color="white" if count > confusion.max() / 2 else "black")
axis.set_xticks(range(10))
axis.set_yticks(range(10))
axis.set_xlabel("predicted digit")
axis.set_ylabel("true digit")
axis.set_title("Test confusion matrix")
fig.colorbar(image, ax=axis)
fig.tight_layout()

# %%
# Ship it as a plugin
# -------------------
#
# Put the registering code in a module of your package (say ``digits_plugin.py``)
# and declare that module in the ``pynet_cvae.plugins`` entry-point group:
#
# .. code-block:: toml
#
#    # pyproject.toml of your package
#    [project.entry-points."pynet_cvae.plugins"]
#    digits = "digits_plugin"
#
# or, with setuptools' ``setup.py``:
#
# .. code-block:: python
#
#    setup(
#        name="digits-plugin",
#        py_modules=["digits_plugin"],
#        entry_points={"pynet_cvae.plugins": ["digits = digits_plugin"]},
#    )
#
# Once the package is installed, the first query of any registry imports every
# declared plugin module (:func:`~pynet_cvae.registry.load_plugins`), so
# ``DeepLearningInterface(model="DigitConvNet", ...)`` works in any script, and
# ``pynet-cvae`` commands find the plugin's objects too, without importing
# anything by hand. A plugin that fails to import is skipped with a warning that
# names it, and the other plugins still load.
