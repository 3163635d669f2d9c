"""Turn the values of an epoch into what a board draws: numbers and images."""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional, Tuple

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


LEARNING_RATE = "lr"
"""The name under which :func:`epoch_values` reports the learning rate."""

_SKIPPED_KEYS = ("epoch", "fold", "scheduler")


def learning_rate(emitter: Any, scheduler: Any = None) -> Optional[float]:
    """Return the current learning rate of the scheduler's (or emitter's) optimizer.

    Parameters
    ----------
    emitter : object
        The signal's emitter; its ``optimizer`` is read when ``scheduler`` has none.
    scheduler : object, optional
        A learning-rate scheduler with an ``optimizer`` attribute.

    Returns
    -------
    float or None
        The learning rate of the first parameter group; None without an optimizer.
    """
    optimizer = getattr(scheduler, "optimizer", None) or getattr(emitter, "optimizer",
                                                                 None)
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        return None
    return float(groups[0]["lr"])


def epoch_values(signal: Any) -> Dict[str, Any]:
    """The values of an ``after_epoch`` signal that a board or a logger shows.

    Parameters
    ----------
    signal : signal object
        The emitted signal (``object``, ``keys`` and one attribute per key).

    Returns
    -------
    dict
        Every value named in ``signal.keys`` except ``epoch``, ``fold`` and
        ``scheduler``, and the learning rate as ``"lr"`` (see
        :func:`learning_rate`) when there is an optimizer.
    """
    data = {key: getattr(signal, key) for key in signal.keys if key not in _SKIPPED_KEYS}
    rate = learning_rate(signal.object, getattr(signal, "scheduler", None))
    if rate is not None:
        data[LEARNING_RATE] = rate
    return data


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
