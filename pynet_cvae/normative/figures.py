"""Figures as neuroimagers read them: deviation maps over a brain, in world space.

:func:`plot_orthogonal` draws the sagittal, coronal and axial slices through one
point of a map (z-scores over a template or the subject's image, with ``|z|`` below a
threshold left transparent and, optionally, the outline of a mask such as a true
lesion); :func:`plot_slice_series` draws one slice of several maps side by side
(subjects, or one subject at several counterfactual ages). Arrays are on a grid
given by its affine; they are turned to the closest RAS orientation first, so left is
on the left (neurological convention) and axes are in millimetres.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["plot_orthogonal", "plot_slice_series", "peak_coordinates"]

_PLANES = {"sagittal": 0, "coronal": 1, "axial": 2}


def _canonical(volume: Optional[np.ndarray], affine: np.ndarray):
    """``volume`` and ``affine`` reoriented to the closest RAS axes."""
    from nibabel import orientations

    orientation = orientations.io_orientation(affine)
    if volume is None:
        return None, affine
    shape = np.shape(volume)
    turned = orientations.apply_orientation(np.asarray(volume), orientation)
    return turned, affine @ orientations.inv_ornt_aff(orientation, shape)


def peak_coordinates(volume: np.ndarray, affine: np.ndarray) -> Tuple[float, float, float]:
    """The world coordinates (mm) of the largest ``|value|`` of ``volume``."""
    index = np.unravel_index(int(np.nanargmax(np.abs(volume))), np.shape(volume))
    return tuple(float(value) for value in affine[:3, :3] @ np.array(index) + affine[:3, 3])


def _slice(volume: np.ndarray, affine: np.ndarray, plane: str, point) -> Tuple[np.ndarray, list]:
    """The 2-D slice through world ``point`` and its extent in mm (RAS volume)."""
    axis = _PLANES[plane]
    index = np.linalg.solve(affine[:3, :3], np.asarray(point, dtype=float) - affine[:3, 3])
    position = int(np.clip(np.round(index[axis]), 0, volume.shape[axis] - 1))
    section = np.take(volume, position, axis=axis)
    kept = [dimension for dimension in range(3) if dimension != axis]
    sizes = np.abs(np.diag(affine)[:3])
    low = affine[:3, 3]
    extent = []
    for dimension in kept:
        start = low[dimension] - sizes[dimension] / 2
        extent += [start, start + sizes[dimension] * volume.shape[dimension]]
    return section.T, extent


def _grey_range(images: Sequence[Optional[np.ndarray]]) -> Optional[Tuple[float, float]]:
    """One grey scale for brain images (0.5th to 99.5th percentile), so that slices and
    panels compare."""
    values = [np.asarray(image)[np.isfinite(image)] for image in images if image is not None]
    values = np.concatenate([value.ravel() for value in values]) if values else np.array([])
    if not values.size:
        return None
    low, high = np.percentile(values, [0.5, 99.5])
    return float(low), float(high if high > low else low + 1.0)


def _draw(axis, plane, point, volume, affine, background, threshold, vmax, contour,
          cmap, grey=None):
    if background is not None:
        section, extent = _slice(background, affine, plane, point)
        low, high = grey or (None, None)
        axis.imshow(section, origin="lower", cmap="gray", extent=extent,
                    interpolation="nearest", vmin=low, vmax=high)
    section, extent = _slice(volume, affine, plane, point)
    shown = np.ma.masked_where(~np.isfinite(section) | (np.abs(section) < threshold), section)
    image = axis.imshow(shown, origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax,
                        extent=extent, interpolation="nearest")
    if contour is not None:
        outline, extent = _slice(contour.astype(float), affine, plane, point)
        if outline.max() > 0:
            axis.contour(outline, levels=[0.5], colors="lime", linewidths=1.0,
                         extent=extent, origin="lower")
    coordinate = "xyz"[_PLANES[plane]]
    axis.set_title(f"{plane}, {coordinate} = {point[_PLANES[plane]]:.0f} mm", fontsize=9)
    axis.set_axis_off()
    axis.set_aspect("equal")
    return image


def plot_orthogonal(volume: np.ndarray, affine: np.ndarray,
                    background: Optional[np.ndarray] = None,
                    point: Optional[Sequence[float]] = None, threshold: float = 1.96,
                    vmax: Optional[float] = None, contour: Optional[np.ndarray] = None,
                    title: Optional[str] = None, cmap: str = "RdBu_r", axes=None):
    """Sagittal, coronal and axial slices of a map over a background.

    Parameters
    ----------
    volume : numpy.ndarray
        The ``(X, Y, Z)`` map (e.g. z-scores).
    affine : numpy.ndarray
        Its 4 x 4 affine (the background and contour share it).
    background : numpy.ndarray, optional
        A brain image drawn in grey beneath (a template, the subject's image).
    point : sequence of float, optional
        World coordinates (mm) of the cut; by default the largest ``|volume|``.
    threshold : float
        Values with ``|value| < threshold`` are transparent.
    vmax : float, optional
        The colour scale's limit (default: the largest ``|value|``).
    contour : numpy.ndarray, optional
        A mask drawn as an outline (e.g. the true lesion).
    title : str, optional
        The figure's title.
    cmap : str
        A diverging colour map.
    axes : sequence of three matplotlib axes, optional
        Where to draw (a new figure by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    volume, canonical = _canonical(volume, affine)
    background = _canonical(background, affine)[0]
    contour = _canonical(contour, affine)[0]
    point = peak_coordinates(volume, canonical) if point is None else tuple(point)
    vmax = float(np.nanmax(np.abs(volume))) if vmax is None else float(vmax)
    vmax = vmax if vmax > 0 else 1.0
    if axes is None:
        figure, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    figure = axes[0].figure
    grey = _grey_range([background])
    for axis, plane in zip(axes, _PLANES):
        image = _draw(axis, plane, point, volume, canonical, background, threshold, vmax,
                      contour, cmap, grey)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="z")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_slice_series(volumes: Sequence[np.ndarray], affine: np.ndarray,
                      titles: Sequence[str], background: Optional[np.ndarray] = None,
                      plane: str = "axial", point: Optional[Sequence[float]] = None,
                      threshold: float = 1.96, vmax: Optional[float] = None,
                      contours: Optional[Sequence[Optional[np.ndarray]]] = None,
                      cmap: str = "RdBu_r", backgrounds: Optional[Sequence[np.ndarray]] = None):
    """One slice (``plane`` through ``point``) of several maps side by side.

    ``background`` is drawn under every map, or ``backgrounds`` one per map (e.g. a
    subject's own images, with ``threshold=inf`` to show only them), all on one grey
    scale. Other
    parameters are those of :func:`plot_orthogonal`; the default point is the
    largest ``|value|`` of the first map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if plane not in _PLANES:
        raise ValueError(f"plane {plane!r} is invalid: expected one of {list(_PLANES)}")
    if len(titles) != len(volumes):
        raise ValueError(f"{len(titles)} titles for {len(volumes)} maps")
    turned = [_canonical(volume, affine)[0] for volume in volumes]
    canonical = _canonical(volumes[0], affine)[1]
    under = [background] * len(volumes) if backgrounds is None else list(backgrounds)
    under = [_canonical(image, affine)[0] for image in under]
    outlines = [None] * len(volumes) if contours is None else list(contours)
    outlines = [_canonical(outline, affine)[0] for outline in outlines]
    point = peak_coordinates(turned[0], canonical) if point is None else tuple(point)
    finite = [np.abs(volume[np.isfinite(volume)]).max() for volume in turned]
    vmax = float(max(finite)) if vmax is None else float(vmax)
    grey = _grey_range(under)
    figure, axes = plt.subplots(1, len(volumes), figsize=(2.4 * len(volumes), 2.8),
                                squeeze=False)
    for axis, volume, title, image, outline in zip(axes[0], turned, titles, under,
                                                   outlines):
        _draw(axis, plane, point, volume, canonical, image, threshold, vmax or 1.0,
              outline, cmap, grey)
        axis.set_title(title, fontsize=9)
    return figure
