"""DataItem and the conversion of other datasets' items."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets.items import DatasetAdapter, as_data_item, to_tensor


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


def test_to_tensor_builds_one_writable_tensor_of_the_asked_type():
    read_only = np.arange(6, dtype=np.float64).reshape(2, 3)
    read_only.flags.writeable = False
    tensor = to_tensor(read_only)
    assert tensor.dtype == torch.float32 and tensor.shape == (2, 3)
    assert to_tensor([np.zeros(2), np.ones(2)], torch.int64).tolist() == [[0, 0], [1, 1]]
