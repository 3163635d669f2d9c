"""Data sets with a synthetic covariate the images truly depend on.

A continuous covariate is only worth conditioning on when the images change with
it. :func:`fetch_thick_digits` makes one from the embedded digits: each image's
strokes are thickened by an amount drawn at random, and the amount is written in
the metadata beside the class, so a model conditioned on it can be asked for thin
or thick digits and the answer measured (:func:`ink`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from scipy import ndimage

from ..fileio import atomic_path
from ..registry import Fetchers
from .fetchers import Item, PathLike, _item, _write_metadata, default_data_dir, fetch_digits
from .prepared import is_prepared, record_prepared

__all__ = ["thicken", "ink", "fetch_thick_digits"]

#: The pixels a stroke grows into: the four neighbours of each pixel.
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def thicken(images: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """Thicken the strokes of gray images by a continuous amount.

    Each image becomes ``max(image, amount * dilation(image))``: the strokes grow by
    one pixel (into their four neighbours) with the intensity ``amount`` times that
    of the stroke they grow from, so 0 leaves the image as it is and 1 thickens it
    fully.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W)`` or ``(N, 1, H, W)`` images in [0, 1].
    amounts : numpy.ndarray
        ``(N,)`` amounts in [0, 1].

    Returns
    -------
    numpy.ndarray
        The thickened images, of the input's shape, float32.
    """
    images = np.asarray(images, dtype=np.float32)
    amounts = np.asarray(amounts, dtype=np.float32).reshape(-1)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[1] != 1):
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got "
                         f"{images.shape}")
    if amounts.shape[0] != images.shape[0]:
        raise ValueError(f"expected one amount per image ({images.shape[0]}), got "
                         f"{amounts.shape[0]}")
    if amounts.size and not (np.all(amounts >= 0) and np.all(amounts <= 1)):
        raise ValueError(f"amounts must lie in [0, 1], got values from {amounts.min()} to "
                         f"{amounts.max()}")
    pictures = images.reshape(images.shape[0], *images.shape[-2:])
    grown = np.stack([ndimage.grey_dilation(picture, footprint=_CROSS)
                      for picture in pictures]) if len(pictures) else pictures
    thick = np.maximum(pictures, amounts[:, None, None] * grown)
    return thick.reshape(images.shape).astype(np.float32)


def ink(images: np.ndarray) -> np.ndarray:
    """The mean intensity of each image: how much ink its strokes hold.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        ``(N, ...)`` images.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float64 means.
    """
    values = np.asarray(images, dtype=np.float64)
    return values.reshape(values.shape[0], -1).mean(axis=1)


@Fetchers.register
def fetch_thick_digits(datasetdir: Optional[PathLike] = None, seed: int = 0) -> Item:
    """The embedded digits with a synthetic stroke thickness, a continuous covariate.

    The images and splits of :func:`~pynet_cvae.datasets.fetch_digits` (1,437
    training then 360 test 8x8 images), each thickened (:func:`thicken`) by an
    amount drawn uniformly in [0, 1] with ``seed``. The table has the columns
    ``label``, ``split``, ``source_index`` and ``thickness`` (the amount).

    Parameters
    ----------
    datasetdir : str or path-like, optional
        The folder where the data set is prepared; by default
        :func:`~pynet_cvae.datasets.fetchers.default_data_dir` ``("thick_digits")``.
    seed : int, default 0
        The seed of the amounts (each seed's files have their own names).

    Returns
    -------
    Item
        ``(input_path, output_path=None, metadata_path)``.
    """
    import pandas as pd

    directory = (Path(datasetdir).expanduser() if datasetdir
                 else default_data_dir("thick_digits"))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    item = _item(directory, f"thick_digits_seed{seed}")
    if is_prepared(item):
        return item
    digits = fetch_digits(directory / "source")
    images = np.load(digits.input_path)
    table = pd.read_csv(digits.metadata_path, sep="\t")
    amounts = np.random.default_rng(seed).uniform(0.0, 1.0, size=len(table)).round(6)
    with atomic_path(item.input_path) as temporary:
        with open(temporary, "wb") as stream:
            np.save(stream, thicken(images, amounts))
    table["thickness"] = amounts
    _write_metadata(item.metadata_path, {name: table[name].to_numpy() for name in table})
    record_prepared(item)
    return item
