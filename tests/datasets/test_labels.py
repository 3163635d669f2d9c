"""Labels: class ids, label_mapping, and unlabelled rows (missing_label)."""

import numpy as np
import pandas as pd
import pytest
import torch

from pynet_cvae.datasets.labels import prepare_labels
from pynet_cvae.datasets.manager import DataManager

from .conftest import batches_over_epochs


def _semi_supervised_labels(rows=200):
    """Rows 0-119 unlabelled (-1 or an empty cell), then classes 0 (60) and 1 (20)."""
    labels = np.r_[np.full(60, -1.0), np.full(60, np.nan), np.zeros(60), np.ones(20)]
    return labels[:rows]


def test_unlabelled_values_become_the_marker():
    values = np.array([3, -1, np.nan, 0], dtype=object)
    labels = prepare_labels(values, missing_label=-1)
    assert labels.dtype == np.int64 and labels.tolist() == [3, -1, -1, 0]
    mapped = prepare_labels(np.array(["cat", "", None, "-1", "dog"], dtype=object),
                            {"cat": 0, "dog": 1, "": 1}, missing_label=-1)
    assert mapped.tolist() == [0, 1, -1, -1, 1]


def test_label_errors_name_the_value_and_its_row():
    with pytest.raises(ValueError, match="labels has a missing value at row 12: expected a "
                                         "class id in every row .or missing_label=-1"):
        prepare_labels(np.array([1.0, np.nan]), rows=np.array([4, 12]))
    with pytest.raises(ValueError, match="labels value 2.5 at row 1 is not an integer"):
        prepare_labels(np.array([-1, 2.5]), missing_label=-1)
    with pytest.raises(ValueError, match="label_mapping maps 'x' to -1, the missing_label"):
        prepare_labels(np.array(["x"]), {"x": -1}, missing_label=-1)


def test_one_text_value_in_a_label_column_is_named_with_its_row(make_files):
    labels = np.array([0, 1, 2, 3] * 25, dtype=object)
    labels[37] = "cat"  # pandas then reads the whole column as text
    files = make_files(labels=labels)
    with pytest.raises(ValueError) as refused:
        DataManager(files.input_path, files.metadata_path, labels="label")
    assert str(refused.value) == (
        "labels column 'label' value 'cat' at row 37 is not an integer class id: expected "
        "integers (or give label_mapping, or continuous_labels=True)")


@pytest.mark.parametrize("source", ["table", "arrays"])
def test_negative_labels_are_refused_without_missing_label(make_files, source):
    labels = np.arange(100) % 4
    labels[[7, 50]] = -3
    files = make_files(labels=labels)

    def manager(**options):
        if source == "table":
            return DataManager(files.input_path, files.metadata_path, labels="label",
                               **options)
        return DataManager.from_numpy(train_inputs=files.inputs, train_labels=labels,
                                      **options)
    name = "labels column 'label'" if source == "table" else "train_labels"
    with pytest.raises(ValueError) as refused:
        manager()
    assert str(refused.value) == (
        f"{name} value -3 at row 7 is a negative class id: expected class ids >= 0 (or "
        "missing_label=-3 to keep the rows labelled -3 as unlabelled, for semi-supervised "
        "training)")
    with pytest.raises(ValueError, match="value -3 at row 7 is a negative class id: expected "
                                         "class ids >= 0 or the missing_label marker -1"):
        manager(missing_label=-1)
    manager(missing_label=-3)  # what the message suggests


def test_complex_labels_are_refused():
    with pytest.raises(ValueError, match="labels holds complex128 values: expected real "
                                         "numbers or class ids"):
        prepare_labels(np.array([1 + 2j, 0j]))


@pytest.mark.parametrize("marker, continuous, message", [
    ("none", False, "missing_label 'none' is invalid: expected an int marker"),
    (True, False, "missing_label True is invalid"),
    (-1, True, "missing_label -1 needs class labels: expected continuous_labels=False"),
])
def test_bad_missing_label_is_named(files, marker, continuous, message):
    with pytest.raises(ValueError, match=message):
        DataManager(files.input_path, files.metadata_path, labels="label",
                    missing_label=marker, continuous_labels=continuous)
    with pytest.raises(ValueError, match=message):
        DataManager.from_numpy(train_inputs=files.inputs, train_labels=np.zeros(100),
                               missing_label=marker, continuous_labels=continuous)


def test_unlabelled_rows_are_kept_with_the_marker_as_label(make_files, rows_of):
    files = make_files(rows=200, labels=_semi_supervised_labels())
    manager = DataManager(files.input_path, files.metadata_path, labels="label",
                          missing_label=-1, test_size=0, number_of_folds=1, sampler=None,
                          batch_size=50)
    batches = list(manager.get_dataloader(train=True).train)
    labels = torch.cat([batch.labels for batch in batches])
    rows = [row for batch in batches for row in rows_of(batch.inputs)]
    assert labels.dtype == torch.int64 and rows == list(range(200))
    assert labels.tolist() == [-1] * 120 + [0] * 60 + [1] * 20
    assert manager["train"][0][70].labels.item() == -1


def test_without_missing_label_an_empty_label_cell_is_an_error(make_files):
    files = make_files(rows=200, labels=_semi_supervised_labels())
    with pytest.raises(ValueError, match="labels column 'label' has a missing value at row "
                                         "60: expected a class id in every row"):
        DataManager(files.input_path, files.metadata_path, labels="label")
    with pytest.raises(ValueError, match="stratify_label column 'label' has missing values "
                                         "\\(e.g. row 60\\)"):
        DataManager(files.input_path, files.metadata_path, stratify_label="label")


def test_unlabelled_rows_form_their_own_stratum(make_files):
    files = make_files(rows=200, labels=_semi_supervised_labels())
    manager = DataManager(files.input_path, files.metadata_path, labels="label",
                          stratify_label="label", missing_label=-1, test_size=0.25,
                          number_of_folds=4)

    def shares(dataset):
        labels = np.array([dataset[i].labels.item() for i in range(len(dataset))])
        return [np.mean(labels == value) for value in (-1, 0, 1)]

    assert shares(manager["test"]) == pytest.approx([0.6, 0.3, 0.1])
    for validation in manager["validation"]:
        assert shares(validation) == pytest.approx([0.6, 0.3, 0.1], abs=0.03)


def test_weighted_sampler_balances_labelled_classes_and_keeps_the_unlabelled_share(
        make_files):
    files = make_files(rows=200, labels=_semi_supervised_labels())
    manager = DataManager(files.input_path, files.metadata_path, labels="label",
                          stratify_label="label", missing_label=-1, test_size=0,
                          number_of_folds=1, sampler="weighted_random", batch_size=64)
    loader = manager.get_dataloader(train=True).train
    labels = torch.cat([batch.labels for batch in batches_over_epochs(loader, 30)])
    assert (labels == -1).float().mean().item() == pytest.approx(0.6, abs=0.02)
    assert (labels == 0).float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert (labels == 1).float().mean().item() == pytest.approx(0.2, abs=0.02)


def test_from_numpy_keeps_unlabelled_rows(files):
    labels = np.r_[np.full(70, -1), np.zeros(25, int), np.ones(5, int)]
    manager = DataManager.from_numpy(train_inputs=files.inputs, train_labels=labels,
                                     validation_inputs=files.inputs[:4],
                                     validation_labels=[np.nan, 1, -1, 0],
                                     missing_label=-1, sampler="weighted_random",
                                     batch_size=100)
    loaders = manager.get_dataloader(train=True, validation=True)
    drawn = []
    for epoch in range(20):
        loaders.train.set_epoch(epoch)
        drawn.append(next(iter(loaders.train)).labels)
    drawn = torch.cat(drawn)
    assert (drawn == -1).float().mean().item() == pytest.approx(0.7, abs=0.04)
    assert (drawn == 1).float().mean().item() == pytest.approx(0.15, abs=0.04)
    assert next(iter(loaders.validation)).labels.tolist() == [-1, 1, -1, 0]


def test_string_classes_with_unlabelled_rows_can_be_stratified(make_files):
    diagnosis = np.where(np.arange(120) % 3 == 0, "patient", "control").astype(object)
    diagnosis[:30] = np.nan
    files = make_files(rows=120)
    files.metadata.assign(diagnosis=diagnosis).to_csv(files.metadata_path, sep="\t",
                                                      index=False)
    manager = DataManager(files.input_path, files.metadata_path, labels="diagnosis",
                          stratify_label="diagnosis", missing_label=-1,
                          label_mapping={"control": 0, "patient": 1}, number_of_folds=3)
    test_labels = [manager["test"][i].labels.item() for i in range(len(manager["test"]))]
    assert sorted(set(test_labels)) == [-1, 0, 1]
    assert pd.Series(test_labels).value_counts()[-1] == 3
