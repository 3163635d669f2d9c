"""
Conditional Variational AutoEncoder (CVAE)
==========================================

Credit: A Grigis

This tutorial shows the intuition behind a simple variational autoencoder (VAE) in
pynet-cvae and the technical details needed to make it *conditional*. In the vanilla
VAE we generate images at random; here we choose which digit we want to generate.

The code of the model, its losses and its sampling observer lives in the CVAE
plugin, :mod:`pynet_cvae.plugins.cvae`: this page walks through it and trains it.
"""

# %%
# Let's begin with importing stuff. The environment variable
# ``PYNET_CVAE_EXAMPLE_EPOCHS`` lowers the number of epochs for a quick build, and
# ``PYNET_CVAE_BOARD=1`` streams the run to a Visdom board as in pynet.

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import (
    CVAE, ClassificationLoss, ConditionalSampler, DecodeLoss, VAELoss, make_grid)

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "20"))
torch.manual_seed(0)
# sphinx_gallery_thumbnail_number = 2

# %%
# The data
# --------
#
# The original tutorial trains on MNIST (28 x 28 images, fetched with
# :func:`~pynet_cvae.datasets.fetch_minst`). So that this page builds anywhere
# without a download, we use the 1,797 real handwritten digits (8 x 8) that ship
# with scikit-learn, in the same format: an ``.npy`` array of images and a TSV table
# with a ``label`` column. Replace ``fetch_digits()`` by
# ``fetch_minst(datasetdir=...)`` to train on MNIST: nothing else changes.
#
# Each image is flattened to a vector, and ``add_input=True`` makes the input its
# own target, as an autoencoder needs.

data = fetch_digits()
manager = DataManager(
    input_path=data.input_path,
    metadata_path=data.metadata_path,
    labels=["label"],
    stratify_label="label",
    number_of_folds=10,
    batch_size=64,
    test_size=0,
    input_transforms=[Flatten()],
    add_input=True,
    sample_size=1)
image_shape = np.load(data.input_path, mmap_mode="r").shape[2:]

# %%
# The model
# ---------
#
# The model is composed of three sub-networks:
#
# 1. Given x (image), encode it into a distribution over the latent space -
#    referred to as Q(z|x) (:class:`~pynet_cvae.plugins.cvae.Encoder`).
# 2. Given z in latent space (code representation of an image), decode it into
#    the image it represents - referred to as f(z)
#    (:class:`~pynet_cvae.plugins.cvae.Decoder`).
# 3. Given x, classify its digit by mapping it to a layer of size 10 where the
#    i'th value contains the probability of the i'th digit
#    (:class:`~pynet_cvae.plugins.cvae.DigitClassifier`).
#
# The first two sub-networks are the vanilla VAE framework. The third one is an
# auxiliary task that makes some of the latent dimensions encode the digit: its
# one-hot prediction (a Gumbel-softmax sample) is concatenated to the latent
# vector before decoding. The digit is a label the model must predict rather than
# an input, so that at test time it can encode an image without knowing its class,
# and generate an image of a class we choose.

model = CVAE(input_dim=int(np.prod(image_shape)), hidden_dim=128, latent_dim=20,
             n_classes=10)
print(model)

# %%
# The losses
# ----------
#
# The training loss has three terms:
#
# 1. reconstruction: how well we reconstruct the image (binary cross-entropy);
# 2. KL divergence: how far the latent distribution is from the standard
#    Gaussian prior, analytic for a Gaussian with diagonal covariance;
# 3. classification: the cross-entropy of the digit classifier, weighted by
#    ``classification_weight`` since there is a tension between the terms.
#
# :class:`~pynet_cvae.plugins.cvae.VAELoss` gives the first two,
# :class:`~pynet_cvae.plugins.cvae.ClassificationLoss` the third and
# :class:`~pynet_cvae.plugins.cvae.DecodeLoss` their weighted sum. They read the
# latent parameters from the ``layer_outputs`` the model returns beside its
# reconstruction: the training loop hands them over before every call.

# %%
# Training
# --------
#
# We train with Adam. After each epoch the
# :class:`~pynet_cvae.plugins.cvae.ConditionalSampler` observer sets the class
# part of the code to each digit in turn, draws the other dimensions from the
# prior (the same draws for every digit, so a column shows one "style"), and
# decodes. If the model has learned to use the class dimensions, row *i* shows
# the digit *i*.

outdir = tempfile.mkdtemp(prefix="pynet_cvae_tutorial_")
interface = DeepLearningInterface(
    model=model,
    optimizer_name="Adam",
    learning_rate=0.001,
    metrics=[ClassificationLoss(), VAELoss()],
    loss=DecodeLoss(classification_weight=10.),
    progress=False)
sampler = ConditionalSampler(image_shape=image_shape, output_dir=outdir)
interface.add_observer("after_epoch", sampler)
if os.environ.get("PYNET_CVAE_BOARD") == "1":
    from pynet_cvae.plotting import Board, update_board

    interface.board = Board(port=8097, host="http://localhost", env="vae")
    interface.add_observer("after_epoch", update_board)
train_history, validation_history = interface.training(
    manager=manager,
    nb_epochs=NB_EPOCHS,
    checkpointdir=None,
    fold_index=0,
    with_validation=True)
print(train_history.summary())
print(validation_history.summary())

# %%
# The learning curves
# -------------------

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
for axis, name in zip(axes, ["loss", "VAELoss", "ClassificationLoss"]):
    for history in (train_history, validation_history):
        steps, values = history[name]
        axis.plot([epoch for _, epoch in steps], values, marker="o", label=history.name)
    axis.set_title(name)
    axis.set_xlabel("epoch")
    axis.legend()
fig.tight_layout()

# %%
# Conditional samples
# -------------------
#
# One row per requested digit, one column per latent vector drawn from the prior.

images = sampler.generate(model)
fig, axis = plt.subplots(figsize=(6, 7))
axis.imshow(make_grid(images, nrow=sampler.n_columns), cmap="gray", vmin=0, vmax=1)
axis.set_yticks([(image_shape[0] + 1) * (digit + 0.5) for digit in range(10)])
axis.set_yticklabels(range(10))
axis.set_xticks([])
axis.set_ylabel("requested digit")
axis.set_title(f"Conditional samples after {NB_EPOCHS} epochs")

# %%
# Reconstructions
# ---------------
#
# The validation predictions (top: inputs, bottom: reconstructions).

loaders = manager.get_dataloader(validation=True, fold_index=0)
batch = next(iter(loaders.validation))
with torch.no_grad():
    reconstruction, _ = model(batch.inputs)
pairs = np.concatenate([batch.inputs[:10].numpy(), reconstruction[:10].numpy()])
fig, axis = plt.subplots(figsize=(8, 2))
axis.imshow(make_grid(pairs.reshape(-1, *image_shape), nrow=10), cmap="gray",
            vmin=0, vmax=1)
axis.axis("off")

# %%
# Conclusion
# ----------
#
# With a simple feed-forward network (no convolutions) the model reconstructs the
# digits and its classifier learns them quickly. Whether the generated rows follow
# the requested digit depends on how much the decoder relies on the class
# dimensions rather than on z: with this recipe the class information also leaks
# into z (the encoder never sees the label), so the conditioning can be weak - look
# at the grid above.
