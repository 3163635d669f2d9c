"""The space of a converted NIfTI data set, and results written back into it.

A :class:`NiftiReference` (``<name>_reference.npz`` beside the data) keeps what
:func:`~pynet_cvae.datasets.nifti.fetch_nifti` read from the images: each row's
affine, the first image's header, and for resampled data each source image's own
shape and affine. :func:`write_nifti` uses it to write predictions back as NIfTI
images, on the data's grid or resampled onto each source image's grid.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..fileio import atomic_path
from .resampling import Grid, resample

__all__ = ["NiftiReference", "write_nifti", "save_image"]

PathLike = Union[str, "os.PathLike[str]"]

#: gzip level of written ``.nii.gz`` images: nibabel's own (fast; level 9 is several
#: times slower for a few percent smaller files).
_GZIP_LEVEL = 1


@dataclass
class NiftiReference:
    """The space of a converted data set: what writing a result back needs.

    Attributes
    ----------
    header : bytes
        The first image's NIfTI header (``binaryblock``).
    header_class : str
        ``"Nifti1Header"`` or ``"Nifti2Header"``.
    affines : numpy.ndarray
        The affine of each row, shape ``(N, 4, 4)``.
    names : list of str
        A unique name per row (the image's file name without suffix, or
        ``<image>_<volume>``), used to name written images.
    spatial_shape : tuple of int
        The shape ``(X, Y, Z)`` of an image.
    layout : str
        ``"images"`` (a table of images) or ``"volumes"`` (one 4D image).
    stem : str
        The data set's name (the table's or the 4D image's).
    sources : list of str
        The converted files: the table then its images, or the 4D image.
    fingerprints : numpy.ndarray
        ``(size, modification time in ns)`` of each source when converted.
    native_shapes, native_affines : numpy.ndarray or None
        With resampled images: the ``(N, 3)`` shapes and ``(N, 4, 4)`` affines of the
        source images, where ``space="native"`` writes results back.
    """

    header: bytes
    header_class: str
    affines: np.ndarray
    names: List[str]
    spatial_shape: Tuple[int, ...]
    layout: str
    stem: str
    sources: List[str]
    fingerprints: np.ndarray
    native_shapes: Optional[np.ndarray] = None
    native_affines: Optional[np.ndarray] = None

    @property
    def grid(self) -> Grid:
        """The grid of the converted data (the first row's affine)."""
        return Grid(self.spatial_shape, self.affines[0])

    def native_grid(self, row: int) -> Grid:
        """The grid of row ``row``'s source image (the data's own grid if not resampled)."""
        if self.native_shapes is None:
            return Grid(self.spatial_shape, self.affines[row])
        return Grid(tuple(self.native_shapes[row]), self.native_affines[row])

    def save(self, path: PathLike) -> None:
        """Write the reference to ``path`` (``.npz``, atomically)."""
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, header=np.frombuffer(self.header, dtype=np.uint8),
                         header_class=np.array(self.header_class), affines=self.affines,
                         names=np.array(self.names, dtype=str),
                         spatial_shape=np.array(self.spatial_shape, dtype=np.int64),
                         layout=np.array(self.layout), stem=np.array(self.stem),
                         sources=np.array(self.sources, dtype=str),
                         fingerprints=self.fingerprints,
                         **({} if self.native_shapes is None else {
                             "native_shapes": self.native_shapes,
                             "native_affines": self.native_affines}))

    @classmethod
    def load(cls, path: PathLike) -> "NiftiReference":
        """Read a reference written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as stored:
            return cls(header=stored["header"].tobytes(),
                       header_class=str(stored["header_class"]),
                       affines=stored["affines"], names=stored["names"].tolist(),
                       spatial_shape=tuple(int(size) for size in stored["spatial_shape"]),
                       layout=str(stored["layout"]), stem=str(stored["stem"]),
                       sources=stored["sources"].tolist(),
                       fingerprints=stored["fingerprints"],
                       native_shapes=stored["native_shapes"]
                       if "native_shapes" in stored else None,
                       native_affines=stored["native_affines"]
                       if "native_affines" in stored else None)

    def to_image_array(self, sample: np.ndarray) -> np.ndarray:
        """A sample (any shape of ``C * X * Y * Z`` values) as ``(X, Y, Z[, C])``."""
        sample = np.asarray(sample)
        voxels = int(np.prod(self.spatial_shape))
        if sample.size == 0 or sample.size % voxels:
            raise ValueError(f"a prediction of shape {sample.shape} does not fit images of "
                             f"shape {self.spatial_shape}: expected C x {voxels} values")
        channels = sample.reshape((-1,) + self.spatial_shape)
        return channels[0] if len(channels) == 1 else np.moveaxis(channels, 0, -1)

    def image(self, data: np.ndarray, row: int, native: bool = False) -> Any:
        """A float32 NIfTI image of ``data`` in the space of row ``row`` (the space of
        its source image with ``native=True``)."""
        import nibabel

        header_class = getattr(nibabel, self.header_class)
        image_class = nibabel.Nifti2Image if self.header_class == "Nifti2Header" \
            else nibabel.Nifti1Image
        header = header_class(binaryblock=self.header)
        affine = self.native_grid(row).affine if native else self.affines[row]
        image = image_class(np.asarray(data, dtype=np.float32), affine, header=header)
        image.set_data_dtype(np.float32)
        return image

def save_image(image: Any, path: PathLike) -> str:
    """Write a nibabel image to ``path`` atomically (gzipped for ``.gz``); return the path."""
    path = Path(path)
    with atomic_path(path) as temporary, open(temporary, "wb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=raw,
                               compresslevel=_GZIP_LEVEL) as stream:
                image.to_stream(stream)
        else:
            image.to_stream(raw)
    return str(path)


def write_nifti(predictions: Any, reference: Union[PathLike, NiftiReference],
                output_dir: PathLike, rows: Optional[Sequence[int]] = None,
                suffix: str = "prediction", space: str = "data", order: int = 1) -> List[str]:
    """Write predictions back as NIfTI images in the space of the converted data.

    Parameters
    ----------
    predictions : array-like
        One prediction per row, each of ``C x X x Y x Z`` values in any shape (e.g.
        flattened): ``C`` is 1, or the channels put on the images' 4th axis.
    reference : str, path-like or NiftiReference
        :func:`fetch_nifti`'s ``reference_path`` (or the loaded reference).
    output_dir : str or path-like
        The folder of the images (created if needed).
    rows : sequence of int, optional
        The data set row of each prediction (e.g. ``manager["test"].indices``);
        by default ``0 .. len(predictions) - 1``.
    suffix : str
        Added to the names: ``<name>_<suffix>.nii.gz``.
    space : {"data", "native"}
        ``"data"``: on the converted data's grid (with its affine); ``"native"``: each
        prediction resampled back onto its source image's own grid (data converted
        with ``voxel_size``; the same as ``"data"`` otherwise).
    order : int
        The interpolation order back to the native grid: 1 (trilinear), 0 (nearest
        neighbour, for masks and labels) or 3.

    Returns
    -------
    list of str
        The written files: one per row for a table of images, or one 4D image with
        a volume per row (in the order of ``rows``) for a converted 4D image.
    """
    if not isinstance(reference, NiftiReference):
        reference = NiftiReference.load(reference)
    predictions = np.asarray(predictions)
    rows = np.arange(len(predictions)) if rows is None else np.asarray(rows, dtype=np.intp)
    if len(rows) != len(predictions) or (len(rows) and not (
            0 <= rows.min() and rows.max() < len(reference.affines))):
        raise ValueError(f"rows {rows.tolist()!r} do not match {len(predictions)} predictions "
                         f"of a data set of {len(reference.affines)} rows: expected one row "
                         "number in range per prediction")
    if space not in ("data", "native"):
        raise ValueError(f"space {space!r} is invalid: expected 'data' or 'native'")
    native = space == "native" and reference.native_shapes is not None
    directory = Path(output_dir).expanduser()
    arrays = [reference.to_image_array(prediction) for prediction in predictions]
    if native:
        arrays = [resample(array, reference.affines[row], reference.native_grid(row), order)
                  for array, row in zip(arrays, rows.tolist())]
    if reference.layout == "volumes":
        if any(array.ndim != 3 for array in arrays):
            raise ValueError("predictions of several channels cannot be volumes of one 4D "
                             "image: expected one channel per prediction")
        image = reference.image(np.stack(arrays, axis=-1), int(rows[0]) if len(rows) else 0,
                                native)
        return [save_image(image, directory / f"{reference.stem}_{suffix}.nii.gz")]
    return [save_image(reference.image(array, int(row), native),
                         directory / f"{reference.names[row]}_{suffix}.nii.gz")
            for array, row in zip(arrays, rows)]
