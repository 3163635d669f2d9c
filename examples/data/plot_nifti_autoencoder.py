"""
NIfTI images: train on volumes, write predictions back
======================================================

Neuroimaging data come as NIfTI images. :func:`~pynet_cvae.datasets.nifti.fetch_nifti`
converts them, once, into the memory-mapped ``.npy`` and the metadata table that a
:class:`~pynet_cvae.datasets.DataManager` reads, and keeps each image's affine and
header so that :func:`~pynet_cvae.datasets.nifti.write_nifti` can write results back
as NIfTI images in the same space. We use the small 4D image that nibabel ships with
its tests (``functional.nii``: 20 volumes of 17 x 21 x 3 voxels), one sample per
volume, and train a small autoencoder on it. ``PYNET_CVAE_EXAMPLE_EPOCHS`` lowers
the number of epochs for a quick build.
"""

# %%
# Convert the image
# -----------------
#
# The first call converts; later calls reuse the files while the image is
# unchanged. A table with a column of image paths works the same way
# (``fetch_nifti("participants.tsv", image_column="t1")``), one sample per image.

import os
import tempfile

import matplotlib.pyplot as plt
import nibabel
import numpy as np
import torch
from nibabel.testing import data_path

from pynet_cvae.datasets import DataManager
from pynet_cvae.datasets import fetch_nifti, write_nifti
from pynet_cvae.datasets import Flatten, Standardize
from pynet_cvae.interfaces import DeepLearningInterface

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "30"))
torch.manual_seed(0)

source = os.path.join(data_path, "functional.nii")
workdir = tempfile.mkdtemp(prefix="pynet_cvae_nifti_")
item = fetch_nifti(source, datasetdir=workdir)
volumes = np.load(item.input_path, mmap_mode="r")
print(item)
print("samples:", volumes.shape)

# %%
# Train an autoencoder
# --------------------
#
# Each volume is standardised and flattened in the loader (both transforms are
# batch-capable: they run once per mini-batch); ``add_input=True`` makes it its own
# target. Four volumes are held out as the test set.

manager = DataManager(item.input_path, item.metadata_path, number_of_folds=4,
                      test_size=0.2, batch_size=4, add_input=True,
                      input_transforms=[Standardize(), Flatten()])
voxels = int(np.prod(volumes.shape[1:]))
model = torch.nn.Sequential(torch.nn.Linear(voxels, 16), torch.nn.ReLU(),
                            torch.nn.Linear(16, voxels))
interface = DeepLearningInterface(model=model, loss_name="MSELoss", learning_rate=1e-2,
                                  progress=False)
train_history, validation_history = interface.training(manager, nb_epochs=NB_EPOCHS,
                                                       fold_index=0)

fig, axis = plt.subplots(figsize=(5, 3))
for history in (train_history, validation_history):
    steps, values = history["loss"]
    axis.plot([epoch for _, epoch in steps], values, label=history.name)
axis.set_xlabel("epoch")
axis.set_ylabel("mean squared error")
axis.legend()
fig.tight_layout()

# %%
# Write the predictions back as NIfTI
# -----------------------------------
#
# The test set's reconstructions go back into one 4D image, one volume per test
# row, with the source's affine: any NIfTI viewer overlays it on the source.

y_pred, _, _, loss, _ = interface.testing(manager)
rows = manager["test"].indices
paths = write_nifti(y_pred, item.reference_path, os.path.join(workdir, "predictions"),
                    rows=rows)
written = nibabel.load(paths[0])
print(paths[0], written.shape, "test loss", round(loss, 3))
assert np.allclose(written.affine, nibabel.load(source).affine)

standardized = Standardize()(np.asarray(volumes[rows]))
fig, axes = plt.subplots(2, len(rows), figsize=(2 * len(rows), 4))
for column, row in enumerate(rows):
    axes[0, column].imshow(standardized[column, 0, :, :, 1].T, origin="lower", cmap="gray")
    axes[0, column].set_title(f"volume {row}")
    axes[1, column].imshow(written.get_fdata()[:, :, 1, column].T, origin="lower",
                           cmap="gray")
    axes[1, column].set_title("reconstruction")
for axis in axes.ravel():
    axis.axis("off")
fig.tight_layout()
