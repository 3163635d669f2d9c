"""Turn the values of an epoch into what a board draws: numbers and images."""

from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np


def as_scalar(value: Any) -> Optional[float]:
    """Return ``value`` as a float when it is a real number or holds one element."""
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)) and value.size == 1:
        if np.issubdtype(value.dtype, np.number) or value.dtype == bool:
            return float(value.reshape(()))
    return None


def as_array(value: Any) -> np.ndarray:
    """Return a NumPy array from an array, a tensor (on any device) or a list."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_images(images: np.ndarray, source: str) -> None:
    """Raise a clear error unless ``images`` is N x 1 x H x W or N x 3 x H x W."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"{source} must give an N x 1 x H x W or N x 3 x H x W array of "
            f"images; got shape {tuple(images.shape)}")


def images_from_flat(predictions: Any, image_shape: Tuple[int, int], count: int = 8,
                     zoom: int = 4) -> np.ndarray:
    """Turn flat predictions into images for :meth:`Board.show_predictions`.

    Parameters
    ----------
    predictions : array-like
        ``(N, height * width)`` values in [0, 1] (e.g. a VAE's reconstructions).
    image_shape : tuple of int
        ``(height, width)``.
    count : int, default 8
        How many of the first predictions to show.
    zoom : int, default 4
        The magnification (each pixel becomes ``zoom x zoom``).

    Returns
    -------
    numpy.ndarray
        ``(count, 1, height * zoom, width * zoom)`` values in [0, 255].

    Raises
    ------
    ValueError
        When a prediction does not hold ``height * width`` values.
    """
    flat = as_array(predictions)[:count]
    height, width = image_shape
    if flat.ndim < 2 or flat[0].size != height * width:
        raise ValueError(f"predictions of shape {tuple(flat.shape)} do not hold images "
                         f"of shape {tuple(image_shape)}")
    images = flat.reshape(-1, 1, height, width).astype(np.float32)
    images = images.repeat(zoom, axis=2).repeat(zoom, axis=3)
    return np.clip(images, 0.0, 1.0) * 255.0
