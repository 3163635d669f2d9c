"""NIfTI data sets: conversion to a memory-mapped cache, training, writing back."""

import os

import nibabel
import numpy as np
import pandas as pd
import pytest
import torch
from nibabel.testing import data_path

from pynet_cvae.datasets.manager import DataManager
from pynet_cvae.datasets.nifti import NiftiReference, fetch_nifti, write_nifti
from pynet_cvae.datasets.transforms import Flatten, Standardize
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.registry import Fetchers

FUNCTIONAL = os.path.join(data_path, "functional.nii")  # 17 x 21 x 3, 20 volumes
ANATOMICAL = os.path.join(data_path, "anatomical.nii")  # 33 x 41 x 25


@pytest.fixture
def image_table(tmp_path):
    """A table of six 3D images (volumes of functional.nii, each moved), with labels."""
    source = nibabel.load(FUNCTIONAL)
    (tmp_path / "images").mkdir()
    paths = []
    for index in range(6):
        affine = source.affine.copy()
        affine[0, 3] += index
        volume = np.asanyarray(source.dataobj[..., index]).astype(np.float32)
        path = f"images/sub-{index:02d}.nii.gz"
        nibabel.save(nibabel.Nifti1Image(volume, affine), str(tmp_path / path))
        paths.append(path)
    table = pd.DataFrame({"participant": [f"sub-{i:02d}" for i in range(6)], "t1": paths,
                          "label": [0, 1] * 3})
    table.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    return tmp_path / "participants.tsv", table


def test_a_4d_image_becomes_one_sample_per_volume(tmp_path):
    item = fetch_nifti(FUNCTIONAL, datasetdir=tmp_path)
    assert Fetchers.get("fetch_nifti") is fetch_nifti
    inputs = np.load(item.input_path, mmap_mode="r")
    assert isinstance(inputs, np.memmap) and inputs.dtype == np.float32
    assert inputs.shape == (20, 1, 17, 21, 3) and item.output_path is None
    expected = nibabel.load(FUNCTIONAL).get_fdata()
    np.testing.assert_allclose(inputs[7, 0], expected[..., 7], rtol=1e-6)
    metadata = pd.read_csv(item.metadata_path, sep="\t")
    assert metadata["volume"].tolist() == list(range(20))
    assert set(metadata["source"]) == {"functional.nii"}


def test_conversion_happens_once_and_again_when_a_source_changes(image_table):
    table_path, _ = image_table
    item = fetch_nifti(table_path, image_column="t1")
    stamp = os.stat(item.input_path).st_mtime_ns
    assert fetch_nifti(table_path, image_column="t1") == item
    assert os.stat(item.input_path).st_mtime_ns == stamp
    image = table_path.parent / "images" / "sub-02.nii.gz"
    os.utime(image, ns=(stamp + 10 ** 9, stamp + 10 ** 9))
    fetch_nifti(table_path, image_column="t1")
    assert os.stat(item.input_path).st_mtime_ns != stamp


def test_a_table_of_images_is_converted_next_to_it(image_table):
    table_path, table = image_table
    item = fetch_nifti(table_path, image_column="t1")
    assert os.path.dirname(item.input_path) == str(table_path.parent)
    assert os.path.basename(item.input_path) == "participants_t1_inputs.npy"
    inputs = np.load(item.input_path, mmap_mode="r")
    assert inputs.shape == (6, 1, 17, 21, 3)
    second = nibabel.load(str(table_path.parent / table["t1"][2]))
    np.testing.assert_array_equal(inputs[2, 0], second.get_fdata())
    pd.testing.assert_frame_equal(pd.read_csv(item.metadata_path, sep="\t"), table)
    reference = NiftiReference.load(item.reference_path)
    np.testing.assert_array_equal(reference.affines[2], second.affine)
    assert reference.names[2] == "sub-02"
    manager = DataManager(item.input_path, item.metadata_path, labels="label",
                          number_of_folds=2, test_size=0, batch_size=3)
    batch = next(iter(manager.get_dataloader(train=True).train))
    assert batch.inputs.shape == (3, 1, 17, 21, 3) and batch.labels.dtype == torch.int64


def test_predictions_are_written_back_in_each_row_s_space(image_table, tmp_path):
    table_path, table = image_table
    item = fetch_nifti(table_path, image_column="t1")
    predictions = np.random.default_rng(0).random((2, 17 * 21 * 3)).astype(np.float32)
    paths = write_nifti(predictions, item.reference_path, tmp_path / "out", rows=[4, 1])
    assert [os.path.basename(path) for path in paths] == [
        "sub-04_prediction.nii.gz", "sub-01_prediction.nii.gz"]
    written = nibabel.load(paths[0])
    source = nibabel.load(str(table_path.parent / table["t1"][4]))
    np.testing.assert_array_equal(written.affine, source.affine)
    np.testing.assert_allclose(written.get_fdata(), predictions[0].reshape(17, 21, 3))
    two_channels = write_nifti(np.zeros((1, 2, 17, 21, 3)), item.reference_path,
                               tmp_path / "out", rows=[0], suffix="maps")
    assert nibabel.load(two_channels[0]).shape == (17, 21, 3, 2)


@pytest.mark.parametrize("predictions, rows, message", [
    (np.zeros((1, 100)), None, r"a prediction of shape \(100,\) does not fit images of "
                               r"shape \(17, 21, 3\)"),
    (np.zeros((2, 1071)), [0], r"rows \[0\] do not match 2 predictions"),
    (np.zeros((1, 1071)), [6], r"rows \[6\] do not match 1 predictions of a data set of 6"),
])
def test_bad_predictions_are_named(image_table, tmp_path, predictions, rows, message):
    item = fetch_nifti(image_table[0], image_column="t1")
    with pytest.raises(ValueError, match=message):
        write_nifti(predictions, item.reference_path, tmp_path, rows=rows)


def _table(tmp_path, paths):
    path = tmp_path / "table.tsv"
    pd.DataFrame({"image": paths}).to_csv(path, sep="\t", index=False)
    return path


def test_bad_nifti_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="source '.*nothing.nii' does not exist"):
        fetch_nifti(tmp_path / "nothing.nii")
    with pytest.raises(ValueError, match=r"source '.*anatomical.nii' has shape \(33, 41, 25\): "
                                         "expected a 4D image"):
        fetch_nifti(ANATOMICAL, datasetdir=tmp_path)
    with pytest.raises(ValueError, match="image_column 'image' is for a table source"):
        fetch_nifti(FUNCTIONAL, image_column="image", datasetdir=tmp_path)
    table = _table(tmp_path, [ANATOMICAL, "missing.nii"])
    with pytest.raises(ValueError, match="expected image_column"):
        fetch_nifti(table)
    with pytest.raises(ValueError, match="image_column column 't1' not in metadata columns"):
        fetch_nifti(table, image_column="t1")
    with pytest.raises(FileNotFoundError, match="image_column 'image' row 1: '.*missing.nii' "
                                                "does not exist"):
        fetch_nifti(table, image_column="image")
    (tmp_path / "broken.nii").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="row 1: '.*broken.nii' is not a readable NIfTI"):
        fetch_nifti(_table(tmp_path, [ANATOMICAL, "broken.nii"]), image_column="image")
    with pytest.raises(ValueError, match=r"image '.*functional.nii' \(row 1\) has shape "
                                         r"\(17, 21, 3, 20\) but '.*anatomical.nii' has"):
        fetch_nifti(_table(tmp_path, [ANATOMICAL, FUNCTIONAL]), image_column="image")
    with pytest.raises(ValueError, match="dtype 'int16' is invalid"):
        fetch_nifti(FUNCTIONAL, datasetdir=tmp_path, dtype="int16")


def test_nifti_volumes_train_end_to_end_and_predictions_go_back_to_nifti(tmp_path):
    torch.manual_seed(0)
    item = fetch_nifti(FUNCTIONAL, datasetdir=tmp_path / "cache")
    manager = DataManager(item.input_path, item.metadata_path, number_of_folds=2,
                          test_size=0.2, batch_size=4, add_input=True,
                          input_transforms=[Standardize(), Flatten()])
    voxels = 17 * 21 * 3
    model = torch.nn.Sequential(torch.nn.Linear(voxels, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, voxels))
    interface = DeepLearningInterface(model=model, loss_name="MSELoss", learning_rate=1e-2,
                                      progress=False)
    train_history, validation_history = interface.training(manager, nb_epochs=4, fold_index=0)
    losses = train_history["loss"][1]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert np.isfinite(validation_history["loss"][1]).all()
    y_pred, inputs, _, loss, _ = interface.testing(manager)
    assert y_pred.shape == (4, voxels) and np.isfinite(loss)
    rows = manager["test"].indices
    paths = write_nifti(y_pred, item.reference_path, tmp_path / "predictions", rows=rows)
    assert [os.path.basename(path) for path in paths] == ["functional_prediction.nii.gz"]
    written = nibabel.load(paths[0])
    assert written.shape == (17, 21, 3, 4)
    np.testing.assert_array_equal(written.affine, nibabel.load(FUNCTIONAL).affine)
    np.testing.assert_allclose(written.get_fdata()[..., 1], y_pred[1].reshape(17, 21, 3),
                               rtol=1e-6)
