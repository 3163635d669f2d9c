"""
Vanilla Variational AutoEncoder (VAE)
=====================================

A VAE learns to compress an image into a few numbers, a point of the *latent space*,
and to draw new images from random points of that space. This example writes a
small VAE as a plain ``torch.nn.Module`` and trains it with the same tools as the
:ref:`CVAE tutorial <sphx_glr_auto_examples_vae_plot_cvae_tutorial.py>`: a
:class:`~pynet_cvae.datasets.DataManager`, a
:class:`~pynet_cvae.interfaces.DeepLearningInterface` and the plugin's
:class:`~pynet_cvae.plugins.cvae.VAELoss`, selected by its registered name.

With a two-dimensional latent space we can look at the whole space at once: where
each digit lands, and what the decoder draws everywhere.
"""

# %%
# Imports and data
# ----------------
#
# The 1,797 handwritten 8 x 8 digits shipped with scikit-learn need no download.
# ``add_input=True`` makes each (flattened) image its own target.
# ``PYNET_CVAE_EXAMPLE_EPOCHS`` shortens the training for a quick documentation
# build.

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as func

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import make_grid

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
image_shape = np.load(data.input_path, mmap_mode="r").shape[2:]
input_dim = int(np.prod(image_shape))
# sphinx_gallery_thumbnail_number = 3

# %%
# The model
# ---------
#
# The encoder maps an image to the mean and log-variance of a Gaussian over the
# latent space, q(z|x); a latent vector is drawn from it with the
# reparameterization trick (so that gradients flow through the draw), and the
# decoder maps it back to pixel intensities in [0, 1].
#
# ``forward`` returns the reconstruction *and* a dict of extra outputs. The
# training loop hands that dict to the loss (its ``layer_outputs`` attribute):
# this is how :class:`~pynet_cvae.plugins.cvae.VAELoss` finds ``z_mu`` and
# ``z_var`` for the KL divergence.


class VAE(nn.Module):
    """A fully connected VAE.

    Parameters
    ----------
    input_dim : int
        The size of a flattened image.
    hidden_dim : int
        The size of the hidden layers.
    latent_dim : int
        The size of the latent space.
    """

    def __init__(self, input_dim: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(input_dim, hidden_dim)
        self.mu = nn.Linear(hidden_dim, latent_dim)
        self.log_var = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, input_dim), nn.Sigmoid())

    def encode(self, x):
        hidden = func.relu(self.hidden(x))
        return self.mu(hidden), self.log_var(hidden)

    def forward(self, x):
        z_mu, z_var = self.encode(x)
        z = z_mu + torch.randn_like(z_mu) * torch.exp(z_var / 2)
        return self.decoder(z), {"z_mu": z_mu, "z_var": z_var}


model = VAE(input_dim=input_dim, hidden_dim=128, latent_dim=2)

# %%
# Training
# --------
#
# ``loss_name="VAELoss"`` finds the loss in the registry that the CVAE plugin
# fills (a :mod:`torch.nn` loss name works the same way). The loss is the negative
# evidence lower bound: binary cross-entropy of the reconstruction plus the KL
# divergence between q(z|x) and the standard Gaussian prior.

interface = DeepLearningInterface(
    model=model,
    optimizer_name="Adam",
    learning_rate=2e-3,
    loss_name="VAELoss",
    progress=False)
train_history, validation_history = interface.training(
    manager=manager, nb_epochs=NB_EPOCHS, fold_index=0, with_validation=True)
print(validation_history.summary())

# %%
# ``testing`` evaluates the model on the held-out test set (10 % of the digits):
# it returns the predictions, the inputs, the targets, the mean loss and the
# metrics.

y_pred, inputs, y_true, test_loss, values = interface.testing(manager)
print(f"test loss (negative ELBO per image): {test_loss:.2f}")

fig, axis = plt.subplots(figsize=(5, 3.5))
for history in (train_history, validation_history):
    steps, losses = history["loss"]
    axis.plot([epoch for _, epoch in steps], losses, marker="o", label=history.name)
axis.axhline(test_loss, color="gray", linestyle="--", label="test")
axis.set_xlabel("epoch")
axis.set_ylabel("negative ELBO per image")
axis.set_title("Learning curves")
axis.legend()
fig.tight_layout()

# %%
# The latent space
# ----------------
#
# Each validation image is encoded to the mean of q(z|x). The VAE never saw the
# labels, yet similar digits gather: the latent space organises the images by
# what they look like.

loaders = manager.get_dataloader(validation=True, fold_index=0)
model.eval()
codes, labels = [], []
with torch.no_grad():
    for batch in loaders.validation:
        z_mu, _ = model.encode(batch.inputs)
        codes.append(z_mu.numpy())
        labels.append(batch.labels.numpy())
codes, labels = np.concatenate(codes), np.concatenate(labels)

fig, axis = plt.subplots(figsize=(6, 5))
points = axis.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=14,
                      vmin=-0.5, vmax=9.5)
fig.colorbar(points, ax=axis, ticks=range(10), label="digit")
axis.set_xlabel("$z_1$")
axis.set_ylabel("$z_2$")
axis.set_title("Validation images in the latent space")

# %%
# What the decoder draws
# ----------------------
#
# Decoding a regular lattice of latent vectors shows the images the model can
# generate, and how one digit morphs into another as we move through the space.

side = 12
lattice = np.linspace(-2.5, 2.5, side, dtype=np.float32)
z = torch.from_numpy(np.array([[z1, z2] for z2 in lattice[::-1] for z1 in lattice]))
with torch.no_grad():
    drawn = model.decoder(z).numpy().reshape(-1, *image_shape)

fig, axis = plt.subplots(figsize=(6, 6))
axis.imshow(make_grid(drawn, nrow=side), cmap="gray", vmin=0, vmax=1)
axis.set_title("Decoded latent lattice, $z \\in [-2.5, 2.5]^2$")
axis.axis("off")

# %%
# Reconstructions
# ---------------
#
# Top: test images; bottom: their reconstructions through the two-number code.

with torch.no_grad():
    reconstruction, _ = model(torch.as_tensor(inputs[:10]))
pairs = np.concatenate([inputs[:10], reconstruction.numpy()]).reshape(-1, *image_shape)
fig, axis = plt.subplots(figsize=(8, 2))
axis.imshow(make_grid(pairs, nrow=10), cmap="gray", vmin=0, vmax=1)
axis.axis("off")

# %%
# Two numbers per image is very little: the reconstructions keep the digit's
# overall shape but lose its details. A larger ``latent_dim`` reconstructs better,
# at the price of a latent space we can no longer draw.
