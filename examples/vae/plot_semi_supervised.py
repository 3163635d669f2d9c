"""
Semi-supervised training: a few labels, many images
===================================================

A conditional VAE needs the class of each training image... or does it? With
:class:`~pynet_cvae.plugins.cvae.SemiSupervisedCVAE` the label of an image may be
missing: the model then treats the class as a latent variable, sums the ELBO over
every class weighted by its own classifier q(y|x), and trains on the image without
any cross-entropy (Kingma et al. 2014, model M2). Here we keep the labels of 10
training digits per class, hide the others, and compare the classifier with the
same network trained on the labelled digits alone.
"""

# %%
# The data
# --------
#
# :func:`~pynet_cvae.plugins.cvae.semisupervised.hide_labels` copies the digits'
# table with the label of most training images set to ``-1``
# (:data:`~pynet_cvae.plugins.cvae.semisupervised.MISSING_LABEL`) and a ``subset``
# column choosing the training and validation rows; the ``test`` split keeps its
# labels for the final score. The environment variable
# ``PYNET_CVAE_EXAMPLE_EPOCHS`` lowers the number of epochs for a quick build.

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import (ClassificationLoss, ClassifierAccuracy, ConditionalCVAE,
                                     SemiSupervisedCVAE, VAELoss, sample_grid)
from pynet_cvae.plugins.cvae.judge import read_split
from pynet_cvae.plugins.cvae.semisupervised import (
    LABELLED_ONLY, MISSING_LABEL, TRAIN_VALIDATION, hide_labels)

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "20"))
data = fetch_digits()
workdir = tempfile.mkdtemp(prefix="pynet_cvae_semi_supervised_")
hidden = hide_labels(data.metadata_path, os.path.join(workdir, "metadata.tsv"),
                     labelled_per_class=10, seed=0)
print(f"{hidden.labelled} labelled and {hidden.unlabelled} unlabelled training digits, "
      f"{hidden.validation} validation digits")


def manager_for(splits):
    """The digits' loaders with the rows chosen by ``splits``."""
    return DataManager(
        input_path=data.input_path, metadata_path=hidden.metadata_path, labels=["label"],
        custom_stratification=splits, missing_label=MISSING_LABEL, batch_size=64,
        test_size=0, input_transforms=[Flatten()], add_input=True)


# %%
# Training
# --------
#
# The semi-supervised model trains on every training digit; a batch's labelled
# digits add the classifier's cross-entropy, its unlabelled ones only the ELBO with
# the class summed out. The baseline is the same network's classifier trained with
# the cross-entropy on the labelled digits alone. Both are models of the zoo with
# dense networks.


def train(model, loss, metrics, splits):
    interface = DeepLearningInterface(model=model, learning_rate=3e-3, loss=loss,
                                      metrics=metrics, add_labels=True, progress=False)
    interface.training(manager_for(splits), nb_epochs=NB_EPOCHS, fold_index=0,
                       with_validation=False)
    return model.eval()


networks = {"input_dim": 64, "image_shape": (8, 8), "n_classes": 10, "hidden_dim": 256,
            "latent_dim": 8, "encoder": "DenseTrunk", "decoder": "DenseDecoder"}
torch.manual_seed(0)
model = SemiSupervisedCVAE(**networks, consistency_samples=64)
semi_supervised = train(model, model.objective, [VAELoss()], TRAIN_VALIDATION)
torch.manual_seed(0)
alone = train(ConditionalCVAE(**networks), ClassificationLoss(), [ClassifierAccuracy()],
              LABELLED_ONLY)

# %%
# The classifiers on the test digits
# ----------------------------------

rows, labels = read_split(data.metadata_path, "test")
test_images = torch.from_numpy(np.load(data.input_path)[rows].reshape(len(rows), -1))
accuracy = {}
for name, model in (("labelled digits alone", alone),
                    ("semi-supervised", semi_supervised)):
    with torch.no_grad():
        predicted = model.classify(test_images).argmax(dim=1).numpy()
    accuracy[name] = float((predicted == labels).mean())
    print(f"{name}: test accuracy {accuracy[name]:.3f}")

fig, axis = plt.subplots(figsize=(5, 3))
axis.barh(list(accuracy), list(accuracy.values()), color=["0.6", "tab:blue"])
axis.set_xlim(0, 1)
axis.set_xlabel("classifier accuracy on the test digits")
axis.set_title(f"{hidden.labelled} labels, {NB_EPOCHS} epochs")
fig.tight_layout()

# %%
# What the semi-supervised model generates
# ----------------------------------------
#
# One row per requested digit, one latent vector per column: the decoder learnt
# the classes from 100 labels and the unlabelled digits.

fig, axis = plt.subplots(figsize=(5, 6))
axis.imshow(sample_grid(semi_supervised, n_columns=8), cmap="gray", vmin=0, vmax=1)
axis.set_yticks([9 * (digit + 0.5) for digit in range(10)])
axis.set_yticklabels(range(10))
axis.set_xticks([])
axis.set_ylabel("requested digit")

# %%
# Larger data sets: mixed batches and pseudo-labels
# -------------------------------------------------
#
# Here every mini-batch is a random draw of 64 digits, about five of them labelled.
# ``DataManager(..., labelled_per_batch=k)`` puts ``k`` labelled images in every
# training batch instead, an epoch being one pass over the unlabelled images. And
# the classifier can learn from the unlabelled images directly:
# ``SemiSupervisedCVAE(..., pseudo_labels=True)`` makes its confident guess on a slightly
# shifted copy of an image the target of a strongly altered copy (FixMatch),
# ``elbo_trains_classifier=False`` keeps the ELBO's gradient (whose class term rewards
# uncertain guesses) away from the classifier, and ``classifier_average=0.999``
# classifies with a moving average of its weights. On the tiny digits, where a
# one-pixel shift is an eighth of the image, pseudo-labels do not help; on
# Fashion-MNIST with 100 labels per class they lift the classifier from 0.816 (the
# labelled images alone) to 0.872 (``pynet-cvae train --recipe semi-supervised
# --labelled-per-class 100 --model.pseudo_labels ...``; the README gives the whole
# recipe and ``benchmarks/cvae_quality.py --semi-supervised`` reproduces it), and to
# 0.881 with a deeper classifier of its own
# (``--model.classifier_trunk Conv2dGroupNormTrunk``).
