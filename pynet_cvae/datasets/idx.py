"""Read, validate and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file starts with a 4-byte magic number: two zero bytes, a type code
(``0x08`` for unsigned bytes) and the number of dimensions; then one big-endian
32-bit size per dimension; then the data, row-major. Files may be gzipped: a file
is read through :mod:`gzip` when it starts with the gzip magic bytes, whatever its
name.

Every error is an :class:`IDXFormatError` that names the file and what was
expected, so a user who placed files by hand knows which one to replace.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Tuple, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

#: IDX type codes and the big-endian NumPy dtype of each.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


class IDXFormatError(ValueError):
    """An IDX file is malformed, truncated or not what was expected."""


@dataclass(frozen=True)
class IDXHeader:
    """What the header of an IDX file says.

    Attributes
    ----------
    path : str
        The file.
    dtype : numpy.dtype
        The big-endian element type.
    shape : tuple of int
        The size of each dimension; ``shape[0]`` is the number of items.
    compressed : bool
        Whether the file is gzipped.
    """

    path: str
    dtype: np.dtype
    shape: Tuple[int, ...]
    compressed: bool

    @property
    def count(self) -> int:
        """Number of items (the first dimension)."""
        return self.shape[0]

    @property
    def header_size(self) -> int:
        """Size in bytes of the (uncompressed) header."""
        return 4 + 4 * len(self.shape)

    @property
    def data_size(self) -> int:
        """Size in bytes of the (uncompressed) data (a Python int: never overflows)."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def shape_text(self) -> str:
        """The shape for a message (the first dimensions only, for many of them)."""
        if len(self.shape) <= 6:
            return str(self.shape)
        return f"({', '.join(map(str, self.shape[:4]))}, ... {len(self.shape)} dimensions)"


def is_gzipped(path: PathLike) -> bool:
    """Tell whether ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def open_idx(path: PathLike) -> BinaryIO:
    """Open an IDX file for binary reading, decompressing it when gzipped."""
    if is_gzipped(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _read_exactly(stream: BinaryIO, size: int, path: str, what: str) -> bytes:
    try:
        data = stream.read(size)
    except (OSError, EOFError, zlib.error) as error:
        raise IDXFormatError(f"IDX file {path!r}: cannot read {what}: {error}") from error
    if len(data) != size:
        raise IDXFormatError(
            f"IDX file {path!r} is truncated: expected {size} bytes of {what}, "
            f"got {len(data)}")
    return data


def _parse_header(stream: BinaryIO, path: str, compressed: bool) -> IDXHeader:
    magic = _read_exactly(stream, 4, path, "magic number")
    zeros, type_code, ndim = struct.unpack(">HBB", magic)
    if zeros != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise IDXFormatError(
            f"{path!r} is not an IDX file: magic number 0x{magic.hex()} should be "
            f"0x0000TTNN with type TT in {[f'{code:02x}' for code in IDX_DTYPES]} "
            "and NN >= 1 dimensions")
    sizes = _read_exactly(stream, 4 * ndim, path, "dimension sizes")
    shape = struct.unpack(f">{ndim}I", sizes)
    return IDXHeader(path, IDX_DTYPES[type_code], tuple(shape), compressed)


def read_idx_header(path: PathLike, check_length: bool = True) -> IDXHeader:
    """Read and check the header of an IDX file.

    The header is checked against the bytes present, so that nothing is allocated
    for data a file does not hold: the file size for an uncompressed file, the
    decompressed length for a gzipped one (read through once, up to one byte past
    what the header declares).

    Parameters
    ----------
    path : str or path-like
        The IDX file, gzipped or not.
    check_length : bool, default True
        Check a gzipped file's data length (reading it through); readers that check
        it as they go pass False. An uncompressed file's size is always checked.

    Returns
    -------
    IDXHeader
        The element type and shape the file declares.

    Raises
    ------
    IDXFormatError
        If the magic number is wrong, or the data length does not match the header.
    """
    name = os.fspath(path)
    compressed = is_gzipped(name)
    with open_idx(name) as stream:
        header = _parse_header(stream, name, compressed)
        if check_length and compressed:
            actual = header.header_size + _length_up_to(stream, header.data_size + 1, name)
    if not compressed:
        actual = os.path.getsize(name)
    elif not check_length:
        return header
    if actual != header.header_size + header.data_size:
        stored = "decompresses to" if compressed else "has"
        more = "at least " if compressed and actual > header.header_size + header.data_size \
            else ""
        raise IDXFormatError(
            f"IDX file {name!r} {stored} {more}{actual} bytes but its header (shape "
            f"{header.shape_text}, {header.dtype.itemsize}-byte items) needs "
            f"{_count_text(header.header_size + header.data_size)}")
    return header


def _count_text(count: int) -> str:
    """A byte count for a message: exact up to 10^15, its order of magnitude beyond."""
    return str(count) if count < 10 ** 15 else f"more than 10^{len(str(count)) - 1}"


def _length_up_to(stream: BinaryIO, limit: int, path: str) -> int:
    """The bytes left in ``stream``, counted up to ``limit`` (a gzip stream is read)."""
    length = 0
    try:
        while length < limit:
            block = stream.read(min(1 << 20, limit - length))
            if not block:
                break
            length += len(block)
    except (OSError, EOFError, zlib.error) as error:
        raise IDXFormatError(f"IDX file {path!r}: corrupt gzip stream: {error}") from error
    return length


def iter_idx_chunks(path: PathLike, items_per_chunk: int = 4096
                    ) -> Iterator[np.ndarray]:
    """Yield the items of an IDX file in chunks, checking the data length.

    Only one chunk is in memory at a time, so large files convert with little
    memory.

    Parameters
    ----------
    path : str or path-like
        The IDX file, gzipped or not.
    items_per_chunk : int, default 4096
        Number of items (along the first dimension) per chunk.

    Yields
    ------
    numpy.ndarray
        Arrays of shape ``(k, *shape[1:])`` in the file's (big-endian) dtype.

    Raises
    ------
    IDXFormatError
        If the data are shorter or longer than the header says, or the gzip
        stream is corrupt.
    """
    header = read_idx_header(path, check_length=False)
    item_shape = header.shape[1:]
    item_size = math.prod(item_shape) * header.dtype.itemsize
    with open_idx(header.path) as stream:
        stream.read(header.header_size)
        for start in range(0, header.count, items_per_chunk):
            count = min(items_per_chunk, header.count - start)
            data = _read_exactly(stream, count * item_size, header.path,
                                 f"items {start}..{start + count - 1} of {header.count}")
            yield np.frombuffer(data, dtype=header.dtype).reshape((count,) + item_shape)
        if _has_more(stream, header):
            raise IDXFormatError(
                f"IDX file {header.path!r} has data after the {header.count} items "
                f"its header declares (shape {header.shape_text})")


def _has_more(stream: BinaryIO, header: IDXHeader) -> bool:
    try:
        return bool(stream.read(1))
    except (OSError, EOFError, zlib.error) as error:
        raise IDXFormatError(
            f"IDX file {header.path!r}: corrupt gzip stream after the data: {error}"
        ) from error


def read_idx(path: PathLike) -> np.ndarray:
    """Read a whole IDX file into an array in native byte order.

    Parameters
    ----------
    path : str or path-like
        The IDX file, gzipped or not.

    Returns
    -------
    numpy.ndarray
        The data, with the shape the header declares.

    Raises
    ------
    IDXFormatError
        If the file is malformed or truncated.
    """
    header = read_idx_header(path)
    chunks = list(iter_idx_chunks(path, items_per_chunk=max(header.count, 1)))
    if not chunks:
        return np.empty(header.shape, dtype=header.dtype.newbyteorder("="))
    return chunks[0].astype(header.dtype.newbyteorder("="))


def check_images(path: PathLike) -> IDXHeader:
    """Check that ``path`` holds unsigned-byte images of shape ``(N, H, W)``.

    Raises
    ------
    IDXFormatError
        If the header is malformed or does not describe 3-D unsigned bytes.
    """
    header = read_idx_header(path)
    if header.dtype != IDX_DTYPES[_UBYTE] or len(header.shape) != 3:
        raise IDXFormatError(
            f"IDX file {header.path!r} should hold unsigned-byte images of shape "
            f"(N, rows, columns) (magic 0x00000803), found {header.dtype.str} "
            f"data of shape {header.shape_text}")
    if header.shape[1] == 0 or header.shape[2] == 0:
        raise IDXFormatError(
            f"IDX file {header.path!r} declares empty images of shape {header.shape[1:]}")
    return header


def read_labels(path: PathLike, num_classes: int = 10) -> np.ndarray:
    """Read an IDX label file and check that every label is a class id.

    Parameters
    ----------
    path : str or path-like
        The IDX file, gzipped or not: unsigned bytes, one dimension.
    num_classes : int, default 10
        Labels must lie in ``0 .. num_classes - 1``.

    Returns
    -------
    numpy.ndarray
        The labels as int64, shape ``(N,)``.

    Raises
    ------
    IDXFormatError
        If the file is malformed, not 1-D unsigned bytes, or holds a label out
        of range.
    """
    header = read_idx_header(path)
    if header.dtype != IDX_DTYPES[_UBYTE] or len(header.shape) != 1:
        raise IDXFormatError(
            f"IDX file {header.path!r} should hold unsigned-byte labels of shape (N,) "
            f"(magic 0x00000801), found {header.dtype.str} data of shape {header.shape_text}")
    labels = read_idx(path).astype(np.int64)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise IDXFormatError(
            f"IDX file {header.path!r}: labels must be in 0..{num_classes - 1}, "
            f"found {labels[bad[0]]} at index {bad[0]} ({bad.size} labels out of range)")
    return labels


def check_pair(images_path: PathLike, labels_path: PathLike, num_classes: int = 10
               ) -> Tuple[IDXHeader, np.ndarray]:
    """Check an image file and its label file together.

    Returns
    -------
    header : IDXHeader
        The images' header.
    labels : numpy.ndarray
        The labels as int64.

    Raises
    ------
    IDXFormatError
        If either file is malformed or their counts differ.
    """
    header = check_images(images_path)
    labels = read_labels(labels_path, num_classes=num_classes)
    if labels.shape[0] != header.count:
        raise IDXFormatError(
            f"IDX files disagree: {header.path!r} holds {header.count} images but "
            f"{os.fspath(labels_path)!r} holds {labels.shape[0]} labels")
    return header, labels


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends with ``.gz``.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    array : numpy.ndarray
        At least one dimension, of a dtype in :data:`IDX_DTYPES`.

    Raises
    ------
    ValueError
        If the array has no dimension or an unsupported dtype.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0 or array.ndim > 255:
        raise ValueError(
            f"cannot write an IDX file from a {array.ndim}-D {array.dtype} array; "
            f"expected 1 to 255 dimensions and a dtype in "
            f"{sorted(str(dtype) for dtype in codes)}")
    header = struct.pack(">HBB", 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as stream:
        stream.write(header + data)
