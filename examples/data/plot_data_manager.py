"""
The data manager: folds, stratification, transforms and ``add_input``
=====================================================================

:class:`~pynet_cvae.datasets.DataManager` turns two files into mini-batches: an
``.npy`` array of samples (opened memory-mapped, so it may be larger than memory)
and a tab-separated table with one row per sample. It holds out a test set, cuts
the rest into K folds of (train, validation) pairs, orders the training samples
and applies the transforms.

This example builds a small imbalanced data set of generated images and looks at
each of these steps.
"""

# %%
# A data set on disk
# ------------------
#
# 500 noisy 16 x 16 images of three shapes, with many more squares than crosses,
# acquired at three "sites". ``images.npy`` holds the inputs, ``masks.npy`` a
# target per image (the noise-free shape, as for segmentation) and
# ``metadata.tsv`` the table.

import os
import tempfile
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pynet_cvae.datasets import DataManager

rng = np.random.default_rng(0)
SIZE = 16
SHAPES = ("square", "disk", "cross")
COUNTS = (300, 150, 50)


def draw_shape(shape, center, radius):
    """A binary image of one shape."""
    rows, columns = np.mgrid[:SIZE, :SIZE]
    dy, dx = rows - center[0], columns - center[1]
    if shape == "square":
        mask = (abs(dy) <= radius) & (abs(dx) <= radius)
    elif shape == "disk":
        mask = dy ** 2 + dx ** 2 <= radius ** 2
    else:
        mask = ((abs(dy) <= 1) & (abs(dx) <= radius)) | ((abs(dx) <= 1) & (abs(dy) <= radius))
    return mask.astype(np.float32)


labels = np.repeat(SHAPES, COUNTS)
masks = np.stack([draw_shape(shape, rng.integers(6, 10, size=2), rng.integers(3, 6))
                  for shape in labels])[:, None]  # (N, channel, height, width)
images = np.clip(masks + rng.normal(0.0, 0.25, masks.shape), 0, 1).astype(np.float32)

datadir = tempfile.mkdtemp(prefix="pynet_cvae_data_")
np.save(os.path.join(datadir, "images.npy"), images)
np.save(os.path.join(datadir, "masks.npy"), masks)
metadata = pd.DataFrame({"shape": labels, "site": rng.choice(["A", "B", "C"], len(labels))})
metadata.to_csv(os.path.join(datadir, "metadata.tsv"), sep="\t", index=False)
print(metadata.groupby(["shape", "site"]).size().unstack())

fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for column, index in enumerate([0, 1, 300, 301, 450, 451]):
    axes[0, column].imshow(images[index, 0], cmap="gray")
    axes[0, column].set_title(labels[index])
    axes[1, column].imshow(masks[index, 0], cmap="gray")
for axis in axes.flat:
    axis.axis("off")
fig.suptitle("Inputs (top) and targets (bottom)")
fig.tight_layout()
# sphinx_gallery_thumbnail_number = 3

# %%
# Test set and folds
# ------------------
#
# ``test_size=0.2`` holds out a fifth of the images; ``number_of_folds=5`` cuts the
# rest into five (train, validation) pairs, each image being validated once.
# ``label_mapping`` turns the shape names into class ids. Every random choice
# derives from ``seed``, so the splits are the same at each run.

common = dict(input_path=os.path.join(datadir, "images.npy"),
              metadata_path=os.path.join(datadir, "metadata.tsv"),
              labels=["shape"], label_mapping={"square": 0, "disk": 1, "cross": 2},
              number_of_folds=5, test_size=0.2, batch_size=50, seed=0)
stratified = DataManager(stratify_label="shape", **common)
unstratified = DataManager(**common)


def split_map(manager):
    """One row per fold: 0 train, 1 validation, 2 test, for each sample."""
    roles = np.zeros((manager.number_of_folds, len(labels)))
    roles[:, manager["test"].indices] = 2
    for fold, validation in enumerate(manager["validation"]):
        roles[fold, validation.indices] = 1
    return roles


fig, axis = plt.subplots(figsize=(9, 2.4))
axis.imshow(split_map(stratified), aspect="auto", interpolation="nearest",
            cmap=plt.matplotlib.colors.ListedColormap(["#4c72b0", "#dd8452", "#999999"]))
axis.set_yticks(range(5))
axis.set_ylabel("fold")
axis.set_xlabel("sample (squares, then disks, then crosses)")
axis.set_title("Train (blue), validation (orange) and test (gray) samples per fold")
fig.tight_layout()

# %%
# Stratification
# --------------
#
# With ``stratify_label="shape"`` the test set and every validation fold keep the
# proportions of the whole data set (60 % squares, 30 % disks, 10 % crosses).
# Without it, a small class can be missing from a fold.


def class_shares(manager):
    """The share of each class in each validation fold, plus the test set."""
    sets = list(manager["validation"]) + [manager["test"]]
    return np.array([[np.mean(labels[dataset.indices] == shape) for shape in SHAPES]
                     for dataset in sets])


fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
names = [f"fold {fold}" for fold in range(5)] + ["test"]
for axis, manager, title in ((axes[0], unstratified, "without stratify_label"),
                             (axes[1], stratified, 'stratify_label="shape"')):
    bottom = np.zeros(len(names))
    for shares, shape in zip(class_shares(manager).T, SHAPES):
        axis.bar(names, shares, bottom=bottom, label=shape)
        bottom += shares
    axis.set_title(title)
axes[0].set_ylabel("share of the validation set")
axes[1].legend(loc="lower right")
fig.tight_layout()

# %%
# Samplers
# --------
#
# The training samples come in a new random order at every epoch
# (``sampler="random"``). ``sampler="weighted_random"`` draws them with weights
# that balance the ``stratify_label`` classes, so the model sees as many crosses
# as squares.

balanced = DataManager(stratify_label="shape", sampler="weighted_random", **common)
fig, axis = plt.subplots(figsize=(6, 3))
for offset, (manager, name) in enumerate(((stratified, '"random"'),
                                          (balanced, '"weighted_random"'))):
    loader = manager.get_dataloader(train=True, fold_index=0).train
    counts = Counter(int(label) for batch in loader for label in batch.labels)
    axis.bar(np.arange(3) + 0.4 * offset, [counts[index] for index in range(3)], width=0.4,
             label=f"sampler={name}")
axis.set_xticks(np.arange(3) + 0.2)
axis.set_xticklabels(SHAPES)
axis.set_ylabel("samples in one epoch")
axis.legend()
fig.tight_layout()

# %%
# Transforms and augmentation
# ---------------------------
#
# ``input_transforms`` apply to every input (here: invert the contrast);
# ``data_augmentation_transforms`` apply to training samples only, with a seed
# that depends on the sample and the epoch: a training image moves differently at
# each epoch, a validation image never does. Augmentations draw from NumPy's global
# generator, which the manager seeds, so the same shift applies to an input and
# to its target.


def invert(image):
    """Dark shapes on a white background."""
    return 1.0 - image


def random_shift(image):
    """Move the image by up to 3 pixels in each direction."""
    shift = np.random.randint(-3, 4, size=2)
    return np.roll(image, tuple(shift), axis=(-2, -1))


augmented = DataManager(stratify_label="shape", input_transforms=[invert],
                        data_augmentation_transforms=[random_shift], **common)
train_set = augmented["train"][0]
validation_set = augmented["validation"][0]
fig, axes = plt.subplots(2, 5, figsize=(8, 3.6))
for epoch in range(5):
    axes[0, epoch].imshow(train_set.get_batch([0], epoch=epoch).inputs[0, 0], cmap="gray")
    axes[0, epoch].set_title(f"epoch {epoch}")
    axes[1, epoch].imshow(validation_set.get_batch([0], epoch=epoch).inputs[0, 0],
                          cmap="gray")
for axis in axes.flat:
    axis.set_xticks([])
    axis.set_yticks([])
axes[0, 0].set_ylabel("training")
axes[1, 0].set_ylabel("validation")
fig.tight_layout()

# %%
# ``add_input``: the input as a target
# ------------------------------------
#
# Autoencoders learn to give back their input: ``add_input=True`` makes the
# (transformed) input the target ``outputs`` of each mini-batch. With an
# ``output_path`` too, the input is appended after the output's channels, here
# the mask then the image: a model could learn to segment and to reconstruct.

autoencoding = DataManager(output_path=os.path.join(datadir, "masks.npy"), add_input=True,
                           stratify_label="shape", **common)
batch = next(iter(autoencoding.get_dataloader(train=True, fold_index=0).train))
print("inputs:", tuple(batch.inputs.shape), "outputs:", tuple(batch.outputs.shape),
      "labels:", tuple(batch.labels.shape), batch.labels.dtype)

fig, axes = plt.subplots(1, 3, figsize=(6, 2.4))
for axis, image, title in zip(axes, [batch.inputs[0, 0], batch.outputs[0, 0],
                                     batch.outputs[0, 1]],
                              ["inputs", "outputs[0] (mask)", "outputs[1] (input)"]):
    axis.imshow(image, cmap="gray")
    axis.set_title(title)
    axis.axis("off")
fig.tight_layout()

# %%
# Choosing the splits by metadata
# -------------------------------
#
# ``custom_stratification`` selects the splits with filters on the table instead,
# for instance to test on a site never seen in training. ``projection_labels``
# keeps only the matching rows before any split.

by_site = DataManager(
    input_path=os.path.join(datadir, "images.npy"),
    metadata_path=os.path.join(datadir, "metadata.tsv"),
    labels=["shape"], label_mapping={"square": 0, "disk": 1, "cross": 2},
    custom_stratification={"train": {"site": "A"}, "validation": {"site": "B"},
                           "test": {"site": "C"}},
    projection_labels={"shape": ["square", "disk"]}, batch_size=50)
for split in ("train", "validation", "test"):
    dataset = by_site[split][0] if split != "test" else by_site[split]
    rows = metadata.iloc[dataset.indices]
    print(f"{split:>10}: {len(rows)} images, sites {sorted(set(rows.site))}, "
          f"shapes {sorted(set(rows['shape']))}")
