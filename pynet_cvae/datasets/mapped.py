"""Memory-mapped arrays at any size: reading and scanning them with bounded memory.

The pages of a memory-mapped file that a process reads stay mapped into it, and count
in its resident memory (RSS), until the kernel needs the memory back; a kernel may
also map a whole large page cache folio (up to 2 MiB) on each read fault. Reading
rows at random from a file larger than memory would thus make the process as large as
memory allows. So a :class:`RowReader` reads the rows of a mini-batch (never the
whole array) through the mapping only for arrays of at most
:data:`MAPPED_READ_BYTES`, the fastest way, and with positional reads (``preadv``,
one per run of consecutive rows) for larger ones, which map nothing.
:func:`first_non_finite` scans an array in chunks of :data:`SCAN_BYTES`, dropping the
mapping's pages after each one (``madvise(MADV_DONTNEED)``: the data stays in the
file and the system's file cache). Peak memory thus grows with the batch size, not
with the data set.

A memory-mapped array travels to worker processes as its file name and offset
(:func:`portable` / :func:`restore`), not as a copy of its data.
"""

import mmap
import os
import weakref
from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

__all__ = ["MAPPED_READ_BYTES", "SCAN_BYTES", "RowReader", "read_rows", "release_pages",
           "first_non_finite", "MappedArrayFile", "portable", "restore"]

#: Arrays of at most this many bytes are read through their mapping (at most that
#: much of them stays resident); larger memory-mapped arrays with positional reads.
MAPPED_READ_BYTES = 256 * 2 ** 20
#: Bytes :func:`first_non_finite` checks at a time.
SCAN_BYTES = 16 * 2 ** 20


def _mapping_of(array: np.ndarray) -> Optional[mmap.mmap]:
    """The shared mapping behind a ``numpy.memmap`` (None otherwise, or copy-on-write)."""
    if not isinstance(array, np.memmap) or getattr(array, "mode", "c") == "c":
        return None
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def release_pages(array: np.ndarray) -> None:
    """Drop the pages of ``array``'s shared file mapping from this process.

    Nothing happens for an array that is not a shared ``numpy.memmap`` (in memory,
    copy-on-write) or where ``madvise`` is not available. The data stays in the
    file (and the system's file cache); later reads map it again.
    """
    mapping = _mapping_of(array)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        mapping.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # a closed mapping, or a kernel that refuses
        pass


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Read ``array[rows]`` with one indexing operation, in ascending row order.

    Sorted indices keep reads of a memory-mapped file local; the batch is then put
    back in the requested order (no extra copy when ``rows`` is already sorted).
    """
    if isinstance(array, np.memmap):
        array = array.view(np.ndarray)  # a view of the same mapping, not a copy
    if rows.size > 1 and (rows[1:] < rows[:-1]).any():
        order = np.argsort(rows, kind="stable")
        batch = np.empty((len(rows),) + array.shape[1:], dtype=array.dtype)
        batch[order] = array[rows[order]]
        return batch
    return array[rows]


class RowReader:
    """Read rows of an array by mini-batch, with bounded resident memory.

    Parameters
    ----------
    array : numpy.ndarray
        The array, shape ``(N, ...)``; a ``numpy.memmap`` stays one.
    mapped_read_bytes : int, optional
        A shared, C-contiguous memory-mapped array larger than this (default
        :data:`MAPPED_READ_BYTES`) is read with ``os.preadv`` from its file, which
        leaves nothing mapped; other arrays are indexed.
    """

    def __init__(self, array: np.ndarray, mapped_read_bytes: Optional[int] = None):
        self.array = array
        self.mapped_read_bytes = MAPPED_READ_BYTES if mapped_read_bytes is None \
            else int(mapped_read_bytes)
        location = portable(array)
        self._file = location if isinstance(location, MappedArrayFile) and hasattr(
            os, "preadv") and array.nbytes > self.mapped_read_bytes else None
        self._descriptor: Optional[int] = None

    @property
    def reads_file(self) -> bool:
        """Whether rows are read from the file (positional reads), not the mapping."""
        return self._file is not None

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Return ``array[rows]`` (a new array) for 1-D integer ``rows``."""
        rows = np.asarray(rows, dtype=np.intp)
        if self._file is None:
            return read_rows(self.array, rows)
        if rows.size and (rows.min() < -len(self.array) or rows.max() >= len(self.array)):
            raise IndexError(f"rows {rows.min()}..{rows.max()} out of range for an array "
                             f"of {len(self.array)} rows")
        rows = rows % max(len(self.array), 1)
        if rows.size < 2 or (rows[1:] > rows[:-1]).all():
            return self._read_sorted(rows)
        unique, inverse = np.unique(rows, return_inverse=True)
        return self._read_sorted(unique)[inverse.reshape(-1)]

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        """Read sorted unique ``rows``, one ``preadv`` per run of consecutive rows."""
        batch = np.empty((len(rows),) + self.array.shape[1:], dtype=self.array.dtype)
        row_bytes = batch[:1].nbytes
        buffer = memoryview(batch.reshape(-1).view(np.uint8))
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        stops = np.append(starts[1:], len(rows))
        descriptor = self._open()
        for start, stop in zip(starts.tolist(), stops.tolist()):
            offset = self._file.offset + int(rows[start]) * row_bytes
            wanted = (stop - start) * row_bytes
            done = os.preadv(descriptor, [buffer[start * row_bytes:stop * row_bytes]], offset)
            if done != wanted:
                raise OSError(f"read {done} of {wanted} bytes at offset {offset} of "
                              f"{self._file.path!r}: the file is shorter than its array")
        return batch

    def _open(self) -> int:
        if self._descriptor is None:
            self._descriptor = os.open(self._file.path, os.O_RDONLY)
            weakref.finalize(self, os.close, self._descriptor)
        return self._descriptor

    def __getstate__(self) -> dict:
        return {"array": portable(self.array), "mapped_read_bytes": self.mapped_read_bytes}

    def __setstate__(self, state: dict) -> None:
        self.__init__(restore(state["array"]), state["mapped_read_bytes"])


def first_non_finite(array: np.ndarray, chunk_bytes: Optional[int] = None
                     ) -> Optional[Tuple[Tuple[int, ...], Any]]:
    """Return ``(index, value)`` of the first NaN or infinite value, or None.

    The array is read in chunks of whole rows of about ``chunk_bytes`` (default
    :data:`SCAN_BYTES`; at least one row), and a memory-mapped array's pages are
    dropped after each chunk, so that memory stays bounded whatever the array's size.
    Arrays of integers, booleans or objects have no such value.
    """
    if array.dtype.kind not in "fc" or array.size == 0:
        return None
    row_bytes = max(1, array[:1].nbytes)
    step = max(1, (SCAN_BYTES if chunk_bytes is None else int(chunk_bytes)) // row_bytes)
    for start in range(0, len(array), step):
        chunk = np.asarray(array[start:start + step])
        finite = np.isfinite(chunk)
        release_pages(array)
        if not finite.all():
            index = np.unravel_index(int(np.argmin(finite.reshape(-1))), chunk.shape)
            index = (start + int(index[0]),) + tuple(int(axis) for axis in index[1:])
            return index, array[index].item()
    return None


class MappedArrayFile(NamedTuple):
    """Where a C-contiguous memory-mapped array lies in its file (picklable)."""

    path: str
    offset: int
    dtype: np.dtype
    shape: Tuple[int, ...]
    mode: str

    def open(self) -> np.memmap:
        """Map the array again (``"r+"`` for an array that was writable)."""
        mode = "r" if self.mode == "r" else "r+"
        return np.memmap(self.path, dtype=self.dtype, mode=mode, offset=self.offset,
                         shape=self.shape, order="C")


def portable(array: Any) -> Any:
    """A memory-mapped array as a :class:`MappedArrayFile`, anything else as it is.

    Only shared, C-contiguous, non-empty ``numpy.memmap`` arrays are turned into a
    file reference (a copy-on-write mapping may hold private changes).
    """
    if _mapping_of(array) is None or not array.flags.c_contiguous or array.size == 0 \
            or getattr(array, "filename", None) is None:
        return array
    original = array
    while isinstance(original.base, np.memmap):
        original = original.base
    if not isinstance(original.base, mmap.mmap):
        return array
    delta = array.__array_interface__["data"][0] - original.__array_interface__["data"][0]
    return MappedArrayFile(os.fspath(original.filename), int(original.offset) + int(delta),
                           array.dtype, tuple(array.shape), array.mode)


def restore(value: Any) -> Any:
    """Undo :func:`portable`: map a :class:`MappedArrayFile` again."""
    return value.open() if isinstance(value, MappedArrayFile) else value
