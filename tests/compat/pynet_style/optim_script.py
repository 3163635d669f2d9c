"""A pynet-style optimisation script, as pynet users write them (not a copy of pynet's).

Run in a folder holding ``cifar/`` (CIFAR-10 files); ``CI_MODE`` trains on half of it.
"""

import os

import pynet_cvae
from pynet_cvae.utils import setup_logging

setup_logging(level="info")
print(pynet_cvae.__version__)

import pynet_cvae.configure

print(pynet_cvae.configure.info())

import torch.nn as nn
import torch.nn.functional as func
from pynet_cvae.datasets import DataManager, fetch_cifar

data = fetch_cifar(datasetdir="cifar")
manager = DataManager(
    input_path=data.input_path,
    labels=["label"],
    metadata_path=data.metadata_path,
    number_of_folds=3,
    batch_size=10,
    stratify_label="category",
    test_size=0.1,
    sample_size=(1 if "CI_MODE" not in os.environ else 0.5))


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(4, 4)
        self.fc1 = nn.Linear(6 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(func.relu(self.conv1(x)))
        return self.fc1(x.view(-1, 6 * 7 * 7))


from pynet_cvae.interfaces import DeepLearningInterface

cl = DeepLearningInterface(
    model=Net(),
    optimizer_name="SGD",
    momentum=0.9,
    learning_rate=0.01,
    loss_name="CrossEntropyLoss",
    metrics=["accuracy"])
epochs = []
cl.add_observer("after_epoch", lambda signal: epochs.append(
    (signal.epoch, signal.scheduler, round(signal.val_accuracy, 3))))
test_history, train_history = cl.training(
    manager=manager,
    nb_epochs=3,
    checkpointdir="checkpoints",
    fold_index=0,
    with_validation=True)
print("epochs:", epochs)

from pynet_cvae.history import History
from pynet_cvae.plotting import plot_history

history = History.load("checkpoints/train_0_epoch_2.pkl")
print(history)
plot_history(history)

from sklearn.metrics import classification_report
from pynet_cvae.plotting import plot_data

y_pred, X, y_true, loss, values = cl.testing(
    manager=manager,
    with_logit=True,
    predict=True)
print(classification_report(y_true, y_pred, labels=list(data.labels),
                            target_names=data.labels.values(), zero_division=0))
titles = ["{0}-{1}".format(data.labels[it1], data.labels[it2])
          for it1, it2 in zip(y_pred, y_true)]
plot_data(X, labels=titles, nb_samples=5)

import matplotlib.pyplot as plt

print("figures:", len(plt.get_fignums()))
if "CI_MODE" not in os.environ:
    plt.show()
