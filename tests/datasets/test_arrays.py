"""Array-backed datasets and the batched loader."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets.arrays import (
    ArrayDataset, BatchLoader, DataItem, DatasetAdapter, EpochSampler, as_data_item, read_rows)


class Scale:
    """A batched transform: applied once to the whole batch array."""

    batched = True

    def __init__(self):
        self.calls = []

    def __call__(self, batch):
        self.calls.append(batch.shape)
        return batch * 3


def _jitter(sample):
    return sample + np.random.normal(size=sample.shape)


def _flip(sample):
    return sample[..., ::-1] if torch.rand(()) < 0.5 else sample


def _arrays(rows=40):
    inputs = np.random.default_rng(0).normal(size=(rows, 2, 6, 6)).astype(np.float32)
    outputs = np.random.default_rng(1).normal(size=(rows, 1, 6, 6)).astype(np.float32)
    labels = np.arange(rows, dtype=np.int64) % 5
    return inputs, outputs, labels


def _stacked(dataset, positions):
    items = [dataset[int(position)] for position in positions]
    return DataItem(*(torch.stack(values) for values in zip(*items)))


def test_read_rows_reads_in_any_order():
    array = np.arange(50).reshape(10, 5)
    rows = np.array([7, 2, 9, 2, 0])
    np.testing.assert_array_equal(read_rows(array, rows), array[rows])
    np.testing.assert_array_equal(read_rows(array, np.array([1, 3])), array[[1, 3]])


@pytest.mark.parametrize("random_patches", [False, True])
def test_batched_path_equals_per_sample_path(random_patches):
    inputs, outputs, labels = _arrays()
    scale = Scale()
    dataset = ArrayDataset(
        inputs, indices=np.arange(5, 35), outputs=outputs, labels=labels,
        input_transforms=[lambda x: x + 1, scale, np.negative], output_transforms=[np.abs],
        augmentation_transforms=[_jitter, _flip], add_input=True, patch_size=(4, 3),
        random_patches=random_patches, seed=3)
    positions = np.array([12, 3, 29, 0, 7, 7])
    for epoch in (0, 4):
        batch = dataset.get_batch(positions, epoch)
        dataset.epoch = epoch
        expected = _stacked(dataset, positions)
        for name in DataItem._fields:
            assert torch.equal(getattr(batch, name), getattr(expected, name)), name
    assert batch.inputs.shape == (6, 2, 4, 3) and batch.outputs.shape == (6, 3, 4, 3)
    assert (6, 2, 4, 3) in scale.calls and (1, 2, 4, 3) in scale.calls
    assert not torch.equal(dataset.get_batch(positions, 0).inputs,
                           dataset.get_batch(positions, 1).inputs)


def test_per_sample_transforms_see_samples_in_order():
    inputs, _, _ = _arrays(6)
    seen = []
    dataset = ArrayDataset(inputs, input_transforms=[lambda x: seen.append(x[0, 0, 0]) or x])
    dataset.get_batch([4, 1, 5])
    assert seen == [inputs[4, 0, 0, 0], inputs[1, 0, 0, 0], inputs[5, 0, 0, 0]]


def test_in_place_transforms_do_not_touch_the_source_array():
    inputs, _, _ = _arrays(6)
    original = inputs.copy()

    def in_place(sample):
        sample += 1
        return sample

    dataset = ArrayDataset(inputs, input_transforms=[in_place])
    dataset[2]
    dataset.get_batch([1, 2, 3])
    np.testing.assert_array_equal(inputs, original)


def test_dataset_keeps_the_memmap_it_was_given(tmp_path):
    inputs, _, _ = _arrays()
    np.save(tmp_path / "x.npy", inputs)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    dataset = ArrayDataset(mapped, indices=[3, 1, 2])
    loader = BatchLoader(dataset, batch_size=2, sampler="random")
    batches = list(loader)
    assert dataset.inputs is mapped and isinstance(dataset.inputs, np.memmap)
    assert torch.equal(torch.cat([b.inputs for b in batches]).sort(0).values,
                       torch.from_numpy(inputs[[3, 1, 2]]).sort(0).values)


def test_epoch_sampler_is_a_function_of_seed_fold_and_epoch():
    dataset = ArrayDataset(*_arrays()[:1])
    first = EpochSampler(dataset, "random", seed=1, fold=0)
    assert np.array_equal(first.positions(2), EpochSampler(dataset, "random", 1, 0).positions(2))
    assert not np.array_equal(first.positions(2), first.positions(3))
    other_fold = EpochSampler(dataset, "random", seed=1, fold=1)
    assert not np.array_equal(first.positions(2), other_fold.positions(2))
    assert np.array_equal(EpochSampler(dataset, None).positions(5), np.arange(40))


def test_loader_length_drop_last_and_resume():
    dataset = ArrayDataset(*_arrays(10)[:1])
    assert len(BatchLoader(dataset, batch_size=4)) == 3
    dropped = BatchLoader(dataset, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(b.inputs) for b in dropped] == [4, 4]
    loader = BatchLoader(dataset, batch_size=3, sampler="random", seed=5)
    epochs = [torch.cat([b.inputs for b in loader]) for _ in range(3)]
    resumed = BatchLoader(dataset, batch_size=3, sampler="random", seed=5)
    resumed.load_state_dict({"epoch": 2})
    assert torch.equal(torch.cat([b.inputs for b in resumed]), epochs[2])
    assert resumed.state_dict() == {"epoch": 3}


@pytest.mark.filterwarnings("ignore:.pin_memory. argument")
def test_loader_with_workers_and_pinned_memory_matches_the_plain_loader():
    inputs, outputs, labels = _arrays()
    dataset = ArrayDataset(inputs, outputs=outputs, labels=labels,
                           augmentation_transforms=[_jitter])
    plain = BatchLoader(dataset, batch_size=7, sampler="random")
    workers = BatchLoader(dataset, batch_size=7, sampler="random", num_workers=2,
                          pin_memory=True, persistent_workers=True)
    for _ in range(2):
        for left, right in zip(plain, workers, strict=True):
            assert all(torch.equal(a, b) for a, b in zip(left, right))


def test_as_data_item_converts_common_item_forms():
    image = np.ones((1, 2, 2), dtype=np.float64)
    pair = as_data_item((image, 3))
    assert pair.inputs.dtype == torch.float32 and pair.labels.dtype == torch.int64
    assert pair.outputs is None
    triple = as_data_item((image, image, 0.5))
    assert triple.outputs.shape == (1, 2, 2) and triple.labels.dtype == torch.float32
    mapping = as_data_item({"inputs": image, "labels": torch.tensor(2)})
    assert mapping.labels.item() == 2 and mapping.outputs is None
    assert as_data_item(torch.zeros(3)).labels is None


def test_adapter_rejects_batches_mixing_labels_and_none():
    class Mixed(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return (np.zeros(2), 1) if index == 0 else np.zeros(2)

    with pytest.raises(ValueError, match="some samples have labels and others None"):
        DatasetAdapter(Mixed()).get_batch([0, 1])


def test_weighted_sampler_needs_classes():
    with pytest.raises(ValueError, match="sampler 'weighted_random' needs class labels"):
        EpochSampler(ArrayDataset(*_arrays()[:1]), "weighted_random")


def test_rows_of_outputs_and_labels_must_match_inputs():
    inputs, outputs, labels = _arrays()
    with pytest.raises(ValueError, match="outputs has 5 rows, expected 40"):
        ArrayDataset(inputs, outputs=outputs[:5])
    with pytest.raises(ValueError, match="labels has 3 rows, expected 40"):
        ArrayDataset(inputs, labels=labels[:3])


def test_patches_need_inputs_and_outputs_of_the_same_spatial_shape():
    inputs, outputs, _ = _arrays()
    with pytest.raises(ValueError, match="patch_size 3 needs inputs and outputs of the same"):
        ArrayDataset(inputs, outputs=outputs[:, :, :5, :5], patch_size=3)
    with pytest.raises(ValueError, match="patch_size \\(7, 2\\) does not fit samples"):
        ArrayDataset(inputs, patch_size=(7, 2))
