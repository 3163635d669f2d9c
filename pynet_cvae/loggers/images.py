"""Images for the loggers: one array layout in, one grid out."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plotting.values import as_array


def as_images(images: Any) -> np.ndarray:
    """Return ``images`` as an ``N x C x H x W`` float32 array of values in [0, 1].

    Parameters
    ----------
    images : array-like or torch.Tensor
        One gray image ``H x W``, gray images ``N x H x W``, or images
        ``N x 1 x H x W`` / ``N x 3 x H x W``; values in [0, 1], or in [0, 255]
        when any value is above 1 (the :class:`~pynet_cvae.plotting.Board`'s
        convention). Non-finite values become 0.

    Returns
    -------
    numpy.ndarray
        The images, ``N x C x H x W`` with ``C`` 1 or 3.

    Raises
    ------
    ValueError
        If the array has another shape, or holds no image.
    """
    array = as_array(images)
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3) or 0 in array.shape:
        raise ValueError(
            "images must be H x W, N x H x W, N x 1 x H x W or N x 3 x H x W with at "
            f"least one pixel; got shape {tuple(as_array(images).shape)}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"images must hold numbers, got dtype {array.dtype}")
    array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if array.max() > 1.0:
        array = array / 255.0
    return np.clip(array, 0.0, 1.0)


def tile_images(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile images into one ``H x W x 3`` uint8 picture, ``nrow`` images per row.

    Parameters
    ----------
    images : numpy.ndarray
        ``N x C x H x W`` values in [0, 1] (see :func:`as_images`).
    nrow : int, default 8
        The number of images per row.
    padding : int, default 2
        White pixels between and around the images.

    Returns
    -------
    numpy.ndarray
        The grid, RGB, ``uint8``.
    """
    count, channels, height, width = images.shape
    columns = min(nrow, count)
    rows = -(-count // columns)
    grid = np.ones((rows * (height + padding) + padding,
                    columns * (width + padding) + padding, 3), dtype=np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top = padding + row * (height + padding)
        left = padding + column * (width + padding)
        grid[top:top + height, left:left + width] = np.moveaxis(image, 0, -1)
    return np.round(grid * 255.0).astype(np.uint8)
