"""The benchmark's data: the first N Fashion-MNIST training images.

The parent process prepares them once, as a user's data set: an ``.npy`` array of
``(N, 1, 28, 28)`` float32 images in [0, 1] and a TSV with a ``label`` column. The
DataManager contenders read these files (memory-mapped, as users do); the others
load them whole into tensors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional, Tuple

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch

FASHION_MNIST_TRAIN_IMAGES = 60000


class DataFiles(NamedTuple):
    """The prepared data set: its array, its table and its number of samples."""

    input_path: str
    metadata_path: str
    samples: int


def prepare_data(data_dir: Optional[str], samples: int, workdir: str) -> DataFiles:
    """Write the first ``samples`` Fashion-MNIST training images to ``workdir``.

    Parameters
    ----------
    data_dir : str, optional
        Where :func:`pynet_cvae.datasets.fetch_fashion_mnist` prepares the full data
        set (reused between runs); the per-user cache folder when None. The IDX files
        are taken from Debian's ``dataset-fashion-mnist`` when installed.
    samples : int
        How many training images to keep, in [1, 60000].
    workdir : str
        A folder for the two files.

    Returns
    -------
    DataFiles
    """
    from pynet_cvae.datasets import fetch_fashion_mnist
    from pynet_cvae.datasets.fetchers import default_data_dir

    if not 1 <= samples <= FASHION_MNIST_TRAIN_IMAGES:
        raise ValueError(f"samples {samples!r} out of range: expected an int in "
                         f"[1, {FASHION_MNIST_TRAIN_IMAGES}]")
    folder = data_dir if data_dir is not None else default_data_dir("fashion-mnist")
    item = fetch_fashion_mnist(folder)
    images = np.load(item.input_path, mmap_mode="r")
    metadata = pd.read_csv(item.metadata_path, sep="\t")
    rows = np.flatnonzero(metadata["split"].to_numpy() == "train")[:samples]
    input_path = os.path.join(workdir, "fashion_mnist_train.npy")
    metadata_path = os.path.join(workdir, "fashion_mnist_train.tsv")
    np.save(input_path, np.ascontiguousarray(images[rows], dtype=np.float32))
    metadata.iloc[rows][["label"]].to_csv(metadata_path, sep="\t", index=False)
    return DataFiles(str(Path(input_path)), str(Path(metadata_path)), len(rows))


def load_tensors(files: DataFiles, device: str = "cpu") -> Tuple["torch.Tensor", "torch.Tensor"]:
    """The whole data set as ``(images (N, 784) float32, labels (N,) int64)`` tensors."""
    import torch

    images = np.load(files.input_path).reshape(files.samples, -1)
    labels = np.array(pd.read_csv(files.metadata_path, sep="\t")["label"], dtype=np.int64)
    return (torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device))
