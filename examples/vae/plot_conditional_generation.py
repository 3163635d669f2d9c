"""
Conditional generation: a grid per class and latent interpolations
==================================================================

A conditional VAE draws an image *of the class we ask for*. This example trains
:class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`, whose encoder sees the class,
q(z|x, y): the latent vector z only has to hold what the class does not say (the
handwriting style), and the one-hot class given to the decoder decides the digit.

The model's generation API (:class:`~pynet_cvae.plugins.cvae.GenerativeMixin`)
then draws a grid with one row per class, transfers the style of a real digit to
every class, and walks along straight lines of the latent space.
"""

# %%
# Data and model
# --------------
#
# The embedded 8 x 8 digits, flattened; ``add_input=True`` makes each image its
# own target and ``labels=["label"]`` gives the class ids. With
# ``add_labels=True`` the interface calls the model as ``model(inputs, labels)``.

import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import (
    ClassifierAccuracy, ConditionalCVAE, make_grid, sample_grid)

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "20"))
torch.manual_seed(0)

data = fetch_digits()
manager = DataManager(
    input_path=data.input_path,
    metadata_path=data.metadata_path,
    labels=["label"],
    stratify_label="label",
    number_of_folds=5,
    test_size=0.1,
    batch_size=32,
    input_transforms=[Flatten()],
    add_input=True)
image_shape = tuple(np.load(data.input_path, mmap_mode="r").shape[2:])

model = ConditionalCVAE(input_dim=int(np.prod(image_shape)), hidden_dim=256,
                        latent_dim=8, n_classes=10, image_shape=image_shape)
interface = DeepLearningInterface(
    model=model,
    optimizer_name="Adam",
    learning_rate=2e-3,
    loss=model.objective,
    metrics=[ClassifierAccuracy()],
    add_labels=True,
    progress=False)
# sphinx_gallery_thumbnail_number = 2

# %%
# Training
# --------
#
# The model owns its objective, ``model.objective``: the list of its terms
# (reconstruction, KL divergence, cross-entropy of the classifier), which returns
# the loss and each term's value: the interface reports each term beside the loss,
# like a metric.

train_history, validation_history = interface.training(
    manager=manager, nb_epochs=NB_EPOCHS, fold_index=0, with_validation=True)
print(validation_history.summary())

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
for axis, name in zip(axes, ["loss", "reconstruction", "ClassifierAccuracy"]):
    for history in (train_history, validation_history):
        steps, values = history[name]
        axis.plot([epoch for _, epoch in steps], values, marker="o", label=history.name)
    axis.set_title(name)
    axis.set_xlabel("epoch")
    axis.legend()
fig.tight_layout()

# %%
# A grid per class
# ----------------
#
# :func:`~pynet_cvae.plugins.cvae.sample_grid` draws eight latent vectors from the
# prior and decodes each of them with every class: a row is a class, a column is
# one latent vector, so a column keeps one "style" across the ten digits.


def show_grid(grid, title, n_rows=10):
    """Draw a grid of images with one labelled row per class."""
    fig, axis = plt.subplots(figsize=(6, 7))
    axis.imshow(grid, cmap="gray", vmin=0, vmax=1)
    axis.set_yticks([(image_shape[0] + 1) * (row + 0.5) for row in range(n_rows)])
    axis.set_yticklabels(range(n_rows))
    axis.set_xticks([])
    axis.set_ylabel("requested digit")
    axis.set_title(title)
    return fig


show_grid(sample_grid(model, n_columns=8, seed=0), "One row per class (prior draws)")

# %%
# A lower ``temperature`` (the standard deviation of the prior draws) gives more
# typical digits and less variety.

show_grid(sample_grid(model, n_columns=8, temperature=0.5, seed=0),
          "The same grid at temperature 0.5")

# %%
# Style transfer
# --------------
#
# :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.encode` maps real test images to
# q(z|x, y); decoding the mean of each image's code with every class keeps the
# style of the image and changes the digit.

test_images = manager["test"].get_batch(range(4)).inputs
encoding = model.encode(test_images)
print("predicted classes of the test images:", encoding.labels.tolist())
transferred = model.sample(list(range(10)), z=encoding.z_mu)  # class-major
transferred = transferred.reshape(10, len(test_images), -1).transpose(0, 1)
rows = torch.cat([test_images[:, None], transferred], dim=1)  # original, then 0..9
fig, axis = plt.subplots(figsize=(8, 3.5))
axis.imshow(make_grid(rows.reshape(-1, *image_shape).numpy(), nrow=11), cmap="gray",
            vmin=0, vmax=1)
axis.set_xticks([(image_shape[1] + 1) * (column + 0.5) for column in range(11)])
axis.set_xticklabels(["input"] + [str(digit) for digit in range(10)])
axis.set_yticks([])
axis.set_title("Each test image's style, decoded as every digit")

# %%
# Interpolation in the latent space
# ---------------------------------
#
# :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.interpolate` encodes two images
# and decodes evenly spaced points of the segment between their codes. Top: the
# class moves along with z from the first image's class to the second's. Bottom:
# the class is held fixed, so only the style changes.

first, second = test_images[0], test_images[1]
moving = model.interpolate(first, second, steps=10)
fixed = model.interpolate(first, second, steps=10, label=int(encoding.labels[0]))
fig, axis = plt.subplots(figsize=(8, 2.2))
axis.imshow(make_grid(torch.cat([moving, fixed]).reshape(-1, *image_shape).numpy(),
                      nrow=10), cmap="gray", vmin=0, vmax=1)
axis.set_yticks([(image_shape[0] + 1) * 0.5, (image_shape[0] + 1) * 1.5])
axis.set_yticklabels(["class moves", f"class {int(encoding.labels[0])}"])
axis.set_xticks([])
axis.set_title("From one test image to another")
fig.tight_layout()

# %%
# With the class given to the encoder, the rows of the grid follow the requested
# digit closely; compare with the tutorial's recipe, where the class can leak
# into z and the conditioning is weaker.
