"""A normative study's data: images, covariates table, brain mask and space.

:class:`NormativeData` gathers what :func:`~pynet_cvae.datasets.participants.fetch_participants`
(or :func:`~pynet_cvae.datasets.cohort.fetch_synthetic_cohort`) made: the
memory-mapped images ``(N, C, X, Y, Z)``, the participants table, the brain mask and
the NIfTI reference. :class:`Rows` is a subset of the images' rows read lazily, a
mini-batch at a time (:class:`~pynet_cvae.datasets.mapped.RowReader`), so that models
and scoring handle data sets larger than memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..datasets.mapped import RowReader
from ..datasets.nifti_space import NiftiReference
from ..datasets.participants import load_mask, mask_on_grid

__all__ = ["Rows", "NormativeData"]


class Rows:
    """Rows of an ``(N, ...)`` array, read only when sliced.

    Parameters
    ----------
    array : numpy.ndarray
        The whole array (e.g. memory-mapped).
    rows : sequence of int
        The rows in this subset, in order.
    """

    def __init__(self, array: np.ndarray, rows: Sequence[int]):
        self.array = array
        self.rows = np.asarray(rows, dtype=np.intp)
        self._reader = RowReader(array)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> Tuple[int, ...]:
        """``(len(rows),) + array.shape[1:]``."""
        return (len(self.rows),) + tuple(self.array.shape[1:])

    def __getitem__(self, index: Any) -> np.ndarray:
        """The rows at ``index`` (a slice, an int or integer positions) as an array."""
        positions = self.rows[index]
        if np.ndim(positions) == 0:
            return self._reader.read(np.array([positions]))[0]
        return self._reader.read(positions)

    def batches(self, batch_size: int) -> Iterator[Tuple[slice, np.ndarray]]:
        """``(positions, images)`` for consecutive batches of ``batch_size`` rows."""
        for start in range(0, len(self), batch_size):
            where = slice(start, min(start + batch_size, len(self)))
            yield where, self[where]


@dataclass
class NormativeData:
    """The images, table, mask and reference of a normative study.

    Attributes
    ----------
    images : numpy.ndarray
        ``(N, C, X, Y, Z)`` images (memory-mapped).
    table : pandas.DataFrame
        One row per image: the covariates, the splits, any lesion mask paths.
    mask : numpy.ndarray
        The boolean ``(X, Y, Z)`` brain mask where voxels are scored.
    reference : NiftiReference or None
        The space, to write maps as NIfTI.
    table_path : str or None
        Where the participants table is (lesion mask paths are relative to it).
    """

    images: np.ndarray
    table: pd.DataFrame
    mask: np.ndarray
    reference: Optional[NiftiReference] = None
    table_path: Optional[str] = None

    def __post_init__(self) -> None:
        if len(self.images) != len(self.table):
            raise ValueError(f"{len(self.images)} images but a table of {len(self.table)} "
                             "rows: expected one row per image")
        if tuple(self.mask.shape) != tuple(self.images.shape[2:]):
            raise ValueError(f"a mask of shape {self.mask.shape} does not fit images of "
                             f"spatial shape {self.images.shape[2:]}")
        if not self.mask.any():
            raise ValueError("the brain mask is empty: expected some voxels to score")

    @classmethod
    def from_item(cls, item: Any, table_path: Optional[str] = None) -> "NormativeData":
        """Open a fetcher's result (``input_path``, ``metadata_path``,
        ``reference_path`` and ``mask_path`` fields)."""
        if getattr(item, "mask_path", None) is None:
            raise ValueError("the data set has no brain mask: fetch it with mask='auto' or "
                             "a mask image")
        reference = NiftiReference.load(item.reference_path)
        if table_path is None and reference.layout == "images":
            table_path = reference.sources[0]  # the converted participants table
        return cls(images=np.load(item.input_path, mmap_mode="r"),
                   table=pd.read_csv(item.metadata_path, sep="\t"),
                   mask=load_mask(item.mask_path), reference=reference,
                   table_path=table_path)

    @property
    def voxels(self) -> int:
        """The number of scored voxels per channel."""
        return int(self.mask.sum())

    def rows(self, rows: Sequence[int]) -> Rows:
        """The images of these rows (read lazily)."""
        return Rows(self.images, rows)

    def covariates(self, rows: Sequence[int]) -> pd.DataFrame:
        """The table's rows ``rows``, indexed from 0."""
        return self.table.iloc[np.asarray(rows, dtype=np.intp)].reset_index(drop=True)

    def masked(self, images: np.ndarray) -> np.ndarray:
        """``(n, C * voxels)`` values inside the mask of ``(n, C, X, Y, Z)`` images."""
        images = np.asarray(images)
        return images[:, :, self.mask].reshape(len(images), -1)

    def unmasked(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Undo :meth:`masked`: ``(n, C, X, Y, Z)`` images, ``fill`` outside the mask."""
        values = np.asarray(values)
        channels = self.images.shape[1]
        images = np.full((len(values), channels) + self.mask.shape, fill, dtype=values.dtype)
        images[:, :, self.mask] = values.reshape(len(values), channels, -1)
        return images

    def lesion_masks(self, column: str, rows: np.ndarray) -> np.ndarray:
        """``(n, C * voxels)`` booleans: each row's lesion mask (empty cell: none).

        The paths in ``column`` are relative to the table; each mask is brought onto
        the images' grid.
        """
        if column not in self.table.columns:
            raise ValueError(f"lesion column {column!r} not in the table's columns "
                             f"{list(self.table.columns)}")
        if self.reference is None:
            raise ValueError("reading lesion masks needs the data's NIfTI reference")
        base = os.path.dirname(self.table_path) if self.table_path else "."
        channels = self.images.shape[1]
        result = np.zeros((len(rows), channels * self.voxels), dtype=bool)
        for position, row in enumerate(np.asarray(rows)):
            value = self.table[column].iloc[row]
            if isinstance(value, str) and value.strip():
                lesion = mask_on_grid(os.path.join(base, value.strip()),
                                      self.reference.grid, require_voxels=False)
                result[position] = np.tile(lesion[self.mask], channels)
        return result
