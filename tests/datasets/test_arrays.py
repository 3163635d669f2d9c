"""Array-backed datasets and the batched loader."""

import pickle

import numpy as np
import pytest
import torch

from pynet_cvae.datasets.arrays import ArrayDataset
from pynet_cvae.datasets.items import DataItem
from pynet_cvae.datasets.loading import BatchLoader
from pynet_cvae.datasets.transforms import Flatten, Standardize, batched


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
    return DataItem(*(None if values[0] is None else torch.stack(values)
                      for values in zip(*items)))


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


def test_ready_made_batch_capable_transforms_match_the_per_sample_path():
    inputs, _, labels = _arrays()
    dataset = ArrayDataset(inputs, labels=labels,
                           input_transforms=[Standardize(), batched(np.abs), Flatten()])
    positions = [3, 9, 1]
    batch = dataset.get_batch(positions)
    assert batch.inputs.shape == (3, 72)
    assert torch.allclose(batch.inputs, _stacked(dataset, positions).inputs)
    expected = np.abs((inputs[3] - inputs[3].mean()) / (inputs[3].std() + 1e-6)).ravel()
    np.testing.assert_allclose(batch.inputs[0].numpy(), expected, rtol=1e-5)


def test_a_pickled_dataset_carries_its_memmaps_as_file_references(tmp_path):
    inputs, outputs, labels = _arrays(400)
    np.save(tmp_path / "x.npy", inputs)
    np.save(tmp_path / "y.npy", outputs)
    mapped_inputs = np.load(tmp_path / "x.npy", mmap_mode="r")
    mapped_outputs = np.load(tmp_path / "y.npy", mmap_mode="r")
    dataset = ArrayDataset(mapped_inputs[100:], indices=[5, 0, 250], labels=labels[100:],
                           outputs=mapped_outputs[100:], add_input=True)
    payload = pickle.dumps(dataset)
    assert len(payload) < inputs[100:].nbytes / 10
    copy = pickle.loads(payload)
    assert isinstance(copy.inputs, np.memmap) and isinstance(copy.outputs, np.memmap)
    for name in DataItem._fields:
        assert torch.equal(getattr(copy.get_batch([0, 1, 2]), name),
                           getattr(dataset.get_batch([0, 1, 2]), name))
    np.testing.assert_array_equal(copy[2].inputs.numpy(), inputs[350])


def test_in_memory_arrays_are_pickled_with_their_data():
    inputs, _, _ = _arrays(4)
    copy = pickle.loads(pickle.dumps(ArrayDataset(inputs)))
    assert not isinstance(copy.inputs, np.memmap)
    np.testing.assert_array_equal(copy.inputs, inputs)
