"""NIfTI images as a memory-mapped data set, and predictions written back as NIfTI.

:func:`fetch_nifti` converts, once, either a tab-separated table with a column of
image paths (one sample per row) or one 4D image (one sample per volume) into the
files a :class:`~pynet_cvae.datasets.manager.DataManager` reads, next to the data:

- ``<name>_inputs.npy``: float32 samples of shape ``(N, C, X, Y, Z)`` (``C`` is 1 for
  3D images, the 4th axis of 4D images in a table), written one image at a time so
  that memory stays bounded whatever the number of images;
- ``<name>_metadata.tsv``: the table (or the columns ``volume`` and ``source``);
- ``<name>_reference.npz``: each row's affine, the first image's header and the
  sources' sizes and times, which :func:`write_nifti` uses to write predictions back
  as NIfTI images in the same space.

``<name>`` is the table's name and the image column (``subjects_t1``) or the image's
name (``bold``). A later call reuses the files while the sources are unchanged
(same sizes and modification times), and converts again otherwise. nibabel is
imported on first use.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..fileio import atomic_path
from ..registry import Fetchers
from .validation import check_columns

logger = logging.getLogger("pynet_cvae")

__all__ = ["NiftiItem", "NiftiReference", "fetch_nifti", "write_nifti"]

PathLike = Union[str, "os.PathLike[str]"]

#: What :func:`fetch_nifti` returns: the ``Item`` of the other fetchers plus the
#: reference used to write predictions back.
NiftiItem = namedtuple("NiftiItem", ["input_path", "output_path", "metadata_path",
                                     "reference_path"])

_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".img", ".hdr", ".mgz", ".mgh")


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
                         fingerprints=self.fingerprints)

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
                       fingerprints=stored["fingerprints"])

    def to_image_array(self, sample: np.ndarray) -> np.ndarray:
        """A sample (any shape of ``C * X * Y * Z`` values) as ``(X, Y, Z[, C])``."""
        sample = np.asarray(sample)
        voxels = int(np.prod(self.spatial_shape))
        if sample.size == 0 or sample.size % voxels:
            raise ValueError(f"a prediction of shape {sample.shape} does not fit images of "
                             f"shape {self.spatial_shape}: expected C x {voxels} values")
        channels = sample.reshape((-1,) + self.spatial_shape)
        return channels[0] if len(channels) == 1 else np.moveaxis(channels, 0, -1)

    def image(self, data: np.ndarray, row: int) -> Any:
        """A float32 NIfTI image of ``data`` in the space of row ``row``."""
        import nibabel

        header_class = getattr(nibabel, self.header_class)
        image_class = nibabel.Nifti2Image if self.header_class == "Nifti2Header" \
            else nibabel.Nifti1Image
        header = header_class(binaryblock=self.header)
        image = image_class(np.asarray(data, dtype=np.float32), self.affines[row],
                            header=header)
        image.set_data_dtype(np.float32)
        return image


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _IMAGE_SUFFIXES + (".tsv",):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return path.stem


def _fingerprints(sources: Sequence[str]) -> np.ndarray:
    stats = [os.stat(source) for source in sources]
    return np.array([[stat.st_size, stat.st_mtime_ns] for stat in stats], dtype=np.int64)


def _load_image(path: str, where: str) -> Any:
    import nibabel

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where} {path!r} does not exist")
    try:
        return nibabel.load(path, keep_file_open=True)
    except Exception as error:  # nibabel raises several types for a bad file
        raise ValueError(f"{where} {path!r} is not a readable NIfTI image: {error}") from None


def _header_of(image: Any) -> Tuple[bytes, str]:
    import nibabel

    header_class = nibabel.Nifti2Header if isinstance(image.header, nibabel.Nifti2Header) \
        else nibabel.Nifti1Header
    return header_class.from_header(image.header).binaryblock, header_class.__name__


def _read_table(path: Path, column: Optional[str]) -> Tuple[pd.DataFrame, List[str]]:
    """The table and the absolute path of each row's image (relative to the table)."""
    if column is None:
        raise ValueError(f"source {str(path)!r} is a table: expected image_column, the "
                         "column of image paths")
    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"source {str(path)!r} is not a readable tab-separated table: "
                         f"{error}") from None
    check_columns(table, [column], "image_column")
    if table.empty:
        raise ValueError(f"source {str(path)!r} has no rows: expected one image per row")
    paths = []
    for row, value in enumerate(table[column]):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"image_column {column!r} row {row} holds {value!r}: expected "
                             "the path of an image")
        paths.append(str((path.parent / value.strip()).resolve()))
    return table, paths


class _NpyWriter:
    """Write a float ``.npy`` of a known shape sample by sample (bounded memory)."""

    def __init__(self, stream, shape: Tuple[int, ...], dtype: np.dtype):
        self.stream, self.dtype, self.written = stream, dtype, 0
        np.lib.format.write_array_header_1_0(stream, {
            "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
            "shape": shape})

    def write(self, sample: np.ndarray) -> None:
        self.stream.write(np.ascontiguousarray(sample, dtype=self.dtype).tobytes())
        self.written += 1


def _sample_of(image: Any, path: str, row: int, shape: Optional[tuple],
               first: Optional[str]) -> np.ndarray:
    data = np.asanyarray(image.dataobj)
    if shape is not None and data.shape != shape:
        raise ValueError(f"image {path!r} (row {row}) has shape {data.shape} but {first!r} "
                         f"has {shape}: expected one shape for every image")
    if data.ndim not in (3, 4):
        raise ValueError(f"image {path!r} (row {row}) has shape {data.shape}: expected a "
                         "3D image or a 4D image (channels on the 4th axis)")
    return data[np.newaxis] if data.ndim == 3 else np.moveaxis(data, -1, 0)


def _convert_table(paths: List[str], column: str, input_path: str, dtype: np.dtype):
    first = _load_image(paths[0], f"image_column {column!r} row 0:")
    shape = first.shape
    sample = _sample_of(first, paths[0], 0, None, None)
    affines = np.empty((len(paths), 4, 4))
    with atomic_path(input_path) as temporary, open(temporary, "wb") as stream:
        writer = _NpyWriter(stream, (len(paths),) + sample.shape, dtype)
        for row, path in enumerate(paths):
            image = first if row == 0 else _load_image(path, f"image_column {column!r} row "
                                                             f"{row}:")
            writer.write(sample if row == 0 else _sample_of(image, path, row, shape, paths[0]))
            affines[row] = image.affine
    return affines, _header_of(first), tuple(shape[:3])


def _convert_volumes(path: str, input_path: str, dtype: np.dtype):
    image = _load_image(path, "source")
    if len(image.shape) != 4:
        raise ValueError(f"source {path!r} has shape {image.shape}: expected a 4D image "
                         "(one sample per volume) or a table of image paths")
    volumes = image.shape[3]
    with atomic_path(input_path) as temporary, open(temporary, "wb") as stream:
        writer = _NpyWriter(stream, (volumes, 1) + image.shape[:3], dtype)
        for volume in range(volumes):
            writer.write(np.asanyarray(image.dataobj[..., volume])[np.newaxis])
    affines = np.repeat(image.affine[np.newaxis], volumes, axis=0)
    return affines, _header_of(image), tuple(image.shape[:3])


def _unique_names(paths: Sequence[str]) -> List[str]:
    stems = [_stem(Path(path)) for path in paths]
    repeated = {stem for stem in stems if stems.count(stem) > 1}
    return [f"{stem}_row{row}" if stem in repeated else stem for row, stem in enumerate(stems)]


def _is_fresh(item: NiftiItem, sources: List[str]) -> bool:
    if not all(os.path.isfile(path) for path in (item.input_path, item.metadata_path,
                                                 item.reference_path)):
        return False
    try:
        reference = NiftiReference.load(item.reference_path)
        rows = np.load(item.input_path, mmap_mode="r").shape[0]
    except (OSError, ValueError, KeyError) as error:
        logger.warning("NIfTI cache %s is unreadable (%s): converting again",
                       item.reference_path, error)
        return False
    if reference.sources != sources or rows != len(reference.affines):
        return False
    try:
        return np.array_equal(reference.fingerprints, _fingerprints(sources))
    except OSError:  # a source went missing: converting names it
        return False


@Fetchers.register
def fetch_nifti(source: PathLike, image_column: Optional[str] = None,
                datasetdir: Optional[PathLike] = None, dtype: Any = "float32") -> NiftiItem:
    """Convert NIfTI images, once, into a memory-mapped ``.npy`` and its metadata TSV.

    Parameters
    ----------
    source : str or path-like
        A tab-separated table (``.tsv``) with one image path per row (relative paths
        are relative to the table), or one 4D image whose volumes are the samples.
    image_column : str, optional
        The table's column of image paths (tables only).
    datasetdir : str or path-like, optional
        Where the files are written; by default the source's folder.
    dtype : str or numpy.dtype
        The floating-point type of the ``.npy`` (intensities are scaled as nibabel
        reads them, ``scl_slope`` and ``scl_inter`` included).

    Returns
    -------
    NiftiItem
        ``(input_path, output_path=None, metadata_path, reference_path)``.

    Raises
    ------
    FileNotFoundError
        If the source or an image is missing (the message names it and its row).
    ValueError
        If a file is unreadable, an image's shape differs from the first one's, or
        the column is not in the table.
    """
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"source {str(path)!r} does not exist")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype {dtype.name!r} is invalid: expected a floating-point type")
    is_table = path.name.lower().endswith(".tsv")
    if not is_table and image_column is not None:
        raise ValueError(f"image_column {image_column!r} is for a table source, but "
                         f"{str(path)!r} is an image")
    stem = _stem(path) + (f"_{image_column}" if is_table else "")
    directory = Path(datasetdir).expanduser() if datasetdir else path.parent
    item = NiftiItem(input_path=str(directory / f"{stem}_inputs.npy"), output_path=None,
                     metadata_path=str(directory / f"{stem}_metadata.tsv"),
                     reference_path=str(directory / f"{stem}_reference.npz"))
    table, images = _read_table(path, image_column) if is_table else (None, [str(path)])
    sources = [str(path.resolve())] + images if is_table else [str(path.resolve())]
    if _is_fresh(item, sources):
        return item
    directory.mkdir(parents=True, exist_ok=True)
    if os.path.exists(item.reference_path):
        os.remove(item.reference_path)  # the reference, written last, marks a complete cache
    logger.info("converting NIfTI data %s into %s", path, item.input_path)
    if is_table:
        affines, header, spatial = _convert_table(images, image_column, item.input_path, dtype)
        names = _unique_names(images)
    else:
        affines, header, spatial = _convert_volumes(sources[0], item.input_path, dtype)
        table = pd.DataFrame({"volume": np.arange(len(affines)), "source": path.name})
        names = [f"{_stem(path)}_{volume:04d}" for volume in range(len(affines))]
    with atomic_path(item.metadata_path) as temporary:
        table.to_csv(temporary, sep="\t", index=False)
    NiftiReference(header[0], header[1], affines, names, spatial,
                   "images" if is_table else "volumes", _stem(path), sources,
                   _fingerprints(sources)).save(item.reference_path)
    return item


def _write_image(image: Any, path: Path) -> str:
    with atomic_path(path) as temporary, open(temporary, "wb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=raw) as stream:
                image.to_stream(stream)
        else:
            image.to_stream(raw)
    return str(path)


def write_nifti(predictions: Any, reference: Union[PathLike, NiftiReference],
                output_dir: PathLike, rows: Optional[Sequence[int]] = None,
                suffix: str = "prediction") -> List[str]:
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
    directory = Path(output_dir).expanduser()
    arrays = [reference.to_image_array(prediction) for prediction in predictions]
    if reference.layout == "volumes":
        if any(array.ndim != 3 for array in arrays):
            raise ValueError("predictions of several channels cannot be volumes of one 4D "
                             "image: expected one channel per prediction")
        image = reference.image(np.stack(arrays, axis=-1), int(rows[0]) if len(rows) else 0)
        return [_write_image(image, directory / f"{reference.stem}_{suffix}.nii.gz")]
    return [_write_image(reference.image(array, int(row)),
                         directory / f"{reference.names[row]}_{suffix}.nii.gz")
            for array, row in zip(arrays, rows)]
