"""Images on a grid of chosen voxel size, in world (scanner or template) coordinates.

A :class:`Grid` is a voxel shape and the affine that maps voxel indices to world
millimetres. :func:`grid_with_voxel_size` keeps an image's field of view and
orientation with other voxel sizes; :func:`resample` gives an image's values at the
voxel centres of any grid (its inverse, back to the image's own grid, is the same
call). When a grid's voxels are larger than the image's, the image is first smoothed
with a Gaussian whose full width at half maximum is ``sqrt(target^2 - source^2)``
along each axis, so that a coarse voxel averages what it covers instead of picking
one fine voxel (aliasing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple, Union

import numpy as np

__all__ = ["Grid", "grid_with_voxel_size", "voxel_sizes", "resample", "check_voxel_size"]

#: Interpolation orders :func:`resample` accepts: nearest neighbour (labels, masks),
#: trilinear, cubic spline.
ORDERS = (0, 1, 3)
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class Grid:
    """A voxel grid in world space.

    Attributes
    ----------
    shape : tuple of int
        The number of voxels along each of the three axes.
    affine : numpy.ndarray
        The 4 x 4 matrix mapping voxel indices ``(i, j, k, 1)`` to millimetres.
    """

    shape: Tuple[int, int, int]
    affine: np.ndarray

    def __post_init__(self) -> None:
        shape = tuple(int(size) for size in self.shape)
        affine = np.asarray(self.affine, dtype=np.float64)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"grid shape {self.shape!r} is invalid: expected three sizes >= 1")
        if affine.shape != (4, 4) or not np.isfinite(affine).all() or \
                abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError(f"grid affine {self.affine!r} is invalid: expected an invertible, "
                             "finite 4 x 4 matrix")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "affine", affine)

    @property
    def voxel_sizes(self) -> Tuple[float, float, float]:
        """The voxel size along each axis, in millimetres."""
        return voxel_sizes(self.affine)

    @property
    def voxel_volume(self) -> float:
        """The volume of one voxel, in cubic millimetres."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def same_as(self, other: "Grid", atol: float = 1e-4) -> bool:
        """Whether ``other`` has the same shape and (to ``atol`` mm) the same affine."""
        return self.shape == other.shape and np.allclose(self.affine, other.affine, atol=atol)


def voxel_sizes(affine: np.ndarray) -> Tuple[float, float, float]:
    """The voxel sizes (mm) of an affine: the lengths of its first three columns."""
    sizes = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    return tuple(float(size) for size in sizes)


def check_voxel_size(voxel_size: Union[float, Sequence[float]]) -> Tuple[float, float, float]:
    """``voxel_size`` (one number or three) as three positive millimetre sizes."""
    try:
        sizes = np.asarray(voxel_size, dtype=np.float64)
    except (TypeError, ValueError):
        sizes = np.array([np.nan])
    sizes = np.broadcast_to(sizes, (3,)) if sizes.ndim == 0 else sizes
    if sizes.shape != (3,) or not np.isfinite(sizes).all() or (sizes <= 0).any():
        raise ValueError(f"voxel_size {voxel_size!r} is invalid: expected one size in mm > 0 "
                         "or three of them")
    return tuple(float(size) for size in sizes)


def grid_with_voxel_size(shape: Sequence[int], affine: np.ndarray,
                         voxel_size: Union[float, Sequence[float]]) -> Grid:
    """The grid covering the field of view of ``(shape, affine)`` with other voxels.

    The axes keep their directions; each axis gets ``round(extent / size)`` voxels
    (at least one), ``extent`` being the field of view in mm, and the new grid is
    centred on the old one.

    Parameters
    ----------
    shape : sequence of int
        The image's three spatial sizes.
    affine : numpy.ndarray
        The image's 4 x 4 affine.
    voxel_size : float or sequence of float
        The new voxel size(s), in millimetres.

    Returns
    -------
    Grid
    """
    source = Grid(tuple(shape)[:3], affine)
    sizes = np.array(check_voxel_size(voxel_size))
    old_sizes = np.array(source.voxel_sizes)
    old_shape = np.array(source.shape, dtype=np.float64)
    new_shape = np.maximum(1, np.round(old_shape * old_sizes / sizes)).astype(int)
    directions = source.affine[:3, :3] / old_sizes
    linear = directions * sizes
    centre = source.affine[:3, :3] @ ((old_shape - 1) / 2) + source.affine[:3, 3]
    new_affine = np.eye(4)
    new_affine[:3, :3] = linear
    new_affine[:3, 3] = centre - linear @ ((new_shape - 1) / 2)
    return Grid(tuple(new_shape), new_affine)


def _antialiasing_sigmas(mapping: np.ndarray) -> np.ndarray:
    """Gaussian sigmas (in source voxels) matching the target voxel footprint."""
    footprint = np.abs(mapping[:3, :3]).max(axis=1)  # target voxel step, in source voxels
    return np.sqrt(np.maximum(footprint ** 2 - 1.0, 0.0)) / _FWHM_PER_SIGMA


def resample(data: np.ndarray, affine: np.ndarray, grid: Grid, order: int = 1,
             antialias: bool = True, fill: float = 0.0) -> np.ndarray:
    """The values of an image at the voxel centres of ``grid``.

    Parameters
    ----------
    data : numpy.ndarray
        The image, ``(X, Y, Z)`` or ``(X, Y, Z, C)`` (each channel resampled alike).
    affine : numpy.ndarray
        Its 4 x 4 affine.
    grid : Grid
        Where to sample it.
    order : int
        0 (nearest neighbour: labels and masks), 1 (trilinear) or 3 (cubic spline).
    antialias : bool
        Smooth before sampling onto larger voxels (never with ``order=0``).
    fill : float
        The value of grid voxels outside the image.

    Returns
    -------
    numpy.ndarray
        float32 (``data``'s type for ``order=0``), shape ``grid.shape`` (plus ``C``).
    """
    from scipy import ndimage

    if order not in ORDERS:
        raise ValueError(f"order {order!r} is invalid: expected one of {ORDERS}")
    data = np.asanyarray(data)
    if data.ndim == 4:
        return np.stack([resample(data[..., channel], affine, grid, order, antialias, fill)
                         for channel in range(data.shape[3])], axis=-1)
    if data.ndim != 3:
        raise ValueError(f"an image of shape {data.shape} cannot be resampled: expected 3 "
                         "spatial axes (and optionally channels on a 4th)")
    source = Grid(data.shape, affine)
    mapping = np.linalg.inv(source.affine) @ grid.affine
    if order == 0:
        values = data
    else:
        values = np.asarray(data, dtype=np.float32)
        sigmas = _antialiasing_sigmas(mapping)
        if antialias and (sigmas > 0).any():
            values = ndimage.gaussian_filter(values, sigmas, mode="nearest")
    if grid.same_as(source):
        return np.array(values, dtype=values.dtype if order == 0 else np.float32)
    return ndimage.affine_transform(values, mapping[:3, :3], offset=mapping[:3, 3],
                                    output_shape=grid.shape, order=order, mode="constant",
                                    cval=fill, prefilter=order > 1)
