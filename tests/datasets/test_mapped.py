"""Memory-mapped arrays: bounded reading and scanning, file references."""

import os

import numpy as np
import pytest

from pynet_cvae.datasets.mapped import (
    MappedArrayFile, RowReader, first_non_finite, portable, read_rows, restore)


def _resident_kib(path) -> int:
    """Resident memory (KiB) of this process's mappings of ``path`` (Linux)."""
    total, inside = 0, False
    with open("/proc/self/smaps", encoding="utf-8") as stream:
        for line in stream:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                inside = len(fields) >= 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


def test_read_rows_reads_in_any_order():
    array = np.arange(50).reshape(10, 5)
    rows = np.array([7, 2, 9, 2, 0])
    np.testing.assert_array_equal(read_rows(array, rows), array[rows])
    np.testing.assert_array_equal(read_rows(array, np.array([1, 3])), array[[1, 3]])


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_reading_every_row_of_a_large_array_leaves_nothing_mapped(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.ones((8192, 1024), dtype=np.float32))  # 32 MiB, 4 KiB rows
    batches = np.array_split(np.random.default_rng(0).permutation(8192), 256)

    def resident_after_one_epoch(mapped_read_bytes):
        reader = RowReader(np.load(path, mmap_mode="r"), mapped_read_bytes=mapped_read_bytes)
        for batch in batches:
            assert reader.read(np.sort(batch)).sum() == batch.size * 1024
        return _resident_kib(path), reader.reads_file

    # mapped reads leave pages mapped (how many depends on the page cache and on memory
    # pressure: only "more than positional reads" is sure); positional reads leave none
    mapped, reads_file = resident_after_one_epoch(2 ** 40)
    assert not reads_file and mapped > 1024
    resident, reads_file = resident_after_one_epoch(2 ** 20)
    assert reads_file and resident < 1024


@pytest.mark.parametrize("rows", [[5, 6, 7, 8], [9, 2, 2, 0, 3], [], [11, 10, 1, 2, 3, 0]])
def test_positional_reads_equal_indexing(tmp_path, rows):
    array = np.arange(12 * 6, dtype=np.float64).reshape(12, 2, 3)
    np.save(tmp_path / "x.npy", array)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = np.array(rows, dtype=np.intp)
    for view, expected in ((mapped, array), (mapped[4:], array[4:])):
        reader = RowReader(view[: len(expected)], mapped_read_bytes=0)
        assert reader.reads_file
        usable = rows[rows < len(expected)]
        np.testing.assert_array_equal(reader.read(usable), expected[usable])


def test_a_truncated_file_is_named(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((100, 4)))
    reader = RowReader(np.load(tmp_path / "x.npy", mmap_mode="r"), mapped_read_bytes=0)
    os.truncate(tmp_path / "x.npy", 1000)
    with pytest.raises(OSError, match="read .* bytes at offset .* of '.*x.npy': the file is "
                                      "shorter than its array"):
        reader.read(np.array([90, 99]))


def test_row_reader_reads_in_memory_arrays():
    array = np.arange(12).reshape(6, 2)
    reader = RowReader(array, mapped_read_bytes=0)
    assert not reader.reads_file
    np.testing.assert_array_equal(reader.read(np.array([4, 1])), array[[4, 1]])


def test_first_non_finite_names_the_first_bad_value_chunk_by_chunk(tmp_path):
    array = np.zeros((50, 3, 2), dtype=np.float32)
    array[31, 2, 1] = np.inf
    array[40, 0, 0] = np.nan
    np.save(tmp_path / "x.npy", array)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert first_non_finite(mapped, chunk_bytes=48) == ((31, 2, 1), float("inf"))
    index, value = first_non_finite(mapped[35:], chunk_bytes=1)
    assert index == (5, 0, 0) and np.isnan(value)
    assert first_non_finite(mapped[:30]) is None
    assert first_non_finite(np.arange(5)) is None
    assert first_non_finite(np.zeros((0, 3))) is None


def test_portable_memmaps_reopen_at_the_same_place(tmp_path):
    array = np.arange(60, dtype=np.float64).reshape(10, 6)
    np.save(tmp_path / "x.npy", array)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    reference = portable(mapped[3:7])
    assert isinstance(reference, MappedArrayFile) and reference.shape == (4, 6)
    reopened = restore(reference)
    assert isinstance(reopened, np.memmap) and reopened.mode == "r"
    np.testing.assert_array_equal(reopened, array[3:7])
    assert portable(mapped[:, ::2]) is not None and \
        not isinstance(portable(mapped[:, ::2]), MappedArrayFile)
    copy_on_write = np.load(tmp_path / "x.npy", mmap_mode="c")
    assert portable(copy_on_write) is copy_on_write
    assert restore(array) is array
