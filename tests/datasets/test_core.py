"""pynet's data manager scenarios: ``pynet_cvae.datasets.core`` as pynet code uses it.

Each test is a scenario of pynet's own data manager tests, written again here: on
real files and with ``numpy.load`` / ``pandas.read_csv`` replaced by mocks, as pynet's
tests do, plus pynet's splits, attributes and hooks.
"""

from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, \
    StratifiedShuffleSplit

from pynet_cvae.datasets import core
from pynet_cvae.datasets.core import ArrayDataset, DataItem, DataManager, SetItem


@pytest.fixture
def arrays():
    """pynet's test arrays: 10 inputs (1, 4, 4) filled with their row number, outputs
    (2, 4, 4) with 10 + row, and a table of groups and sexes."""
    inputs = np.ones((10, 1, 4, 4)) * np.arange(10)[:, None, None, None]
    outputs = np.ones((10, 2, 4, 4)) * (10 + np.arange(10))[:, None, None, None]
    metadata = pd.DataFrame({"label": ["group1"] * 5 + ["group2"] * 5,
                             "age": np.arange(20, 30), "sex": ["M"] * 6 + ["F"] * 4})
    return inputs, outputs, metadata


def mocked_manager(arrays, **options):
    """A manager built as pynet's tests build one: numpy.load and read_csv mocked."""
    inputs, outputs, metadata = arrays
    arguments = dict(input_path="/my/path/mock_input_path",
                     metadata_path="/my/path/mock_metadata_path",
                     output_path="/my/path/mock_output_path", number_of_folds=3,
                     batch_size=2, sampler=None, test_size=0.1)
    arguments.update(options)
    with mock.patch("numpy.load", side_effect=[inputs, outputs]) as load, \
            mock.patch("pandas.read_csv", return_value=metadata):
        manager = DataManager(**arguments)
    assert load.call_count == 2  # once per array, input first
    return manager


@pytest.fixture
def on_disk(tmp_path, arrays):
    inputs, outputs, metadata = arrays
    paths = {name: str(tmp_path / name) for name in ("inputs.npy", "outputs.npy", "meta.tsv")}
    np.save(paths["inputs.npy"], inputs.astype(np.float32))
    np.save(paths["outputs.npy"], outputs.astype(np.float32))
    metadata.to_csv(paths["meta.tsv"], sep="\t", index=False)
    return dict(input_path=paths["inputs.npy"], output_path=paths["outputs.npy"],
                metadata_path=paths["meta.tsv"])


def test_the_module_path_pynet_code_imports():
    assert core.DataManager is DataManager and core.DataItem is DataItem
    assert SetItem._fields == ("test", "train", "validation")
    loaders = DataManager.from_numpy(train_inputs=np.zeros((4, 2))).get_dataloader(train=True)
    assert isinstance(loaders, SetItem)


def test_projection_keeps_the_matching_rows_in_the_mask(arrays):
    manager = mocked_manager(arrays, projection_labels={"sex": "M"}, test_size=0.2,
                             number_of_folds=2)
    assert manager.mask.dtype == bool and manager.mask.sum() == 6
    assert (manager.metadata[manager.mask]["sex"] == "M").all()
    assert manager.test_size == 0.2 and manager.number_of_folds == 2


@pytest.mark.parametrize("source", ["mocked", "files"])
def test_sequential_batches_follow_each_folds_rows(arrays, on_disk, source):
    inputs, outputs, _ = arrays
    manager = mocked_manager(arrays) if source == "mocked" else DataManager(
        number_of_folds=3, batch_size=2, sampler=None, test_size=0.1, **on_disk)
    assert manager.number_of_folds == 3
    covered = set()
    for fold in range(3):
        loaders = manager.get_dataloader(train=True, validation=True, fold_index=fold)
        train_rows, validation_rows = manager.generator[fold]
        assert not set(train_rows) & set(validation_rows)
        covered |= set(validation_rows)
        for loader, rows in ((loaders.train, train_rows), (loaders.validation, validation_rows)):
            batches = list(loader)
            assert [len(batch.inputs) for batch in batches] == \
                [min(2, len(rows) - start) for start in range(0, len(rows), 2)]
            seen = torch.cat([batch.inputs for batch in batches]).numpy()
            np.testing.assert_allclose(seen, inputs[rows])
            np.testing.assert_allclose(torch.cat([b.outputs for b in batches]).numpy(),
                                       outputs[rows])
    assert len(covered) == 9  # every non-test row validates once


def test_add_input_appends_the_input_channels_to_the_outputs(arrays):
    manager = mocked_manager(arrays, add_input=True)
    batch = next(iter(manager.get_dataloader(train=True).train))
    assert batch.outputs.shape[1] == 3 and manager.add_input is True
    torch.testing.assert_close(batch.outputs[:, 2:], batch.inputs)


@pytest.mark.parametrize("sampler", ["random", "weighted_random"])
def test_random_samplers_give_full_batches_of_each_fold(arrays, sampler):
    manager = mocked_manager(arrays, sampler=sampler, stratify_label="label", test_size=0.2)
    assert manager.sampler_weights == {"group1": 0.2, "group2": 0.2}
    for fold in range(3):
        train_rows, _ = manager.generator[fold]
        sizes = [len(batch.inputs) for batch in manager.get_dataloader(
            train=True, fold_index=fold).train]
        assert sum(sizes) == len(train_rows) and max(sizes) == 2


def test_patches_have_the_patch_size(arrays):
    manager = mocked_manager(arrays, patch_size=(2, 2))
    batch = next(iter(manager.get_dataloader(train=True).train))
    assert tuple(batch.inputs.shape[-2:]) == (2, 2) and tuple(batch.outputs.shape[1:]) == \
        (2, 2, 2)


def test_patch_grid_serves_every_patch_of_every_image(arrays):
    inputs = np.arange(10 * 4 * 6, dtype=np.float32).reshape(10, 1, 4, 6)
    manager = DataManager.from_numpy(train_inputs=inputs, train_outputs=-inputs,
                                     patch_size=(2, 3), patch_grid=True, batch_size=5,
                                     sampler=None)
    dataset = manager["train"][0]
    assert len(dataset) == 10 * 4 and dataset.patches_per_row == 4
    patches = torch.cat([batch.inputs for batch in manager.get_dataloader(train=True).train])
    assert patches.shape == (40, 1, 2, 3)
    # patch k of image i is at position 4 i + k, the grid in C order, as pynet cuts it
    np.testing.assert_array_equal(patches[4 * 7 + 1].numpy(), inputs[7, :, 0:2, 3:6])
    np.testing.assert_array_equal(patches[4 * 7 + 2].numpy(), inputs[7, :, 2:4, 0:3])
    whole = patches.numpy().reshape(10, 2, 2, 1, 2, 3).transpose(0, 3, 1, 4, 2, 5)
    np.testing.assert_array_equal(whole.reshape(10, 1, 4, 6), inputs)
    assert dataset[29].outputs.tolist() == (-patches[29]).tolist()


def test_pynet_splits_are_those_of_scikit_learns_pynet_calls(on_disk, arrays):
    strata = arrays[2]["label"].to_numpy()
    manager = DataManager(stratify_label="label", test_size=0.2, number_of_folds=2,
                          splits="pynet", sampler=None, **on_disk)
    rows = np.arange(10)
    rest, test = next(StratifiedShuffleSplit(1, test_size=0.2, random_state=0).split(
        rows, strata))
    np.testing.assert_array_equal(manager["test"].indices, test)
    expected = [(rest[train], rest[validation]) for train, validation in
                StratifiedKFold(2).split(rest, strata[rest])]
    for (train, validation), (want_train, want_validation) in zip(manager.generator, expected):
        np.testing.assert_array_equal(train, want_train)  # sklearn's order, not sorted
        np.testing.assert_array_equal(validation, want_validation)
    plain = DataManager(test_size=0.3, number_of_folds=3, splits="pynet", **on_disk)
    rest, test = next(ShuffleSplit(1, test_size=0.3, random_state=0).split(rows))
    np.testing.assert_array_equal(plain["test"].indices, test)
    np.testing.assert_array_equal(plain.generator[1][1],
                                  rest[list(KFold(3).split(rest))[1][1]])


def test_pynet_splits_draw_the_sample_from_numpys_global_generator(on_disk):
    np.random.seed(3)
    first = DataManager(sample_size=0.5, test_size=0, number_of_folds=2, splits="pynet",
                        **on_disk).mask
    np.random.seed(3)
    expected = np.random.choice(2, 10, p=[0.5, 0.5]).astype(bool)
    np.testing.assert_array_equal(first, expected)


def test_unknown_splits_are_named(on_disk):
    with pytest.raises(ValueError, match="splits 'sklearn' unknown: expected one of "
                                         r"\['seeded', 'pynet'\]"):
        DataManager(splits="sklearn", **on_disk)


def test_static_mask_helpers(arrays):
    metadata = arrays[2]
    mask = DataManager.get_mask(metadata, projection_labels={"sex": "M", "age": None})
    assert mask.tolist() == [True] * 6 + [False] * 4  # None filters nothing, as in pynet
    assert DataManager.get_mask_indices(mask).tolist() == list(range(6))
    half = DataManager.get_mask(metadata, sample_size=0.5, seed=1)
    assert half.sum() == 5 and (half == DataManager.get_mask(metadata, sample_size=0.5,
                                                             seed=1)).all()


def test_collate_fn_stacks_samples_into_a_batch(arrays):
    manager = mocked_manager(arrays, labels="age", sampler=None)
    dataset = manager["train"][0]
    batch = manager.collate_fn([dataset[0], dataset[1]])
    assert isinstance(batch, DataItem) and batch.inputs.shape == (2, 1, 4, 4)
    assert batch.labels.dtype == torch.int64 and batch.outputs.shape == (2, 2, 4, 4)


def test_attributes_pynet_code_reads(on_disk):
    def double(sample):
        return sample * 2

    manager = DataManager(input_transforms=[double], data_augmentation_transforms=[np.flip],
                          number_of_folds=3, num_workers=0, drop_last=True, **on_disk)
    assert manager.input_transforms == [double] and manager.output_transforms == []
    assert manager.data_augmentation_transforms == [np.flip]
    assert manager.data_loader_kwargs == {"num_workers": 0, "drop_last": True}
    assert manager.sampler_weights is None and manager.multi_bloc is False


def test_a_missing_test_set_gives_an_empty_loader_as_in_pynet(on_disk):
    manager = DataManager(test_size=0, number_of_folds=2, **on_disk)
    loader = manager.get_dataloader(test=True).test
    assert len(loader) == 0 and list(loader) == []


def test_shuffle_passes_through_to_every_loader(on_disk):
    def orders(manager, split):
        loaders = manager.get_dataloader(**{split: True})
        loader = getattr(loaders, split)
        return [torch.cat([b.inputs[:, 0, 0, 0] for b in loader]).tolist() for _ in range(3)]

    plain = DataManager(test_size=0.5, number_of_folds=2, sampler=None, **on_disk)
    shuffled = DataManager(test_size=0.5, number_of_folds=2, sampler=None, shuffle=True,
                           **on_disk)
    assert orders(plain, "test")[0] == sorted(orders(plain, "test")[0])
    for split in ("test", "validation", "train"):
        epochs = orders(shuffled, split)
        assert sorted(epochs[0]) == sorted(orders(plain, split)[0])
        assert len({tuple(epoch) for epoch in epochs}) > 1  # a new order each epoch


def test_from_numpy_and_from_dataset_take_pynets_positional_order():
    test, train = np.zeros((3, 2)), np.ones((5, 2))
    manager = DataManager.from_numpy(test, None, None, train)
    assert len(manager["test"]) == 3 and len(manager["train"][0]) == 5
    pairs = [(torch.zeros(2), 0)] * 4
    manager = DataManager.from_dataset(pairs[:1], pairs, None, 2)
    assert len(manager["test"]) == 1 and manager.batch_size == 2
    with pytest.raises(ValueError, match="multi_bloc=True is not supported"):
        DataManager.from_dataset(train_dataset=pairs, multi_bloc=True)


def test_array_dataset_takes_pynets_arguments_and_subclasses_are_served():
    inputs = np.arange(12, dtype=np.float32).reshape(6, 2)
    labels = np.array(["a", "b"] * 3)
    dataset = ArrayDataset(inputs, [4, 1], labels, None, False, None, None, {"a": 0, "b": 1})
    assert dataset[0].labels.item() == 0 and dataset[1].labels.item() == 1

    class Noisy(ArrayDataset):
        def __getitem__(self, position):
            item = super().__getitem__(position)
            return item._replace(outputs=item.inputs + 100)

    manager = DataManager.from_dataset(train_dataset=Noisy(inputs), sampler=None,
                                       batch_size=4)
    batch = next(iter(manager.get_dataloader(train=True).train))
    torch.testing.assert_close(batch.outputs, batch.inputs + 100)
    direct = Noisy(inputs).get_batch([0, 5])
    torch.testing.assert_close(direct.outputs, torch.from_numpy(inputs[[0, 5]]) + 100)


class SeededFlip:
    """A pynet ``augmentation.Transformer``-style transform: the dataset sets ``seed``
    and ``dtype`` before each call; it flips with probability 1/2 under the seed and
    adds 1000 to outputs only."""

    def __init__(self):
        self.seed, self.dtype, self.calls = None, "all", []

    def __call__(self, array):
        self.calls.append((self.seed, self.dtype))
        np.random.seed(self.seed)  # as pynet's Transformer does
        flipped = np.flip(array, axis=-1).copy() if np.random.rand() < 0.5 else array
        return flipped + 1000 if self.dtype == "output" else flipped


def test_seeded_transforms_keep_input_and_output_in_sync():
    rows = np.arange(12, dtype=np.float32)[:, None, None, None]
    inputs = rows * 100 + np.arange(4, dtype=np.float32)  # a ramp shows a flip
    flip = SeededFlip()
    manager = DataManager.from_numpy(train_inputs=inputs, train_outputs=inputs * 10,
                                     data_augmentation_transforms=[flip], batch_size=4)
    state = np.random.get_state()[1].copy()
    flips, loader = set(), manager.get_dataloader(train=True).train
    for _ in range(3):  # three epochs
        for batch in loader:
            torch.testing.assert_close(batch.outputs, batch.inputs * 10 + 1000)
            flips |= {bool(sample[..., 0] > sample[..., -1]) for sample in batch.inputs}
    assert flips == {True, False}  # some samples flipped, others not, outputs alike
    assert [dtype for _, dtype in flip.calls[:2]] == ["input", "output"]
    seeds = [seed for seed, _ in flip.calls]
    assert seeds[0::2] == seeds[1::2] and len(set(seeds)) == 36  # per sample and epoch
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global state kept
    again = DataManager.from_numpy(train_inputs=inputs, train_outputs=inputs * 10,
                                   data_augmentation_transforms=[SeededFlip()], batch_size=4)
    first = next(iter(again.get_dataloader(train=True).train))
    replay = next(iter(manager.get_dataloader(train=True).train))
    torch.testing.assert_close(first.inputs, replay.inputs)  # reproducible


def test_input_transforms_with_hooks_get_their_role_and_a_seed():
    flip = SeededFlip()
    manager = DataManager.from_numpy(train_inputs=np.zeros((3, 1, 2)),
                                     train_outputs=np.zeros((3, 1, 2)),
                                     input_transforms=[flip], output_transforms=[flip],
                                     sampler=None, batch_size=3)
    batch = next(iter(manager.get_dataloader(train=True).train))
    assert batch.outputs.eq(1000).all() and batch.inputs.eq(0).all()
    roles = [dtype for _, dtype in flip.calls]
    assert roles == ["input"] * 3 + ["output"] * 3
    assert [seed for seed, _ in flip.calls[:3]] == [seed for seed, _ in flip.calls[3:]]
