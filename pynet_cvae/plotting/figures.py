"""Matplotlib figures of pynet's ``plotting`` module: a history's curves and images.

:func:`plot_history` draws every value of a :class:`~pynet_cvae.history.History`,
:func:`plot_data` a few images of a batch. Both return the figure (pynet returned
nothing), so a script may save it; matplotlib is imported when they are first called.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["plot_history", "plot_data"]


def plot_history(history: Any, title: Optional[str] = None, columns: int = 3):
    """Plot each value of a history in its own panel, one curve per fold.

    Parameters
    ----------
    history : History
        A training or validation history (``History.load`` reads a saved one).
    title : str, optional
        The figure's title (by default the history's name).
    columns : int, default 3
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure: x is the epoch for ``(fold, epoch)`` steps, else the step.

    Raises
    ------
    ValueError
        If the history holds no value.
    """
    import matplotlib.pyplot as plt

    names = history.metrics
    if not names:
        raise ValueError(f"the {history.name} history holds no value to plot")
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, min(columns, len(names)), squeeze=False,
                                figsize=(4 * min(columns, len(names)), 3 * rows))
    for axis in axes.flat[len(names):]:
        axis.remove()
    for axis, name in zip(axes.flat, names):
        steps, values = history[name]
        for fold, (xs, ys) in _curves(steps, values).items():
            axis.plot(xs, ys, marker="o" if len(xs) < 20 else None,
                      label=None if fold is None else f"fold {fold}")
        axis.set_title(name)
        axis.set_xlabel("epoch" if steps and isinstance(steps[0], tuple) else "step")
        if axis.get_legend_handles_labels()[1] and len(axis.lines) > 1:
            axis.legend()
    figure.suptitle(title if title is not None else f"{history.name} history")
    figure.tight_layout()
    return figure


def _curves(steps: Sequence, values: Sequence[float]) -> dict:
    """``{fold: (epochs, values)}`` for ``(fold, epoch)`` steps, ``{None: ...}`` else."""
    curves: dict = {}
    for step, value in zip(steps, values):
        fold, x = (step[0], step[-1]) if isinstance(step, tuple) else (None, step)
        xs, ys = curves.setdefault(fold, ([], []))
        xs.append(x)
        ys.append(value)
    return curves


def _as_array(data: Any) -> np.ndarray:
    if hasattr(data, "detach"):  # a tensor, wherever it lives
        data = data.detach().cpu().numpy()
    return np.asarray(data)


def _slices_as_images(data: np.ndarray, slice_axis: int) -> np.ndarray:
    """``(N, C, X, Y, Z)`` volumes as ``(N * slices, C, a, b)`` images along an axis."""
    if slice_axis not in (0, 1, 2):
        raise ValueError(f"slice_axis {slice_axis!r} is invalid: expected 0, 1 or 2")
    moved = np.moveaxis(data, slice_axis + 2, 1)  # (N, slices, C, a, b)
    return moved.reshape((-1,) + moved.shape[2:])


def plot_data(data: Any, slice_axis: int = 2, nb_samples: int = 5, channel: int = 0,
              labels: Optional[Sequence[Any]] = None, random: bool = True,
              rgb: bool = False, title: Optional[str] = None, seed: Optional[int] = None):
    """Show a few images of a batch: one column per sample, one row per channel.

    Parameters
    ----------
    data : numpy.ndarray or torch.Tensor
        Images ``(N, C, H, W)`` or volumes ``(N, C, X, Y, Z)``, whose slices along
        ``slice_axis`` are then the images.
    slice_axis : int, default 2
        The axis of the volumes (0, 1 or 2 after the channel axis) to slice along.
    nb_samples : int, default 5
        The number of images shown.
    channel : int, default 0
        Only images with a positive value in this channel are shown.
    labels : sequence, optional
        A title per image of ``data`` (by default ``"Image <index>"``).
    random : bool, default True
        Pick the images at random (with ``seed``), else the first ones.
    rgb : bool, default False
        The 3 channels are the colours of one image (each shown rescaled to [0, 1]).
    title : str, optional
        The figure's title.
    seed : int, optional
        Seed of the random pick.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    ValueError
        If ``data`` is not 4-D or 5-D, ``rgb`` without 3 channels, or no image has a
        positive value in ``channel``.
    """
    import matplotlib.pyplot as plt

    data = _as_array(data)
    if data.ndim not in (4, 5):
        raise ValueError(f"data of shape {data.shape} is not supported: expected "
                         "(N, C, H, W) images or (N, C, X, Y, Z) volumes")
    if rgb and data.shape[1] != 3:
        raise ValueError(f"rgb=True needs 3 channels, got data of shape {data.shape}")
    if data.ndim == 5:
        data = _slices_as_images(data, slice_axis)
    valid = np.flatnonzero(data[:, channel].reshape(len(data), -1).max(axis=1) > 0)
    if not len(valid):
        raise ValueError(f"no image of data {data.shape} has a positive value in channel "
                         f"{channel}")
    count = min(nb_samples, len(valid))
    chosen = np.random.default_rng(seed).choice(valid, count, replace=False) if random \
        else valid[:count]
    rows = 1 if rgb else data.shape[1]
    figure, axes = plt.subplots(rows, count, squeeze=False, figsize=(2.4 * count, 2.4 * rows))
    for column, index in enumerate(chosen):
        for row in range(rows):
            axis = axes[row, column]
            axis.axis("off")
            if rgb:
                image = np.transpose(data[index], (1, 2, 0))
                span = image.max() - image.min()
                axis.imshow((image - image.min()) / (span if span > 0 else 1))
            else:
                axis.imshow(data[index, row], cmap="gray")
            if row == 0:
                axis.set_title(str(labels[index]) if labels is not None else f"Image {index}")
    if title is not None:
        figure.suptitle(title)
    return figure
