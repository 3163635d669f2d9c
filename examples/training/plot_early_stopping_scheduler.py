"""
Early stopping and learning-rate schedulers
===========================================

Two common training controls, both plugged into the ``after_epoch`` signal:

- :class:`~pynet_cvae.observers.EarlyStopping` watches a value of the signal
  (``val_loss`` by default) and ends the fold when it has not improved for
  ``patience`` epochs. Any observer can do the same by setting
  ``signal.object.stop_training = True``.
- a :mod:`torch.optim.lr_scheduler` scheduler given to
  :meth:`~pynet_cvae.interfaces.DeepLearningInterface.training` is stepped after
  every epoch (``ReduceLROnPlateau`` with the validation loss), saved in the
  checkpoints, and sent to the observers as ``signal.scheduler``.

To see them act, we train a wide network on few digits, so that it overfits: the
validation loss reaches a minimum and then rises.
"""

# %%
# Data and model
# --------------
#
# A quarter of the embedded digits (``sample_size=0.25``, stratified), five folds.

import os

import matplotlib.pyplot as plt
import torch
import torch.nn as nn

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.observers import EarlyStopping

# The most epochs a run may take; early stopping usually ends it well before.
NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "60"))

data = fetch_digits()
manager = DataManager(
    input_path=data.input_path, metadata_path=data.metadata_path, labels=["label"],
    stratify_label="label", number_of_folds=5, test_size=0, sample_size=0.25,
    batch_size=16, input_transforms=[Flatten()])


def build_interface():
    """A wide two-layer network, trained with Adam."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    return DeepLearningInterface(model=model, optimizer_name="Adam", learning_rate=1e-2,
                                 loss_name="CrossEntropyLoss", progress=False)


class Recorder:
    """Record the losses and the learning rate after every epoch."""

    def __init__(self):
        self.epochs, self.loss, self.val_loss, self.lr = [], [], [], []

    def __call__(self, signal):
        self.epochs.append(signal.epoch)
        self.loss.append(signal.loss)
        self.val_loss.append(signal.val_loss)
        # The optimizer's rate (a scheduler, when given, is also in signal.scheduler).
        self.lr.append(signal.object.optimizer.param_groups[0]["lr"])


# %%
# Early stopping
# --------------
#
# Stop when the validation loss has not gone down by at least ``min_delta`` for
# ``patience`` epochs in a row. The observer keeps its state (best value, epochs
# waited) in ``state_dict()``, which the checkpoints save, so a resumed run
# continues counting where it stopped.

interface = build_interface()
stopper = EarlyStopping(monitor="val_loss", patience=5, min_delta=1e-3)
constant = Recorder()
interface.add_observer("after_epoch", constant)
interface.add_observer("after_epoch", stopper)
interface.training(manager=manager, nb_epochs=NB_EPOCHS, fold_index=0)
print(f"stopped after epoch {stopper.stopped_epoch}; best val_loss {stopper.best:.3f}"
      if stopper.stopped_epoch is not None else
      f"ran all {NB_EPOCHS} epochs; best val_loss {stopper.best:.3f}")

# %%
# Early stopping with a scheduler
# -------------------------------
#
# ``ReduceLROnPlateau`` multiplies the learning rate by 0.3 each time the
# validation loss fails to improve for more than one epoch: the smaller steps
# reach a lower validation loss before early stopping ends the run.

interface = build_interface()
scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(interface.optimizer, factor=0.3,
                                                       patience=1)
stopper_with_scheduler = EarlyStopping(monitor="val_loss", patience=5, min_delta=1e-3)
scheduled = Recorder()
interface.add_observer("after_epoch", scheduled)
interface.add_observer("after_epoch", stopper_with_scheduler)
interface.training(manager=manager, nb_epochs=NB_EPOCHS, fold_index=0, scheduler=scheduler)
print(f"with the scheduler: {len(scheduled.epochs)} epochs, best val_loss "
      f"{stopper_with_scheduler.best:.3f}")

# %%
# The curves
# ----------
#
# The dotted lines mark the epoch after which each run stopped.

fig, (loss_axis, lr_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
for recorder, stop, name, color in (
        (constant, stopper, "constant rate", "tab:blue"),
        (scheduled, stopper_with_scheduler, "ReduceLROnPlateau", "tab:orange")):
    loss_axis.plot(recorder.epochs, recorder.val_loss, marker="o", color=color,
                   label=f"{name}: validation")
    loss_axis.plot(recorder.epochs, recorder.loss, linestyle="--", color=color,
                   label=f"{name}: training")
    if stop.stopped_epoch is not None:
        loss_axis.axvline(stop.stopped_epoch, color=color, linestyle=":")
    lr_axis.plot(recorder.epochs, recorder.lr, marker="o", color=color, label=name)
loss_axis.set_xlabel("epoch")
loss_axis.set_ylabel("cross-entropy")
loss_axis.set_yscale("log")
loss_axis.legend(fontsize="small")
lr_axis.set_xlabel("epoch")
lr_axis.set_ylabel("learning rate")
lr_axis.set_yscale("log")
lr_axis.legend()
fig.tight_layout()
