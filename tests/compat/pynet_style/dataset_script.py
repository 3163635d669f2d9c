"""A pynet-style data set script, as pynet users write them (not a copy of pynet's).

Run in a folder holding ``cifar/`` (CIFAR-10 files).
"""

import os

import pynet_cvae
import pynet_cvae.configure

print(pynet_cvae.configure.info())

from pynet_cvae.datasets import DataManager, fetch_cifar
from pynet_cvae.plotting import plot_data

data = fetch_cifar(datasetdir="cifar")
manager = DataManager(
    input_path=data.input_path,
    labels=["label"],
    metadata_path=data.metadata_path,
    number_of_folds=4,
    batch_size=8,
    stratify_label="category",
    test_size=0.1)
print("Nb folds:", manager.number_of_folds)
dataloader = manager.get_dataloader(train=True, validation=False, test=False,
                                    fold_index=0)
print(dataloader)
for trainloader in dataloader.train:
    print("Inputs:", tuple(trainloader.inputs.shape))
    print("Outputs:", trainloader.outputs)
    print("Labels:", tuple(trainloader.labels.shape))
    plot_data(trainloader.inputs, nb_samples=5)
    plot_data(trainloader.inputs, nb_samples=3, rgb=True)
    break
train_rows, validation_rows = manager.generator[0]
print("Rows:", len(train_rows), len(validation_rows), int(manager.mask.sum()))

import matplotlib.pyplot as plt

print("figures:", len(plt.get_fignums()))
if "CI_MODE" not in os.environ:
    plt.show()
