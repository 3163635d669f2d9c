"""Image grids of generated samples, and writing them as PNG."""

from __future__ import annotations

import os

import numpy as np

from ...fileio import atomic_open

#: The most pixels a PNG grid may have (its colour image takes 32 bytes per pixel
#: while it is written).
MAX_GRID_PIXELS = 25_000_000


def make_grid(images: np.ndarray, nrow: int, padding: int = 1, pad_value: float = 1.0
              ) -> np.ndarray:
    """Tile images into one 2-D array, ``nrow`` images per row.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W)`` or ``(N, 1, H, W)`` gray images.
    nrow : int
        The number of images per row of the grid.
    padding : int, default 1
        Pixels between images.
    pad_value : float, default 1.0
        The value of the padding pixels.

    Returns
    -------
    numpy.ndarray
        A ``(rows * (H + padding) + padding, nrow * (W + padding) + padding)`` array.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got "
                         f"{images.shape}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    count, height, width = images.shape
    rows = -(-count // nrow)
    grid = np.full((rows * (height + padding) + padding, nrow * (width + padding) + padding),
                   pad_value, dtype=np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, nrow)
        top = padding + row * (height + padding)
        left = padding + column * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def save_grid_png(path: str, grid: np.ndarray, scale: int = 4) -> str:
    """Write a 2-D grid of values in [0, 1] as a gray PNG, atomically.

    Parameters
    ----------
    path : str
        The PNG file; its directory is created if needed.
    grid : numpy.ndarray
        A 2-D array (see :func:`make_grid`).
    scale : int, default 4
        Each pixel becomes a ``scale x scale`` block, so small images stay visible.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        When ``scale`` is not an integer >= 1, or the image would have more than
        :data:`MAX_GRID_PIXELS` pixels (checked before anything is allocated).
    """
    from matplotlib.image import imsave

    grid = np.asarray(grid, dtype=np.float32)
    if grid.ndim != 2:
        raise ValueError(f"expected a 2-D grid, got shape {grid.shape}")
    _check_size(grid.shape, scale)
    if scale > 1:
        grid = np.kron(grid, np.ones((scale, scale), dtype=np.float32))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_open(path, "wb") as stream:
        imsave(stream, np.clip(grid, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0,
               format="png")
    return path


def _check_size(shape: tuple, scale: int) -> None:
    """Refuse a ``scale`` that makes the PNG larger than :data:`MAX_GRID_PIXELS`."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    height, width = shape[0] * scale, shape[1] * scale
    if height * width <= MAX_GRID_PIXELS:
        return
    largest = max(1, int((MAX_GRID_PIXELS / (shape[0] * shape[1])) ** 0.5))
    raise ValueError(f"scale {scale} makes a {width} x {height} pixel image "
                     f"({height * width / 1e6:,.0f} megapixels): expected at most "
                     f"{MAX_GRID_PIXELS / 1e6:g} megapixels; lower the scale (at most "
                     f"{largest} for this grid)")
