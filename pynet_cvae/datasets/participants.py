"""A BIDS participants table of brain images as a data set with covariates and a mask.

:func:`fetch_participants` reads a tab-separated table with one row per subject, a
column of NIfTI paths and covariate columns (``participants.tsv``, e.g.
``participant_id``, ``t1``, ``age``, ``sex``, ``site``), checks the covariates, and
converts the images with :func:`~pynet_cvae.datasets.nifti.fetch_nifti` (optionally
resampled to ``voxel_size``), beside the table: the memory-mapped ``.npy`` that a
:class:`~pynet_cvae.datasets.manager.DataManager` reads, the table, and the reference
that writes results back as NIfTI. It adds a brain mask on the data's grid,
``<name>_mask.nii.gz``: computed from the images (``mask="auto"``), or a given mask
image resampled onto the grid. A JSON sidecar records how the mask was made, so that
a later call reuses it while neither the images nor the options changed.
"""

from __future__ import annotations

import json
import logging
import os
from collections import namedtuple
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..fileio import atomic_write_text
from ..registry import Fetchers
from .mapped import release_pages
from .nifti import PathLike, fetch_nifti
from .nifti_space import NiftiReference, save_image
from .resampling import Grid, resample
from .validation import check_columns

logger = logging.getLogger("pynet_cvae")

__all__ = ["ParticipantsItem", "fetch_participants", "image_column_of", "check_covariates",
           "compute_brain_mask", "load_mask", "mask_on_grid"]

#: What :func:`fetch_participants` returns: :class:`~pynet_cvae.datasets.nifti.NiftiItem`
#: and the mask image (None with ``mask=None``).
ParticipantsItem = namedtuple("ParticipantsItem", ["input_path", "output_path",
                                                   "metadata_path", "reference_path",
                                                   "mask_path"])

#: Rows of images averaged at a time by :func:`compute_brain_mask`.
_MASK_CHUNK_ROWS = 16


def check_covariates(table: pd.DataFrame, covariates: Sequence[str],
                     categorical: Sequence[str] = (), where: str = "table") -> None:
    """Check covariate columns: continuous ones numeric and finite, categorical ones
    without empty cells.

    Raises
    ------
    ValueError
        Naming the column and the first bad row.
    """
    covariates, categorical = list(covariates), list(categorical)
    check_columns(table, covariates, "covariates")
    stray = [column for column in categorical if column not in covariates]
    if stray:
        raise ValueError(f"categorical columns {stray} are not covariates {covariates}: "
                         "expected a subset of them")
    for column in covariates:
        values = table[column]
        if column in categorical:
            empty = values.isna() | (values.astype(str).str.strip() == "")
            if empty.any():
                raise ValueError(f"categorical covariate {column!r} of {where} is empty in "
                                 f"row {int(np.flatnonzero(empty)[0])}: expected a category "
                                 "for every subject")
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"continuous covariate {column!r} of {where} holds "
                             f"{values.iloc[row]!r} in row {row}: expected a finite number "
                             f"for every subject (or list {column!r} in categorical)")


def image_column_of(table: PathLike) -> str:
    """The column of a participants table whose every cell is a NIfTI path.

    Parameters
    ----------
    table : str or path-like
        The tab-separated participants table.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When no column, or more than one, holds a ``.nii`` or ``.nii.gz`` path in
        every row (a column with empty cells, such as lesion masks, never counts).
    """
    frame = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    found = [column for column in frame.columns if len(frame) and frame[column].str.strip()
             .str.lower().str.endswith((".nii", ".nii.gz")).all()]
    if len(found) != 1:
        raise ValueError(f"table {str(table)!r} has {len(found)} columns of NIfTI paths in "
                         f"every row ({found}): expected exactly one, the images")
    return found[0]


def compute_brain_mask(inputs: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """The brain of a data set: where its mean image is bright enough.

    The mean image over subjects (and channels) is read in chunks of rows, so memory
    stays bounded. Voxels above ``threshold`` times the mean image's 99th percentile
    are kept, then the largest connected region, with its holes filled.

    Parameters
    ----------
    inputs : numpy.ndarray
        ``(N, C, X, Y, Z)`` images (e.g. memory-mapped).
    threshold : float
        In (0, 1): the fraction of the bright intensity a brain voxel has at least.

    Returns
    -------
    numpy.ndarray
        A boolean ``(X, Y, Z)`` mask.
    """
    from scipy import ndimage

    if not 0 < threshold < 1:
        raise ValueError(f"mask threshold {threshold!r} is invalid: expected a number in "
                         "(0, 1)")
    total = np.zeros(inputs.shape[2:], dtype=np.float64)
    for start in range(0, len(inputs), _MASK_CHUNK_ROWS):
        total += np.asarray(inputs[start:start + _MASK_CHUNK_ROWS], dtype=np.float64).sum(
            axis=(0, 1))
        release_pages(inputs)
    mean = total / (len(inputs) * inputs.shape[1])
    bright = np.percentile(mean, 99)
    if not bright > 0:
        raise ValueError("the images are empty (their mean image is nowhere positive): "
                         "expected brain images")
    labels, count = ndimage.label(mean > threshold * bright)
    largest = np.argmax(np.bincount(labels.reshape(-1))[1:]) + 1
    return ndimage.binary_fill_holes(labels == largest)


def load_mask(path: PathLike) -> np.ndarray:
    """Read a mask written by :func:`fetch_participants` (a boolean array)."""
    import nibabel

    return np.asarray(nibabel.load(os.fspath(path)).dataobj) > 0


def _mask_image(mask: np.ndarray, reference: NiftiReference) -> Any:
    import nibabel

    image = nibabel.Nifti1Image(mask.astype(np.uint8), reference.grid.affine)
    image.set_data_dtype(np.uint8)
    return image


def mask_on_grid(path: PathLike, grid: Grid, require_voxels: bool = True) -> np.ndarray:
    """A NIfTI mask (any voxel size, in the images' world space) on ``grid``.

    The mask (its positive voxels) is interpolated trilinearly onto the grid and
    thresholded at one half.

    Raises
    ------
    ValueError
        If the image is not 3D, or (with ``require_voxels``) if the mask covers no
        voxel of the grid.
    """
    import nibabel

    if not os.path.isfile(path):
        raise FileNotFoundError(f"mask {str(path)!r} does not exist")
    image = nibabel.load(os.fspath(path))
    data = np.asanyarray(image.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"mask {str(path)!r} has shape {data.shape}: expected a 3D image")
    resampled = resample((data > 0).astype(np.float32), image.affine, grid, antialias=False)
    mask = resampled >= 0.5
    if require_voxels and not mask.any():
        raise ValueError(f"mask {str(path)!r} covers no voxel of the images' grid: expected "
                         "a mask in the images' space")
    return mask


def _mask_recipe(mask: Union[str, PathLike], threshold: float, input_path: str) -> dict:
    stat = os.stat(input_path)
    recipe = {"inputs": [stat.st_size, stat.st_mtime_ns]}
    if mask == "auto":
        return dict(recipe, mask="auto", threshold=float(threshold))
    source = Path(mask).expanduser().resolve()
    if not source.is_file():
        raise FileNotFoundError(f"mask {str(mask)!r} does not exist: expected a NIfTI mask, "
                                "'auto' or None")
    source_stat = source.stat()
    return dict(recipe, mask=str(source), source=[source_stat.st_size,
                                                  source_stat.st_mtime_ns])


def _write_mask(item, mask, threshold: float) -> str:
    stem = item.input_path[:-len("_inputs.npy")]
    mask_path, sidecar = f"{stem}_mask.nii.gz", f"{stem}_mask.json"
    recipe = _mask_recipe(mask, threshold, item.input_path)
    try:
        with open(sidecar, encoding="utf-8") as stream:
            fresh = json.load(stream) == recipe and os.path.isfile(mask_path)
    except (OSError, ValueError):
        fresh = False
    if fresh:
        return mask_path
    reference = NiftiReference.load(item.reference_path)
    if mask == "auto":
        data = compute_brain_mask(np.load(item.input_path, mmap_mode="r"), threshold)
    else:
        data = mask_on_grid(recipe["mask"], reference.grid)
    if os.path.exists(sidecar):
        os.remove(sidecar)  # written last: marks the mask complete
    save_image(_mask_image(data, reference), mask_path)
    atomic_write_text(sidecar, json.dumps(recipe) + "\n")
    logger.info("brain mask of %d voxels written to %s", int(data.sum()), mask_path)
    return mask_path


@Fetchers.register
def fetch_participants(table: PathLike, image_column: str,
                       covariates: Optional[Sequence[str]] = None,
                       categorical: Sequence[str] = (),
                       voxel_size: Union[None, float, Sequence[float]] = None,
                       mask: Union[None, str, PathLike] = "auto", mask_threshold: float = 0.2,
                       datasetdir: Optional[PathLike] = None,
                       dtype: Any = "float32") -> ParticipantsItem:
    """Make a participants table of brain images a data set with a brain mask, once.

    Parameters
    ----------
    table : str or path-like
        The tab-separated participants table, one row per subject (image paths
        relative to it).
    image_column : str
        The column of NIfTI image paths.
    covariates : sequence of str, optional
        Covariate columns to check (e.g. ``["age", "sex", "site"]``): continuous ones
        must be finite numbers, those listed in ``categorical`` non-empty.
    categorical : sequence of str
        The categorical covariates (e.g. ``["sex", "site"]``).
    voxel_size : float or sequence of float, optional
        Resample every image to this voxel size (mm), see
        :func:`~pynet_cvae.datasets.nifti.fetch_nifti`.
    mask : "auto", str, path-like or None
        ``"auto"``: computed from the images (:func:`compute_brain_mask`); a path: a
        NIfTI mask in the images' space, resampled onto the data's grid; None: none.
    mask_threshold : float
        The threshold of ``"auto"``.
    datasetdir : str or path-like, optional
        Where the files go (default: beside the table).
    dtype : str or numpy.dtype
        The floating-point type of the images' array.

    Returns
    -------
    ParticipantsItem
        ``(input_path, output_path=None, metadata_path, reference_path, mask_path)``.
    """
    path = Path(table).expanduser()
    if not path.name.lower().endswith(".tsv"):
        raise ValueError(f"table {str(path)!r} is not a .tsv file: expected a tab-separated "
                         "participants table")
    if categorical and not covariates:
        raise ValueError(f"categorical {list(categorical)} given without covariates: "
                         "expected them listed in covariates too")
    if covariates and path.is_file():  # checked before converting (a missing table: below)
        check_covariates(pd.read_csv(path, sep="\t"), covariates, categorical,
                         where=f"table {str(path)!r}")
    item = fetch_nifti(path, image_column=image_column, datasetdir=datasetdir, dtype=dtype,
                       voxel_size=voxel_size)
    mask_path = None if mask is None else _write_mask(item, mask, mask_threshold)
    return ParticipantsItem(*item, mask_path=mask_path)
