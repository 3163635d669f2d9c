"""The fetchers: prepared files, reuse, downloads from a real local mirror, errors."""

import gzip
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets.download import DownloadError
from pynet_cvae.datasets.fetchers import (
    DEBIAN_FASHION_MNIST_DIR, Item, fetch_digits, fetch_fashion_mnist, fetch_minst,
    fetch_mnist)
from pynet_cvae.datasets.idx import IDXFormatError
from pynet_cvae.registry import Fetchers

from .conftest_http import (
    IDX_NAMES, MirrorServer, SmallMNIST, closed_port_url, corrupted, idx_bytes)

DATA = SmallMNIST(n_train=50, n_test=20)


def _load(item):
    return np.load(item.input_path), pd.read_csv(item.metadata_path, sep="\t")


def _assert_prepared(item, data):
    assert isinstance(item, Item) and item.output_path is None
    inputs, metadata = _load(item)
    n_train, n_test = len(data.train_labels), len(data.test_labels)
    assert inputs.shape == (n_train + n_test, 1, 28, 28)
    assert inputs.dtype == np.float32
    assert inputs.min() == 0.0 and inputs.max() == 1.0
    np.testing.assert_allclose(inputs[:, 0], data.images / 255.0, rtol=1e-6)
    assert metadata["label"].dtype.kind == "i"
    np.testing.assert_array_equal(metadata["label"], data.labels)
    assert list(metadata["split"]) == ["train"] * n_train + ["test"] * n_test


def _no_temporary_files(directory):
    return [name for name in os.listdir(directory) if name.endswith(".part")] == []


def _place(directory, files, compress):
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / (f"{name}.gz" if compress else name)).write_bytes(
            gzip.compress(data) if compress else data)


@pytest.mark.http
def test_download_then_reuse_without_network(tmp_path):
    with MirrorServer(DATA.gz()) as server:
        item = fetch_minst(tmp_path, mirrors=[server.url], checksums=DATA.checksums())
        assert sorted(server.requests) == sorted(DATA.gz())
    _assert_prepared(item, DATA)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [*DATA.gz(), "mnist_inputs.npy", "mnist_metadata.tsv", "mnist_prepared.sha256"])
    stamps = [os.stat(path).st_mtime_ns for path in (item.input_path, item.metadata_path)]
    # The server is stopped: a second call must neither download nor convert.
    again = fetch_mnist(str(tmp_path), mirrors=[server.url], checksums=DATA.checksums())
    assert again == item
    assert [os.stat(path).st_mtime_ns for path in again[::2]] == stamps
    assert len(server.requests) == 4


@pytest.mark.http
def test_bad_first_mirror_good_second(tmp_path):
    with MirrorServer(corrupted(DATA.gz())) as bad, MirrorServer(DATA.gz()) as good:
        item = fetch_minst(tmp_path, mirrors=[bad.url, good.url],
                           checksums=DATA.checksums())
        assert len(bad.requests) == 4 and len(good.requests) == 4
    _assert_prepared(item, DATA)
    assert _no_temporary_files(tmp_path)


@pytest.mark.http
def test_corrupted_everywhere_is_one_error_and_leaves_nothing(tmp_path):
    with MirrorServer(corrupted(DATA.gz())) as first, \
            MirrorServer(corrupted(DATA.gz())) as second:
        with pytest.raises(DownloadError) as caught:
            fetch_minst(tmp_path, mirrors=[first.url, second.url],
                        checksums=DATA.checksums())
    message = str(caught.value)
    assert f"{first.url}{IDX_NAMES[0]}.gz" in message
    assert f"{second.url}{IDX_NAMES[0]}.gz" in message
    assert "checksum mismatch" in message
    assert str(tmp_path) in message
    assert all(f"{name}.gz" in message for name in IDX_NAMES)
    assert os.listdir(tmp_path) == []


@pytest.mark.http
def test_truncated_response_leaves_nothing(tmp_path):
    with MirrorServer(DATA.gz(), truncated=DATA.gz()) as server:
        with pytest.raises(DownloadError, match="truncated"):
            fetch_minst(tmp_path, mirrors=[server.url], checksums=DATA.checksums())
    assert os.listdir(tmp_path) == []


@pytest.mark.http
def test_server_down_lists_urls_and_files_to_place(tmp_path):
    first, second = closed_port_url(), closed_port_url()
    with pytest.raises(DownloadError) as caught:
        fetch_minst(tmp_path / "mnist", mirrors=[first, second])
    message = str(caught.value)
    assert f"{first}{IDX_NAMES[0]}.gz: cannot connect" in message
    assert f"{second}{IDX_NAMES[0]}.gz: cannot connect" in message
    assert str(tmp_path / "mnist") in message
    assert all(f"{name}.gz" in message for name in IDX_NAMES)
    assert os.listdir(tmp_path / "mnist") == []


@pytest.mark.http
@pytest.mark.parametrize("compress", [True, False])
def test_files_placed_by_hand_need_no_network(tmp_path, compress):
    data = SmallMNIST(n_train=30, n_test=7, seed=1)
    _place(tmp_path, data.raw(), compress)
    item = fetch_minst(tmp_path, mirrors=[closed_port_url()])
    _assert_prepared(item, data)


@pytest.mark.http
def test_mixed_gz_and_raw_files(tmp_path):
    raw = DATA.raw()
    _place(tmp_path, {name: raw[name] for name in IDX_NAMES[:2]}, compress=True)
    _place(tmp_path, {name: raw[name] for name in IDX_NAMES[2:]}, compress=False)
    _assert_prepared(fetch_minst(tmp_path, mirrors=[closed_port_url()]), DATA)


@pytest.mark.http
def test_missing_files_are_downloaded_next_to_placed_ones(tmp_path):
    _place(tmp_path, {IDX_NAMES[0]: DATA.raw()[IDX_NAMES[0]]}, compress=False)
    with MirrorServer(DATA.gz()) as server:
        item = fetch_minst(tmp_path, mirrors=[server.url], checksums=DATA.checksums())
        assert sorted(server.requests) == sorted(f"{name}.gz" for name in IDX_NAMES[1:])
    _assert_prepared(item, DATA)


@pytest.mark.parametrize("name, data, expected", [
    (IDX_NAMES[0], b"\x12\x34\x08\x03" + bytes(40), "magic number"),
    (IDX_NAMES[1], idx_bytes(np.zeros(49, np.uint8)), "holds 49 labels"),
    (IDX_NAMES[3], idx_bytes(np.array([1] * 19 + [12], np.uint8)), "found 12 at index 19"),
], ids=["bad-magic", "count-mismatch", "label-12"])
def test_malformed_files_are_clear_errors(tmp_path, name, data, expected):
    _place(tmp_path, {**DATA.raw(), name: data}, compress=True)
    with pytest.raises(IDXFormatError) as caught:
        fetch_minst(tmp_path, mirrors=[closed_port_url()])
    assert str(tmp_path / f"{name}.gz") in str(caught.value)
    assert expected in str(caught.value)
    assert not (tmp_path / "mnist_inputs.npy").exists()
    assert not (tmp_path / "mnist_metadata.tsv").exists()
    assert _no_temporary_files(tmp_path)


def test_interrupted_preparation_is_redone(tmp_path):
    _place(tmp_path, DATA.raw(), compress=False)
    item = fetch_minst(tmp_path)
    os.remove(item.metadata_path)  # as if the process died between the two files
    _assert_prepared(fetch_minst(tmp_path), DATA)
    np.save(item.input_path, np.zeros((3, 1, 28, 28), np.float32))  # stale array
    _assert_prepared(fetch_minst(tmp_path), DATA)


def test_a_prepared_file_edited_since_is_prepared_again(tmp_path, caplog):
    _place(tmp_path, DATA.raw(), compress=False)
    item = fetch_minst(tmp_path)
    record = tmp_path / "mnist_prepared.sha256"
    assert subprocess.run(["sha256sum", "-c", record.name], cwd=tmp_path,
                          capture_output=True).returncode == 0
    inputs = np.load(item.input_path)
    inputs[3, 0, 5, 5] = 0.5  # same shape, same rows: only the record tells
    np.save(item.input_path, inputs)
    with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
        _assert_prepared(fetch_minst(tmp_path), DATA)
    assert f"prepared file {item.input_path} changed since it was prepared" in caplog.text
    metadata = Path(item.metadata_path)
    metadata.write_text(metadata.read_text().replace("train", "test", 1))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
        _assert_prepared(fetch_minst(tmp_path), DATA)
    assert f"prepared file {item.metadata_path} changed since it was prepared" in caplog.text


def test_prepared_files_without_their_record_are_prepared_again(tmp_path, caplog):
    item = fetch_digits(tmp_path)
    expected = _load(item)
    record = tmp_path / "digits_prepared.sha256"
    os.remove(record)  # a folder prepared by an older version, or a crash before the end
    np.save(item.input_path, np.zeros_like(expected[0]))
    with caplog.at_level(logging.INFO, logger="pynet_cvae"):
        again = fetch_digits(tmp_path)
    assert f"no readable record {record}" in caplog.text
    np.testing.assert_array_equal(_load(again)[0], expected[0])
    assert record.is_file()


def test_digits(tmp_path):
    item = fetch_digits(tmp_path)
    inputs, metadata = _load(item)
    assert item.output_path is None
    assert inputs.shape == (1797, 1, 8, 8) and inputs.dtype == np.float32
    assert inputs.min() == 0.0 and inputs.max() == 1.0
    assert sorted(metadata["label"].unique()) == list(range(10))
    assert len(metadata) == 1797
    splits = list(metadata["split"])
    assert splits == ["train"] * 1437 + ["test"] * 360
    test_share = metadata.groupby("label")["split"].apply(lambda s: (s == "test").mean())
    assert test_share.between(0.15, 0.25).all()  # stratified
    from sklearn.datasets import load_digits
    digits = load_digits()
    np.testing.assert_allclose(inputs[:, 0], digits.images[metadata["source_index"]] / 16)
    np.testing.assert_array_equal(metadata["label"], digits.target[metadata["source_index"]])
    stamp = os.stat(item.input_path).st_mtime_ns
    assert fetch_digits(tmp_path) == item
    assert os.stat(item.input_path).st_mtime_ns == stamp
    other = fetch_digits(tmp_path / "other")
    assert Path(other.metadata_path).read_bytes() == Path(item.metadata_path).read_bytes()


def test_digits_default_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PYNET_CVAE_DATA", str(tmp_path))
    item = fetch_digits()
    assert Path(item.input_path).parent == tmp_path / "digits"
    assert np.load(item.input_path).shape == (1797, 1, 8, 8)


needs_debian = pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST_DIR / f"{IDX_NAMES[0]}.gz").is_file(),
    reason="Debian package dataset-fashion-mnist not installed")


@needs_debian
def test_fashion_mnist_from_debian_package(tmp_path):
    item = fetch_fashion_mnist(tmp_path, mirrors=[closed_port_url()])
    inputs = np.load(item.input_path, mmap_mode="r")
    metadata = pd.read_csv(item.metadata_path, sep="\t")
    assert inputs.shape == (70000, 1, 28, 28) and inputs.dtype == np.float32
    assert float(inputs[:1000].min()) == 0.0 and float(inputs[:1000].max()) == 1.0
    assert (metadata["split"] == "train").sum() == 60000
    assert list(metadata["split"][59999:60001]) == ["train", "test"]
    assert metadata["label"].value_counts().eq(7000).all()
    assert metadata.loc[0, "class_name"] == "Ankle boot" and metadata.loc[0, "label"] == 9
    assert sorted(os.listdir(tmp_path)) == [
        "fashion_mnist_inputs.npy", "fashion_mnist_metadata.tsv",
        "fashion_mnist_prepared.sha256"]


def test_fashion_mnist_prefers_files_in_datasetdir(tmp_path):
    _place(tmp_path, DATA.raw(), compress=True)
    item = fetch_fashion_mnist(tmp_path, mirrors=[closed_port_url()])
    _assert_prepared(item, DATA)
    assert "class_name" in pd.read_csv(item.metadata_path, sep="\t")


@needs_debian
def test_fetch_minst_accepts_fashion_files(tmp_path):
    for name in IDX_NAMES:
        shutil.copy(DEBIAN_FASHION_MNIST_DIR / f"{name}.gz", tmp_path)
    item = fetch_minst(tmp_path, mirrors=[closed_port_url()])
    assert np.load(item.input_path, mmap_mode="r").shape == (70000, 1, 28, 28)


def test_fashion_mnist_refuses_another_data_sets_official_files(tmp_path):
    # The files have the same names: official MNIST files left in a folder must
    # not become Fashion-MNIST. Stand-in "official" digests: those of DATA.
    from dataclasses import replace

    from pynet_cvae.datasets import fetchers

    spec = replace(fetchers._FASHION_MNIST, foreign_sha256={
        digest: "MNIST" for digest in DATA.checksums().values()})
    for filename, data in DATA.gz().items():
        (tmp_path / filename).write_bytes(data)
    with pytest.raises(ValueError, match="official MNIST file, not Fashion-MNIST"):
        fetchers._fetch_idx(spec, tmp_path, mirrors=[closed_port_url()], checksums=None)


def test_registry_holds_the_fetchers():
    registry = Fetchers.get_registry()
    for name in ("fetch_minst", "fetch_mnist", "fetch_fashion_mnist", "fetch_digits"):
        assert name in registry
    assert registry["fetch_minst"] is fetch_minst
    assert registry["fetch_mnist"] is fetch_mnist is fetch_minst
    assert Fetchers.get("fetch_digits") is fetch_digits
