"""DataManager: what its users rely on, on real .npy / .tsv files."""

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, RandomSampler, Sampler, SequentialSampler

from pynet_cvae.datasets.manager import DataItem, DataManager, Loaders

from .conftest import batches_over_epochs


def manager_of(files, **options):
    options.setdefault("labels", ["label"])
    return DataManager(files.input_path, files.metadata_path, **options)


def epoch_rows(loader, rows_of, epoch=None):
    if epoch is not None:
        loader.set_epoch(epoch)
    return [row for batch in loader for row in rows_of(batch.inputs)]


def split_rows(dataset):
    return set(dataset.indices.tolist())


# --- items, shapes, dtypes -------------------------------------------------------------

def test_loader_yields_float_inputs_and_1d_int64_labels(files):
    manager = manager_of(files, batch_size=8, test_size=0.2, number_of_folds=4)
    loaders = manager.get_dataloader(train=True, validation=True, test=True)
    assert isinstance(loaders, Loaders)
    batch = next(iter(loaders.train))
    assert isinstance(batch, DataItem)
    assert batch.inputs.dtype == torch.float32 and batch.inputs.shape == (8, 1, 4, 4)
    assert batch.outputs is None
    assert batch.labels.dtype == torch.int64 and batch.labels.shape == (8,)
    assert len(loaders.train) == -(-len(loaders.train.dataset) // 8)
    assert sum(len(batch.inputs) for batch in loaders.test) == 20


def test_dataset_item_has_no_batch_axis(files, rows_of):
    manager = manager_of(files, output_path=files.output_path)
    item = manager["test"][0]
    assert item.inputs.shape == (1, 4, 4) and item.outputs.shape == (1, 4, 4)
    assert item.labels.shape == () and item.labels.dtype == torch.int64
    row = rows_of(item.inputs[None])[0]
    np.testing.assert_array_equal(item.inputs.numpy(), files.inputs[row])
    np.testing.assert_array_equal(item.outputs.numpy(), files.outputs[row])
    assert item.labels.item() == files.metadata["label"][row]


def test_labels_string_and_list_forms(files):
    single = manager_of(files, labels="label")["test"][0].labels
    assert single.shape == ()
    pair = manager_of(files, labels=["label", "age"], continuous_labels=True)["test"]
    assert pair[0].labels.shape == (2,) and pair[0].labels.dtype == torch.float32
    assert manager_of(files, labels=None)["test"][0].labels is None


def test_get_dataloader_returns_none_for_loaders_not_asked(files):
    loaders = manager_of(files).get_dataloader(train=True)
    assert loaders.test is None and loaders.validation is None
    assert loaders.train is not None


# --- row selection -----------------------------------------------------------------------

def test_projection_labels_keep_matching_rows(files):
    manager = manager_of(files, projection_labels={"site": "paris"}, number_of_folds=2)
    kept = split_rows(manager["test"]) | split_rows(manager["train"][0]) \
        | split_rows(manager["validation"][0])
    assert kept == set(range(0, 100, 2))
    listed = manager_of(files, projection_labels={"label": [1, 3]}, test_size=0,
                        number_of_folds=1)
    assert split_rows(listed["train"][0]) == {row for row in range(100) if row % 4 in (1, 3)}


def test_sample_size_keeps_a_seeded_fraction_per_class(files):
    manager = manager_of(files, sample_size=0.4, stratify_label="label", test_size=0,
                         number_of_folds=1)
    kept = manager["train"][0]
    assert len(kept) == 40
    labels = files.metadata["label"].to_numpy()[kept.indices]
    assert np.bincount(labels).tolist() == [10, 10, 10, 10]
    again = manager_of(files, sample_size=0.4, stratify_label="label", test_size=0,
                       number_of_folds=1)
    assert split_rows(again["train"][0]) == split_rows(kept)


@pytest.mark.parametrize("test_size, expected", [(0, 0), (0.1, 10), (0.25, 25), (1, 100)])
def test_test_size(files, test_size, expected):
    manager = manager_of(files, test_size=test_size, number_of_folds=3)
    test = manager["test"]
    assert (0 if test is None else len(test)) == expected
    if test_size == 1:
        assert manager["train"] == [] and manager["validation"] == []
        with pytest.raises(ValueError, match="fold_index 0 out of range"):
            manager.get_dataloader(train=True)
    if test_size == 0:  # as in pynet, the loader of the missing test set is empty
        loader = manager.get_dataloader(test=True).test
        assert len(loader) == 0 and list(loader) == []


def test_folds_are_disjoint_and_cover_the_non_test_rows(files):
    manager = manager_of(files, number_of_folds=5, test_size=0.2)
    test = split_rows(manager["test"])
    assert manager.number_of_folds == 5
    validations = [split_rows(dataset) for dataset in manager["validation"]]
    for train, validation in zip(manager["train"], validations):
        assert not split_rows(train) & validation and not split_rows(train) & test
        assert split_rows(train) | validation | test == set(range(100))
    assert set().union(*validations) == set(range(100)) - test
    assert sum(len(validation) for validation in validations) == 80


def test_stratification_keeps_class_proportions(make_files):
    files = make_files(rows=200, labels=np.r_[np.zeros(150, int), np.ones(50, int)])
    manager = manager_of(files, stratify_label="label", test_size=0.2, number_of_folds=4)
    labels = files.metadata["label"].to_numpy()
    assert labels[manager["test"].indices].mean() == pytest.approx(0.25)
    for validation in manager["validation"]:
        assert labels[validation.indices].mean() == pytest.approx(0.25)


def test_one_fold_trains_on_every_non_test_row_without_validation(files):
    manager = manager_of(files, number_of_folds=1, test_size=0.1)
    assert manager.number_of_folds == 1 and manager["validation"] == [None]
    assert len(manager["train"][0]) == 90
    loaders = manager.get_dataloader(train=True, validation=True)
    assert loaders.validation is None and len(loaders.train.dataset) == 90


def test_custom_stratification_selects_the_splits(files):
    custom = {"train": {"site": "paris"}, "validation": {"site": "lyon", "label": 1},
              "test": {"site": "lyon", "label": [3]}}
    manager = manager_of(files, custom_stratification=custom)
    assert manager.number_of_folds == 1
    assert split_rows(manager["train"][0]) == set(range(0, 100, 2))
    assert split_rows(manager["validation"][0]) == set(range(1, 100, 4))
    assert split_rows(manager["test"]) == set(range(3, 100, 4))


def test_custom_stratification_without_validation_folds_the_train_rows(files):
    manager = manager_of(files, custom_stratification={"train": {"site": "paris"}},
                         number_of_folds=5)
    assert manager.number_of_folds == 5 and manager["test"] is None
    validations = [split_rows(dataset) for dataset in manager["validation"]]
    assert set().union(*validations) == set(range(0, 100, 2))


# --- samplers and epochs --------------------------------------------------------------------

def test_sequential_sampler_keeps_row_order(files, rows_of):
    manager = manager_of(files, sampler=None, batch_size=7, number_of_folds=2)
    loader = manager.get_dataloader(train=True).train
    assert epoch_rows(loader, rows_of) == sorted(split_rows(loader.dataset))


def test_random_sampler_differs_per_epoch_and_reproduces_from_seed(files, rows_of):
    loader = manager_of(files, batch_size=10).get_dataloader(train=True).train
    first, second = epoch_rows(loader, rows_of), epoch_rows(loader, rows_of, epoch=1)
    assert first != second and sorted(first) == sorted(second)
    again = manager_of(files, batch_size=10).get_dataloader(train=True).train
    assert epoch_rows(again, rows_of) == first
    assert again.state_dict() == {"epoch": 1}  # a finished epoch moves to the next
    assert epoch_rows(again, rows_of) == second
    again.set_epoch(1)
    assert epoch_rows(again, rows_of) == second
    other = manager_of(files, batch_size=10, seed=7).get_dataloader(train=True).train
    assert epoch_rows(other, rows_of) != first


def test_validation_and_test_loaders_are_sequential(files, rows_of):
    loaders = manager_of(files, batch_size=4, number_of_folds=3).get_dataloader(
        validation=True, test=True)
    assert epoch_rows(loaders.validation, rows_of) == sorted(
        split_rows(loaders.validation.dataset))
    assert epoch_rows(loaders.test, rows_of) == sorted(split_rows(loaders.test.dataset))


def test_weighted_random_sampler_balances_classes(make_files, rows_of):
    files = make_files(rows=200, labels=np.r_[np.zeros(180, int), np.ones(20, int)])
    manager = manager_of(files, stratify_label="label", sampler="weighted_random",
                         batch_size=32, test_size=0, number_of_folds=1)
    loader = manager.get_dataloader(train=True).train
    labels = torch.cat([batch.labels for batch in batches_over_epochs(loader, 20)])
    assert len(labels) == 20 * 200
    assert labels.float().mean().item() == pytest.approx(0.5, abs=0.03)


class EvenRowsFirst(Sampler):
    """A custom sampler: even positions, then odd ones."""

    def __init__(self, data_source):
        self.count = len(data_source)

    def __iter__(self):
        return iter(list(range(0, self.count, 2)) + list(range(1, self.count, 2)))

    def __len__(self):
        return self.count


def test_sampler_subclass_is_instantiated_on_the_train_dataset(files, rows_of):
    manager = manager_of(files, sampler=EvenRowsFirst, test_size=0, number_of_folds=1,
                         batch_size=50)
    loader = manager.get_dataloader(train=True).train
    assert epoch_rows(loader, rows_of) == list(range(0, 100, 2)) + list(range(1, 100, 2))
    sequential = manager_of(files, sampler=SequentialSampler, test_size=0, number_of_folds=1)
    assert epoch_rows(sequential.get_dataloader(train=True).train, rows_of) == list(range(100))


def test_torch_random_sampler_gets_the_seeded_generator(files, rows_of):
    def rows(seed):
        manager = manager_of(files, sampler=RandomSampler, batch_size=9, seed=seed)
        loader = manager.get_dataloader(train=True).train
        return epoch_rows(loader, rows_of), epoch_rows(loader, rows_of, epoch=1)

    assert rows(3) == rows(3) and rows(3)[0] != rows(3)[1] and rows(3) != rows(4)


def test_drop_last_applies_to_the_training_loader(files):
    manager = manager_of(files, batch_size=8, test_size=0, number_of_folds=1, drop_last=True)
    loader = manager.get_dataloader(train=True).train
    assert len(loader) == 12 and all(len(batch.inputs) == 8 for batch in loader)


def test_two_workers_give_the_same_batches(files):
    common = dict(batch_size=6, data_augmentation_transforms=[_noise],
                  output_path=files.output_path, add_input=True)
    plain = manager_of(files, **common).get_dataloader(train=True).train
    workers = manager_of(files, num_workers=2, **common).get_dataloader(train=True).train
    for left, right in zip(batches_over_epochs(plain, 2), batches_over_epochs(workers, 2),
                           strict=True):
        for name in DataItem._fields:
            assert torch.equal(getattr(left, name), getattr(right, name))


# --- transforms, augmentation, add_input, patches ---------------------------------------------

def _noise(sample):
    return sample + np.random.uniform(size=sample.shape).astype(np.float32)


def test_transforms_run_in_order(files, rows_of):
    manager = manager_of(files, output_path=files.output_path, test_size=0.5,
                         input_transforms=[lambda x: x + 1, lambda x: x * 2],
                         output_transforms=[lambda y: y - 3])
    item = manager["test"][0]
    row = int(round(item.inputs.numpy().ravel()[0] / 2 - 1))
    np.testing.assert_allclose(item.inputs.numpy(), (files.inputs[row] + 1) * 2)
    np.testing.assert_allclose(item.outputs.numpy(), files.outputs[row] - 3)


def test_augmentation_runs_on_training_samples_only_with_a_shared_seed(make_files):
    files = make_files()
    manager = DataManager(files.input_path, files.metadata_path, output_path=files.input_path,
                          data_augmentation_transforms=[_noise], number_of_folds=2,
                          test_size=0.2, batch_size=5)
    loaders = manager.get_dataloader(train=True, validation=True, test=True)
    for name in ("validation", "test"):
        for batch in getattr(loaders, name):
            assert torch.equal(batch.inputs, batch.outputs)
            assert torch.all(batch.inputs.reshape(5, -1)[:, 1] % 1 < 0.1)
    epochs = [next(iter(loaders.train)) for _ in range(2)]
    for batch in epochs:
        assert torch.equal(batch.inputs, batch.outputs)
        assert not torch.all(batch.inputs.reshape(5, -1)[:, 1] % 1 < 0.1)
    state = np.random.get_state()[1].copy()
    next(iter(loaders.train))
    assert np.array_equal(np.random.get_state()[1], state)


def test_add_input_without_output_path_makes_the_input_the_target(files):
    manager = manager_of(files, add_input=True, input_transforms=[np.ravel])
    batch = next(iter(manager.get_dataloader(test=True).test))
    assert batch.inputs.shape == (1, 16) and torch.equal(batch.outputs, batch.inputs)


def test_add_input_with_output_path_concatenates_on_the_channel_axis(files, rows_of):
    manager = manager_of(files, output_path=files.output_path, add_input=True, batch_size=4)
    batch = next(iter(manager.get_dataloader(test=True).test))
    assert batch.outputs.shape == (4, 2, 4, 4)
    rows = rows_of(batch.inputs)
    np.testing.assert_array_equal(batch.outputs[:, :1].numpy(), files.outputs[rows])
    np.testing.assert_array_equal(batch.outputs[:, 1:].numpy(), files.inputs[rows])
    item = manager["test"][0]
    assert item.outputs.shape == (2, 4, 4)


def test_patch_size_crops_input_and_output_alike(make_files):
    files = make_files(shape=(1, 8, 8))
    manager = DataManager(files.input_path, files.metadata_path, output_path=files.input_path,
                          patch_size=3, number_of_folds=2, batch_size=10)
    loaders = manager.get_dataloader(train=True, validation=True)
    train = next(iter(loaders.train))
    assert train.inputs.shape == (10, 1, 3, 3) and torch.equal(train.inputs, train.outputs)
    corners = {tuple(sample.ravel()[:1].tolist()) for sample in train.inputs % 1}
    assert len(corners) > 1
    validation = next(iter(loaders.validation))
    row = int(validation.inputs[0].ravel()[0])
    np.testing.assert_array_equal(validation.inputs[0].numpy(), files.inputs[row][:, 2:5, 2:5])


# --- labels ----------------------------------------------------------------------------------

def test_label_mapping_turns_strings_into_class_ids(files):
    manager = manager_of(files, labels="diagnosis",
                         label_mapping={"control": 0, "patient": 1}, test_size=0,
                         number_of_folds=1)
    dataset = manager["train"][0]
    expected = (np.arange(100) % 3 == 0).astype(int)
    assert [dataset[i].labels.item() for i in range(100)] == expected.tolist()


def test_continuous_labels_are_float32(files):
    manager = manager_of(files, labels="age", continuous_labels=True, test_size=0,
                         number_of_folds=1, sampler=None, batch_size=100)
    batch = next(iter(manager.get_dataloader(train=True).train))
    assert batch.labels.dtype == torch.float32
    np.testing.assert_allclose(batch.labels.numpy(), files.metadata["age"].to_numpy())


# --- memory mapping and reproducibility -------------------------------------------------------

def test_arrays_stay_memory_mapped(files):
    manager = manager_of(files, output_path=files.output_path, batch_size=16)
    for loader in manager.get_dataloader(train=True, validation=True, test=True):
        list(loader)
        assert loader.dataset.inputs is manager.inputs
        assert loader.dataset.outputs is manager.outputs
    assert isinstance(manager.inputs, np.memmap) and isinstance(manager.outputs, np.memmap)


def test_same_seed_gives_same_splits_and_batches(files, rows_of):
    def run(seed):
        manager = manager_of(files, seed=seed, sample_size=0.8, stratify_label="label",
                             number_of_folds=3, batch_size=5)
        loader = manager.get_dataloader(train=True, fold_index=2).train
        return sorted(split_rows(manager["test"])), epoch_rows(loader, rows_of)

    assert run(11) == run(11) and run(11) != run(12)


# --- from_numpy and from_dataset ---------------------------------------------------------------

def test_from_numpy_builds_one_fold(files):
    inputs, outputs = files.inputs, files.outputs
    labels = files.metadata["label"].to_numpy()
    manager = DataManager.from_numpy(
        train_inputs=inputs[:60], train_outputs=outputs[:60], train_labels=labels[:60],
        validation_inputs=inputs[60:80], validation_labels=labels[60:80],
        test_inputs=inputs[80:], batch_size=16, sampler="weighted_random")
    assert manager.number_of_folds == 1
    loaders = manager.get_dataloader(train=True, validation=True, test=True, fold_index=0)
    batch = next(iter(loaders.train))
    assert batch.outputs.shape == (16, 1, 4, 4) and batch.labels.dtype == torch.int64
    assert next(iter(loaders.validation)).outputs is None
    assert next(iter(loaders.test)).labels is None
    assert sum(len(b.inputs) for b in loaders.test) == 20
    with pytest.raises(ValueError, match="fold_index 1 out of range"):
        manager.get_dataloader(train=True, fold_index=1)


class PairDataset(Dataset):
    def __init__(self, count, form):
        self.count, self.form = count, form

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        image = np.full((1, 2, 2), index, dtype=np.float64)
        if self.form == "pair":
            return image, index % 3
        if self.form == "item":
            return DataItem(torch.tensor(image), torch.tensor(image) * 2, None)
        return image


@pytest.mark.parametrize("form", ["pair", "item", "bare"])
def test_from_dataset_wraps_items(form):
    manager = DataManager.from_dataset(train_dataset=PairDataset(10, form),
                                       test_dataset=PairDataset(5, form), batch_size=4)
    loaders = manager.get_dataloader(train=True, validation=True, test=True)
    assert loaders.validation is None and manager.number_of_folds == 1
    batches = list(loaders.train)
    assert [len(batch.inputs) for batch in batches] == [4, 4, 2]
    assert batches[0].inputs.dtype == torch.float32
    assert (batches[0].labels is not None) == (form == "pair")
    if form == "pair":
        assert batches[0].labels.dtype == torch.int64
    if form == "item":
        assert torch.equal(batches[0].outputs, batches[0].inputs * 2)
    seen = sorted(int(value) for batch in batches for value in batch.inputs[:, 0, 0, 0])
    assert seen == list(range(10))


def test_sampler_instance_is_used_as_given(files, rows_of):
    manager = manager_of(files, sampler=EvenRowsFirst(range(10)), test_size=0,
                         number_of_folds=1, batch_size=5)
    loader = manager.get_dataloader(train=True).train
    assert len(loader) == 2
    assert epoch_rows(loader, rows_of) == [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]


def test_loader_batches_equal_the_per_sample_items(files):
    manager = manager_of(files, output_path=files.output_path, add_input=True, batch_size=7,
                         input_transforms=[lambda x: x * 2], patch_size=2,
                         data_augmentation_transforms=[_noise], number_of_folds=3)
    loader = manager.get_dataloader(train=True).train
    loader.set_epoch(3)
    batch = next(iter(loader))
    dataset = loader.dataset
    dataset.epoch = 3
    positions = loader.batch_positions(3)[0]
    for name in DataItem._fields:
        expected = torch.stack([getattr(dataset[int(p)], name) for p in positions])
        assert torch.equal(getattr(batch, name), expected), name
