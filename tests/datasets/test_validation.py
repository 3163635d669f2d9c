"""Bad input gives a clear error: each message names the bad value and what was expected.

Every check of the issue's list has a test here (or, for labels and NIfTI files, in
``test_labels.py`` and ``test_nifti.py``): a missing or unreadable file, an
input/metadata length mismatch, a missing label or stratification column, a class
with fewer members than folds, ``sample_size`` or ``test_size`` out of range,
``batch_size`` < 1, a ``fold_index`` out of range, NaN or infinite values (with the
first bad index), labels that are not integers, and too few rows after
``projection_labels``.
"""

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from pynet_cvae.datasets.manager import DataManager


def manager_of(files, **options):
    options.setdefault("labels", ["label"])
    return DataManager(files.input_path, files.metadata_path, **options)


class PairDataset(Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, index):
        return np.zeros((1, 2, 2)), index


def test_missing_files_are_named(files, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npy"):
        DataManager(str(tmp_path / "nothing.npy"), files.metadata_path)
    with pytest.raises(FileNotFoundError, match="nothing.tsv"):
        DataManager(files.input_path, str(tmp_path / "nothing.tsv"))
    with pytest.raises(FileNotFoundError, match="none.npy"):
        DataManager(files.input_path, files.metadata_path, output_path=str(tmp_path / "none.npy"))


def test_length_mismatches_are_named(files, tmp_path):
    short = tmp_path / "short.tsv"
    files.metadata[:90].to_csv(short, sep="\t", index=False)
    with pytest.raises(ValueError, match="has 90 rows but input_path .* has 100"):
        DataManager(files.input_path, str(short))
    np.save(tmp_path / "short.npy", files.outputs[:50])
    with pytest.raises(ValueError, match="has 50 samples"):
        DataManager(files.input_path, files.metadata_path,
                    output_path=str(tmp_path / "short.npy"))


@pytest.mark.parametrize("options, message", [
    (dict(labels="digit"), "labels column 'digit' not in metadata columns \\['label'"),
    (dict(stratify_label="group"), "stratify_label column 'group' not in metadata"),
    (dict(projection_labels={"city": "x"}), "projection_labels column 'city' not in"),
    (dict(projection_labels={"site": "rome"}), "projection_labels .*'rome'.* selects no row"),
    (dict(stratify_label="label", number_of_folds=30, test_size=0),
     "class 0 of stratify_label 'label' has 25 members, fewer than 30"),
    (dict(sample_size=0), "sample_size 0 out of range: expected a number in \\(0, 1\\]"),
    (dict(sample_size=1.5), "sample_size 1.5 out of range"),
    (dict(test_size=-0.1), "test_size -0.1 out of range: expected a number in \\[0, 1\\]"),
    (dict(test_size=2), "test_size 2 out of range"),
    (dict(batch_size=0), "batch_size 0 is invalid: expected an int >= 1"),
    (dict(number_of_folds=0), "number_of_folds 0 is invalid"),
    (dict(sampler="shuffled"), "sampler 'shuffled' is invalid: expected 'random'"),
    (dict(sampler="weighted_random"), "sampler 'weighted_random' needs stratify_label"),
    (dict(labels="site"),
     "labels column 'site' value 'paris' at row 0 is not an integer class id"),
    (dict(labels="age"), "labels column 'age' value 20.5 at row 0 is not an integer class id"),
    (dict(labels="site", label_mapping={"paris": 0}),
     "value 'lyon' at row 1 not in label_mapping"),
    (dict(stratify_label="label", custom_stratification={"train": {"site": "paris"}}),
     "custom_stratification and stratify_label 'label' are exclusive"),
    (dict(custom_stratification={"training": {}}), "custom_stratification keys \\['training'\\]"),
    (dict(custom_stratification={"train": {"site": ["paris", "lyon"]},
                                 "test": {"label": 1}}),
     "splits 'train' and 'test' share 25 rows"),
    (dict(patch_size=9), "patch_size 9 does not fit samples of shape \\(1, 4, 4\\)"),
    (dict(collate_fn=list), "dataloader argument 'collate_fn' is set by the DataManager"),
    (dict(workers=2), "dataloader argument 'workers' unknown"),
    (dict(seed=-1), "seed -1 is invalid"),
])
def test_bad_options_are_named(files, options, message):
    with pytest.raises(ValueError, match=message):
        manager_of(files, **options)


def test_bad_fold_index_and_split_are_named(files):
    manager = manager_of(files, number_of_folds=3)
    for fold_index in (3, -1, "0"):
        with pytest.raises(ValueError, match=f"fold_index {fold_index!r} out of range"):
            manager.get_dataloader(train=True, fold_index=fold_index)
    with pytest.raises(ValueError, match="split 'training' unknown"):
        manager["training"]


def test_from_numpy_errors_are_named(files):
    with pytest.raises(ValueError, match="train_labels has 3 rows but train_inputs has 100"):
        DataManager.from_numpy(train_inputs=files.inputs, train_labels=[0, 1, 2])
    with pytest.raises(ValueError, match="test_labels value 0.5 at row 0 is not an integer"):
        DataManager.from_numpy(test_inputs=files.inputs[:2], test_labels=[0.5, 1])
    with pytest.raises(ValueError, match="weighted_random' needs 1-D class train_labels"):
        DataManager.from_numpy(train_inputs=files.inputs, sampler="weighted_random")
    with pytest.raises(ValueError, match="weighted_random' is not available with from_data"):
        DataManager.from_dataset(train_dataset=PairDataset(), sampler="weighted_random")


def test_sampler_class_needing_other_arguments_is_named(files):
    manager = manager_of(files, sampler=torch.utils.data.WeightedRandomSampler)
    with pytest.raises(ValueError, match="sampler WeightedRandomSampler cannot be built"):
        manager.get_dataloader(train=True)


def test_stratified_test_split_needs_two_members_per_class(make_files):
    files = make_files(rows=20, labels=[0] * 19 + [7])
    with pytest.raises(ValueError, match="class 7 of stratify_label 'label' has 1 members"):
        manager_of(files, stratify_label="label", test_size=0.2, number_of_folds=2)


@pytest.mark.parametrize("bad, name", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_inputs_are_reported_with_the_first_bad_index(files, tmp_path, bad, name):
    inputs = files.inputs.copy()
    inputs[57, 0, 2, 3] = bad
    inputs[80, 0, 0, 0] = np.nan
    np.save(tmp_path / "bad.npy", inputs)
    with pytest.raises(ValueError, match=f"input_path '.*bad.npy' has value {name} at index "
                                         r"\(57, 0, 2, 3\) \(sample 57\): expected finite"):
        DataManager(str(tmp_path / "bad.npy"), files.metadata_path)
    with pytest.raises(ValueError, match=r"output_path '.*bad.npy' has value .* \(57, 0, 2, 3"):
        DataManager(files.input_path, files.metadata_path, output_path=str(tmp_path / "bad.npy"))
    with pytest.raises(ValueError, match=r"validation_inputs has value .* \(17, 0, 2, 3\)"):
        DataManager.from_numpy(train_inputs=files.inputs, validation_inputs=inputs[40:])
    unchecked = DataManager(str(tmp_path / "bad.npy"), files.metadata_path, check_finite=False)
    assert len(unchecked["test"]) == 10


def test_unreadable_files_are_named(files, tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="input_path '.*broken.npy' is not a readable .npy"):
        DataManager(str(tmp_path / "broken.npy"), files.metadata_path)
    (tmp_path / "empty.tsv").write_bytes(b"")
    with pytest.raises(ValueError, match="metadata_path '.*empty.tsv' is not a readable tab"):
        DataManager(files.input_path, str(tmp_path / "empty.tsv"))


def test_too_few_rows_left_after_projection_labels_are_named(files):
    with pytest.raises(ValueError, match="number_of_folds 30 is more than the 22 rows left"):
        manager_of(files, projection_labels={"label": 1}, number_of_folds=30)
    with pytest.raises(ValueError, match="test_size 0.5 cannot split 1 rows"):
        manager_of(files, projection_labels={"age": 20.5}, test_size=0.5)


def test_complex_inputs_are_refused_instead_of_losing_their_imaginary_part(files, tmp_path):
    waves = (files.inputs + 1j * files.inputs).astype(np.complex64)
    path = tmp_path / "complex.npy"
    np.save(path, waves)
    expected = ("holds complex64 values: expected real numbers (the imaginary parts would be "
                "dropped); convert it first, e.g. np.abs(x), x.real, or the real and "
                "imaginary parts as two channels")
    with pytest.raises(ValueError) as refused:
        DataManager(str(path), files.metadata_path, labels=["label"])
    assert str(refused.value) == f"input_path {str(path)!r} {expected}"
    with pytest.raises(ValueError) as refused:
        DataManager.from_numpy(train_inputs=waves, train_labels=np.zeros(len(waves), int))
    assert str(refused.value) == f"train_inputs {expected}"
    with pytest.raises(ValueError, match="train_outputs holds complex64 values"):
        DataManager.from_numpy(train_inputs=files.inputs, train_outputs=waves)
    with pytest.raises(ValueError, match="train_inputs holds <U1 values: expected numbers"):
        DataManager.from_numpy(train_inputs=np.array([["a"]] * 4))
