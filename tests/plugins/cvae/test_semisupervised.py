import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import DataManager
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.plugins.cvae.semisupervised import (
    LABELLED_ONLY, MISSING_LABEL, TRAIN_VALIDATION, hide_labels)


def test_only_the_asked_labels_stay_among_the_training_images(digits, tmp_path):
    hidden = hide_labels(digits.metadata_path, str(tmp_path / "hidden.tsv"),
                         labelled_per_class=5, validation_fraction=0.1, seed=0)
    table = pd.read_csv(hidden.metadata_path, sep="\t")
    original = pd.read_csv(digits.metadata_path, sep="\t")
    training = table[table["subset"] == "train"]
    kept = training[training["label"] != MISSING_LABEL]
    assert hidden.labelled == len(kept) == 50
    assert kept["label"].value_counts().to_dict() == {label: 5 for label in range(10)}
    assert (kept["label"] == original.loc[kept.index, "label"]).all()
    assert hidden.unlabelled == len(training) - 50
    validation = table[table["subset"] == "validation"]
    assert len(validation) == hidden.validation > 0
    assert (validation["label"] >= 0).all()  # validation keeps its labels
    test = table[table["split"] == "test"]
    assert (test["subset"] == "test").all() and (test["label"] >= 0).all()
    again = hide_labels(digits.metadata_path, str(tmp_path / "again.tsv"),
                        labelled_per_class=5, validation_fraction=0.1, seed=0)
    assert open(again.metadata_path).read() == open(hidden.metadata_path).read()


def test_a_data_manager_serves_missing_labels(digits, tmp_path):
    hidden = hide_labels(digits.metadata_path, str(tmp_path / "hidden.tsv"),
                         labelled_fraction=0.2, sample_size=0.5, seed=1)
    manager = DataManager(input_path=digits.input_path, metadata_path=hidden.metadata_path,
                          labels=["label"], custom_stratification=TRAIN_VALIDATION,
                          missing_label=MISSING_LABEL, batch_size=1000, test_size=0, input_transforms=[Flatten()],
                          add_input=True)
    batch = next(iter(manager.get_dataloader(train=True).train))
    labels = batch.labels.numpy()
    assert (labels == MISSING_LABEL).sum() == hidden.unlabelled
    assert (labels >= 0).sum() == hidden.labelled
    labelled_only = DataManager(
        input_path=digits.input_path, metadata_path=hidden.metadata_path, labels=["label"],
        custom_stratification=LABELLED_ONLY, missing_label=MISSING_LABEL,
        batch_size=1000, test_size=0,
        input_transforms=[Flatten()], add_input=True)
    assert len(labelled_only["train"][0]) == hidden.labelled
    assert np.array_equal(
        np.sort(next(iter(labelled_only.get_dataloader(train=True).train)).labels.numpy()),
        np.sort(labels[labels >= 0]))


def test_hide_labels_errors_name_the_bad_value(digits, tmp_path):
    path = str(tmp_path / "hidden.tsv")
    with pytest.raises(ValueError, match="exactly one of labelled_per_class and"):
        hide_labels(digits.metadata_path, path)
    with pytest.raises(ValueError, match="labelled_per_class 1000 is more than the"):
        hide_labels(digits.metadata_path, path, labelled_per_class=1000)
    with pytest.raises(ValueError, match=r"labelled_fraction must lie in \(0, 1\], got 2"):
        hide_labels(digits.metadata_path, path, labelled_fraction=2)
    with pytest.raises(ValueError, match="sample_size must lie in"):
        hide_labels(digits.metadata_path, path, labelled_fraction=0.5, sample_size=1.5)
