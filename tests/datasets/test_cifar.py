"""fetch_cifar: CIFAR-10 prepared as pynet did, from the binary archive or its folder."""

import hashlib
import os

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import DataManager, fetch_cifar
from pynet_cvae.datasets.cifar import CIFAR10_CLASSES, CifarFormatError
from pynet_cvae.datasets.download import DownloadError
from pynet_cvae.registry import Fetchers

from .. import cifar_data
from .conftest_http import MirrorServer

BATCHES = cifar_data.batches(4)


def check_prepared(item):
    inputs = np.load(item.input_path)
    table = pd.read_csv(item.metadata_path, sep="\t")
    labels = np.concatenate([batch[0] for batch in BATCHES])
    pixels = np.concatenate([batch[1] for batch in BATCHES]).reshape(-1, 3, 32, 32)
    assert inputs.shape == (24, 3, 32, 32) and inputs.dtype == np.float32
    np.testing.assert_allclose(inputs, pixels / 127.5 - 1, atol=1e-6)  # pynet's Normalize
    assert inputs[0, 0, 0, :2].tolist() == [-1.0, 1.0]
    assert table["label"].tolist() == labels.tolist()
    assert table["category"].tolist() == [CIFAR10_CLASSES[label] for label in labels]
    assert table["split"].tolist() == ["train"] * 20 + ["test"] * 4
    assert list(item.labels.items())[:2] == [(0, "plane"), (1, "car")]
    assert item.output_path is None


def test_prepares_the_extracted_folder_under_pynets_file_names(tmp_path):
    cifar_data.write_folder(tmp_path, BATCHES)
    item = fetch_cifar(tmp_path)
    assert os.path.basename(item.input_path) == "pynet_cifar_inputs.npy"
    assert os.path.basename(item.metadata_path) == "pynet_cifar.tsv"
    check_prepared(item)
    stamp = os.stat(item.input_path).st_mtime_ns
    assert fetch_cifar(tmp_path) == item and os.stat(item.input_path).st_mtime_ns == stamp
    manager = DataManager(item.input_path, item.metadata_path, labels=["label"],
                          stratify_label="category", test_size=0, number_of_folds=1)
    assert len(manager["train"][0]) == 24
    assert Fetchers.get("fetch_cifar") is fetch_cifar


def test_reads_an_archive_in_the_folder_without_extracting_it(tmp_path):
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(cifar_data.archive(BATCHES))
    check_prepared(fetch_cifar(tmp_path))
    assert not (tmp_path / "cifar-10-batches-bin").exists()


@pytest.mark.http
def test_downloads_and_verifies_the_archive(tmp_path):
    body = cifar_data.archive(BATCHES)
    with MirrorServer({"cifar-10-binary.tar.gz": body}) as server:
        with pytest.raises(DownloadError, match="checksum mismatch: SHA-256 .*, expected "
                                                "c4a38c50a1bc"):
            fetch_cifar(tmp_path / "bad", mirrors=[server.url])  # the official digest
        item = fetch_cifar(tmp_path / "good", mirrors=[server.url],
                           checksum=hashlib.sha256(body).hexdigest())
    check_prepared(item)


def test_a_malformed_batch_file_is_named(tmp_path):
    broken = list(BATCHES)
    labels, pixels, data = broken[2]
    broken[2] = (labels, pixels, data[:-5])
    cifar_data.write_folder(tmp_path, broken)
    with pytest.raises(CifarFormatError, match="data_batch_3.bin holds 12287 bytes: "
                                               "expected a non-zero multiple of 3073"):
        fetch_cifar(tmp_path)
    assert not (tmp_path / "pynet_cifar.tsv").exists()
