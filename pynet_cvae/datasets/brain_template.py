"""The MNI152 brain template that nilearn ships, as tissue maps on a chosen grid.

nilearn's wheel carries the ICBM 2009a symmetric MNI152 template at 1 mm: a
skull-stripped T1 image and grey-matter and white-matter probability maps. From
them :func:`load_mni152` derives, at 1 mm, the cerebrospinal fluid (what lies inside
the brain and is neither grey nor white matter) and the lateral ventricles (of the
large connected regions of fluid deep inside the brain, the one with the most volume
away from the midline: the fissure and the cisterns lie on it), then brings every
map onto a grid of the chosen voxel size covering the template's field of view
(:func:`~pynet_cvae.datasets.resampling.resample`, anti-aliased, so a map's value is
the fraction of the voxel the tissue fills). nilearn is needed
(``pip install pynet-cvae[brain]``); nothing is downloaded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence, Tuple, Union

import numpy as np

from .resampling import Grid, check_voxel_size, grid_with_voxel_size, resample

__all__ = ["BrainTemplate", "load_mni152"]

#: How deep (mm) a region of fluid must lie inside the brain to be a ventricle candidate.
_VENTRICLE_DEPTH_MM = 12
#: Voxels within this distance (mm) of the midline plane x = 0 do not count for
#: choosing the ventricles.
_MIDLINE_MM = 4.0


@dataclass(frozen=True)
class BrainTemplate:
    """Tissue fraction maps of a brain template on one grid.

    Attributes
    ----------
    grid : Grid
        The grid of every map (world coordinates in MNI millimetres).
    t1 : numpy.ndarray
        The template's T1 image, scaled to [0, 1].
    grey_matter, white_matter, csf : numpy.ndarray
        The fraction of each voxel filled by each tissue (their sum is the brain).
    ventricles : numpy.ndarray
        The fraction of each voxel filled by the lateral ventricles (part of ``csf``).
    """

    grid: Grid
    t1: np.ndarray
    grey_matter: np.ndarray
    white_matter: np.ndarray
    csf: np.ndarray
    ventricles: np.ndarray

    @property
    def brain_mask(self) -> np.ndarray:
        """Voxels at least half filled by brain tissue or fluid."""
        return (self.grey_matter + self.white_matter + self.csf) >= 0.5

    def volume_ml(self, fraction: np.ndarray) -> float:
        """The volume (ml) of a fraction map on this grid."""
        return float(np.sum(fraction, dtype=np.float64) * self.grid.voxel_volume / 1000.0)


def _nilearn_images():
    try:
        from nilearn import datasets
    except ImportError as error:
        raise ImportError("the MNI152 template comes from nilearn, which is not installed: "
                          "pip install 'pynet-cvae[brain]' (or pip install nilearn)") from error
    return (datasets.load_mni152_template(resolution=1),
            datasets.load_mni152_gm_template(resolution=1),
            datasets.load_mni152_wm_template(resolution=1))


def _lateral_ventricles(csf: np.ndarray, inside: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The 1 mm mask of the lateral ventricles (see the module's description)."""
    from scipy import ndimage

    deep = ndimage.binary_erosion(inside, iterations=_VENTRICLE_DEPTH_MM)
    labels, count = ndimage.label((csf > 0.5) & deep)
    if count == 0:
        raise ValueError("the template has no fluid deep inside the brain: expected the "
                         "lateral ventricles")
    x_mm = affine[0, 0] * np.arange(csf.shape[0]) + affine[0, 3]
    lateral = np.broadcast_to((np.abs(x_mm) > _MIDLINE_MM)[:, None, None], csf.shape)
    off_midline = ndimage.sum(lateral, labels, index=np.arange(1, count + 1))
    return labels == int(np.argmax(off_midline)) + 1


def load_mni152(voxel_size: Union[float, Sequence[float]] = 4.0) -> BrainTemplate:
    """The MNI152 template's tissue maps on a grid of ``voxel_size`` mm.

    The last few templates made are kept (their maps are read-only), so a second
    call with the same voxel size costs nothing.

    Parameters
    ----------
    voxel_size : float or sequence of float
        The voxel size of the maps, in millimetres (the template is 1 mm).

    Returns
    -------
    BrainTemplate
    """
    return _load_mni152(check_voxel_size(voxel_size))


@functools.lru_cache(maxsize=4)
def _load_mni152(voxel_size: Tuple[float, float, float]) -> BrainTemplate:
    t1, grey, white = _nilearn_images()
    affine = t1.affine
    t1_data = np.asarray(t1.get_fdata(dtype=np.float32))
    t1_data /= max(float(t1_data.max()), 1e-6)
    grey_data = np.asarray(grey.get_fdata(dtype=np.float32))
    white_data = np.asarray(white.get_fdata(dtype=np.float32))
    inside = t1_data > 0
    csf = np.clip(inside - grey_data - white_data, 0.0, 1.0).astype(np.float32)
    ventricles = _lateral_ventricles(csf, inside, affine).astype(np.float32) * csf
    grid = grid_with_voxel_size(t1.shape, affine, voxel_size)
    maps = [np.clip(resample(data, affine, grid), 0.0, 1.0)
            for data in (t1_data, grey_data, white_data, csf, ventricles)]
    for data in maps:
        data.flags.writeable = False
    return BrainTemplate(grid, *maps)
