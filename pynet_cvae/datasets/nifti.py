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
name (``bold``), followed by the voxel size when the images are resampled
(``subjects_t1_4mm``). A later call reuses the files while the sources are unchanged
(same sizes and modification times), and converts again otherwise. nibabel is
imported on first use.

With ``voxel_size``, every image is resampled (:mod:`~pynet_cvae.datasets.resampling`)
onto one grid: the first image's field of view and orientation with voxels of that
size, each image placed by its own affine, so that images of different shapes (but
in one world space, e.g. registered to a template) become one array. The reference
then also keeps each image's own (native) shape and affine, and
``write_nifti(..., space="native")`` resamples results back onto them.
"""

from __future__ import annotations

import logging
import os
from collections import namedtuple
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..fileio import atomic_path
from ..registry import Fetchers
from .nifti_space import NiftiReference, write_nifti
from .resampling import Grid, check_voxel_size, grid_with_voxel_size, resample
from .validation import check_columns

logger = logging.getLogger("pynet_cvae")

__all__ = ["NiftiItem", "NiftiReference", "fetch_nifti", "write_nifti"]

PathLike = Union[str, "os.PathLike[str]"]

#: What :func:`fetch_nifti` returns: the ``Item`` of the other fetchers plus the
#: reference used to write predictions back.
NiftiItem = namedtuple("NiftiItem", ["input_path", "output_path", "metadata_path",
                                     "reference_path"])

_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".img", ".hdr", ".mgz", ".mgh")


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
               first: Optional[str], grid: Optional[Grid] = None) -> np.ndarray:
    data = np.asanyarray(image.dataobj)
    if data.ndim not in (3, 4):
        raise ValueError(f"image {path!r} (row {row}) has shape {data.shape}: expected a "
                         "3D image or a 4D image (channels on the 4th axis)")
    # Resampled images may differ in shape, never in channels.
    compared = slice(3, None) if grid is not None else slice(None)
    if shape is not None and data.shape[compared] != shape[compared]:
        what = "channels" if grid is not None else "shape"
        raise ValueError(f"image {path!r} (row {row}) has shape {data.shape} but {first!r} "
                         f"has {shape}: expected the same {what} for every image")
    if grid is not None:
        data = resample(data, image.affine, grid)
    return data[np.newaxis] if data.ndim == 3 else np.moveaxis(data, -1, 0)


def _target_grid(image: Any, voxel_size: Optional[Tuple[float, ...]]) -> Optional[Grid]:
    if voxel_size is None:
        return None
    return grid_with_voxel_size(image.shape[:3], image.affine, voxel_size)


def _convert_table(paths: List[str], column: str, input_path: str, dtype: np.dtype,
                   voxel_size: Optional[Tuple[float, ...]]):
    first = _load_image(paths[0], f"image_column {column!r} row 0:")
    shape, grid = first.shape, _target_grid(first, voxel_size)
    sample = _sample_of(first, paths[0], 0, None, None, grid)
    affines = np.empty((len(paths), 4, 4))
    native = (np.empty((len(paths), 3), dtype=np.int64), np.empty((len(paths), 4, 4)))
    with atomic_path(input_path) as temporary, open(temporary, "wb") as stream:
        writer = _NpyWriter(stream, (len(paths),) + sample.shape, dtype)
        for row, path in enumerate(paths):
            image = first if row == 0 else _load_image(path, f"image_column {column!r} row "
                                                             f"{row}:")
            writer.write(sample if row == 0 else _sample_of(image, path, row, shape, paths[0],
                                                            grid))
            affines[row] = image.affine if grid is None else grid.affine
            native[0][row], native[1][row] = image.shape[:3], image.affine
    spatial = tuple(shape[:3]) if grid is None else grid.shape
    return affines, _header_of(first), spatial, None if grid is None else native


def _convert_volumes(path: str, input_path: str, dtype: np.dtype,
                     voxel_size: Optional[Tuple[float, ...]]):
    image = _load_image(path, "source")
    if len(image.shape) != 4:
        raise ValueError(f"source {path!r} has shape {image.shape}: expected a 4D image "
                         "(one sample per volume) or a table of image paths")
    volumes, grid = image.shape[3], _target_grid(image, voxel_size)
    spatial = tuple(image.shape[:3]) if grid is None else grid.shape
    with atomic_path(input_path) as temporary, open(temporary, "wb") as stream:
        writer = _NpyWriter(stream, (volumes, 1) + spatial, dtype)
        for volume in range(volumes):
            data = np.asanyarray(image.dataobj[..., volume])
            writer.write((data if grid is None else resample(data, image.affine, grid))
                         [np.newaxis])
    affines = np.repeat((image.affine if grid is None else grid.affine)[np.newaxis], volumes,
                        axis=0)
    native = None if grid is None else (
        np.repeat(np.array([image.shape[:3]], dtype=np.int64), volumes, axis=0),
        np.repeat(image.affine[np.newaxis], volumes, axis=0))
    return affines, _header_of(image), spatial, native


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
                datasetdir: Optional[PathLike] = None, dtype: Any = "float32",
                voxel_size: Union[None, float, Sequence[float]] = None) -> NiftiItem:
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
    voxel_size : float or sequence of float, optional
        Resample every image onto a grid of voxels of this size (mm; one number or
        three), trilinearly after anti-aliasing, covering the first image's field of
        view; images may then differ in shape. By default images are kept as they
        are and must all have the first one's shape.

    Returns
    -------
    NiftiItem
        ``(input_path, output_path=None, metadata_path, reference_path)``.

    Raises
    ------
    FileNotFoundError
        If the source or an image is missing (the message names it and its row).
    ValueError
        If a file is unreadable, an image's shape differs from the first one's
        (without ``voxel_size``), or the column is not in the table.
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
    voxel_size = None if voxel_size is None else check_voxel_size(voxel_size)
    stem = _stem(path) + (f"_{image_column}" if is_table else "") + _size_suffix(voxel_size)
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
        affines, header, spatial, native = _convert_table(images, image_column,
                                                          item.input_path, dtype, voxel_size)
        names = _unique_names(images)
    else:
        affines, header, spatial, native = _convert_volumes(sources[0], item.input_path,
                                                            dtype, voxel_size)
        table = pd.DataFrame({"volume": np.arange(len(affines)), "source": path.name})
        names = [f"{_stem(path)}_{volume:04d}" for volume in range(len(affines))]
    with atomic_path(item.metadata_path) as temporary:
        table.to_csv(temporary, sep="\t", index=False)
    NiftiReference(header[0], header[1], affines, names, spatial,
                   "images" if is_table else "volumes", _stem(path), sources,
                   _fingerprints(sources), *(native or (None, None))).save(item.reference_path)
    return item


def _size_suffix(voxel_size: Optional[Tuple[float, ...]]) -> str:
    """``_4mm`` (or ``_2x2x3mm``) for resampled data, nothing otherwise."""
    if voxel_size is None:
        return ""
    sizes = [f"{size:g}" for size in voxel_size]
    return f"_{sizes[0] if len(set(sizes)) == 1 else 'x'.join(sizes)}mm"
