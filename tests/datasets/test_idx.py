"""Reading and validating IDX files, gzipped or not."""

import gzip
import os
import struct

import numpy as np
import pytest

from pynet_cvae.cli import main
from pynet_cvae.datasets import fetch_mnist
from pynet_cvae.datasets.fetchers import IDX_NAMES
from pynet_cvae.datasets.idx import (
    IDXFormatError, check_images, check_pair, iter_idx_chunks, read_idx,
    read_idx_header, read_labels, write_idx)

from .conftest_http import idx_bytes


def _write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_reads_images_written_by_hand(tmp_path, compress):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    path = _write(tmp_path / "images", idx_bytes(images), compress)
    header = read_idx_header(path)
    assert header.shape == (3, 4, 5)
    assert header.compressed is compress
    assert header.count == 3
    np.testing.assert_array_equal(read_idx(path), images)
    assert check_images(path).shape == (3, 4, 5)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    labels = np.array([1, 2, 3], dtype=np.uint8)
    path = _write(tmp_path / "labels-idx1-ubyte", idx_bytes(labels), compress=True)
    np.testing.assert_array_equal(read_labels(path), labels)


@pytest.mark.parametrize("dtype, code", [(np.int16, 0x0B), (np.int32, 0x0C),
                                         (np.float32, 0x0D), (np.float64, 0x0E)])
def test_write_idx_round_trip(tmp_path, dtype, code):
    array = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    for name in ("array.idx", "array.idx.gz"):
        write_idx(tmp_path / name, array)
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)
    assert (tmp_path / "array.idx").read_bytes() == idx_bytes(array, code)


def test_chunks_cover_the_file(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 2, 2), dtype=np.uint8)
    path = _write(tmp_path / "images.gz", idx_bytes(images), compress=True)
    chunks = list(iter_idx_chunks(path, items_per_chunk=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), images)


def test_bad_magic_names_the_file(tmp_path):
    path = _write(tmp_path / "train-images-idx3-ubyte", b"\x12\x34\x08\x03" + bytes(12))
    with pytest.raises(IDXFormatError, match="train-images-idx3-ubyte.*magic number"):
        read_idx_header(path)


def test_a_magic_declaring_many_dimensions_gives_a_sensible_size(tmp_path):
    # 0x3f dimensions, read from the data that follows: no overflow to a negative size
    path = _write(tmp_path / "train-images-idx3-ubyte",
                  b"\x00\x00\x08\x3f" + struct.pack(">3I", 60000, 28, 28) + bytes(1000))
    with pytest.raises(IDXFormatError) as refused:
        read_idx_header(path)
    assert str(refused.value) == (
        f"IDX file {str(path)!r} has 1016 bytes but its header (shape (60000, 28, 28, 0, ... "
        "63 dimensions), 1-byte items) needs 256")


@pytest.mark.parametrize("compress", [False, True])
def test_a_header_declaring_terabytes_is_checked_against_the_bytes_present(tmp_path,
                                                                          compress):
    # 800 images of 60000 x 60000: 2.9 TB declared, 1000 bytes present
    data = struct.pack(">HBB3I", 0, 0x08, 3, 800, 60000, 60000) + bytes(1000)
    path = _write(tmp_path / "images", data, compress)
    stored = "decompresses to" if compress else "has"
    with pytest.raises(IDXFormatError) as refused:
        check_images(path)
    assert str(refused.value) == (
        f"IDX file {str(path)!r} {stored} 1016 bytes but its header (shape (800, 60000, "
        "60000), 1-byte items) needs 2880000000016")


def test_preparing_from_a_header_declaring_terabytes_writes_nothing(tmp_path, capsys):
    arrays = {IDX_NAMES[0]: np.zeros((5, 28, 28), np.uint8),
              IDX_NAMES[1]: np.zeros(5, np.uint8),
              IDX_NAMES[2]: np.zeros((3, 28, 28), np.uint8),
              IDX_NAMES[3]: np.zeros(3, np.uint8)}
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
    _write(tmp_path / IDX_NAMES[0],
           struct.pack(">HBB3I", 0, 0x08, 3, 800, 60000, 60000) + bytes(1000))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(IDXFormatError, match="needs 2880000000016"):
        fetch_mnist(tmp_path)
    assert sorted(os.listdir(tmp_path)) == before  # no array, no temporary file
    assert main(["train", "--dataset", "mnist", "--datasetdir", str(tmp_path), "--output",
                 str(tmp_path / "run"), "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("needs 2880000000016")


def test_text_file_is_not_idx(tmp_path):
    path = _write(tmp_path / "notes.gz", b"hello, these are not images\n", compress=True)
    with pytest.raises(IDXFormatError, match="notes.gz"):
        check_images(path)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_is_an_error(tmp_path, compress):
    data = idx_bytes(np.zeros((4, 3, 3), dtype=np.uint8))[:-5]
    path = _write(tmp_path / "images", data, compress)
    with pytest.raises(IDXFormatError, match="images"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_trailing_data_is_an_error(tmp_path, compress):
    data = idx_bytes(np.zeros((4, 3, 3), dtype=np.uint8)) + b"extra"
    path = _write(tmp_path / "images", data, compress)
    with pytest.raises(IDXFormatError, match="images"):
        read_idx(path)


def test_truncated_gzip_stream_is_an_error(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(2, 10, 10)))
    path = tmp_path / "images.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXFormatError, match=r"images\.gz"):
        read_idx(path)


def test_label_out_of_range_names_file_and_value(tmp_path):
    path = _write(tmp_path / "train-labels-idx1-ubyte",
                  idx_bytes(np.array([0, 9, 12, 3], dtype=np.uint8)))
    with pytest.raises(IDXFormatError,
                       match=r"train-labels-idx1-ubyte.*0\.\.9.*found 12 at index 2"):
        read_labels(path)


def test_labels_must_be_one_dimensional_bytes(tmp_path):
    path = _write(tmp_path / "labels", idx_bytes(np.zeros((2, 2), dtype=np.uint8)))
    with pytest.raises(IDXFormatError, match="labels.*shape"):
        read_labels(path)


def test_images_must_be_three_dimensional_bytes(tmp_path):
    path = _write(tmp_path / "images", idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(IDXFormatError, match="images.*rows, columns"):
        check_images(path)


def test_count_mismatch_names_both_files(tmp_path):
    images = _write(tmp_path / "imgs", idx_bytes(np.zeros((5, 2, 2), dtype=np.uint8)))
    labels = _write(tmp_path / "labs", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(IDXFormatError, match=r"imgs.*5 images.*labs.*4 labels"):
        check_pair(images, labels)
    header, read = check_pair(images, _write(tmp_path / "ok", idx_bytes(np.ones(5, np.uint8))))
    assert header.count == 5 and read.dtype == np.int64


def test_write_idx_refuses_unsupported_arrays(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
    with pytest.raises(ValueError, match="0-D"):
        write_idx(tmp_path / "x", np.array(3, dtype=np.uint8))
