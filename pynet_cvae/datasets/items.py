"""What a sample or a mini-batch is (:data:`DataItem`), and how items become one.

:func:`to_tensor` builds the tensors of a DataItem; :func:`as_data_item` and
:class:`DatasetAdapter` turn what any torch dataset returns into DataItems, and
:func:`collate_items` stacks samples into a mini-batch.
"""

from collections import namedtuple
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .transforms import stack_samples

__all__ = ["DataItem", "to_tensor", "as_data_item", "collate_items", "DatasetAdapter",
           "EmptyDataset"]

DataItem = namedtuple("DataItem", ["inputs", "outputs", "labels"])
DataItem.__doc__ = """One sample or one mini-batch: float32 ``inputs`` and ``outputs``,
int64 (or float32) ``labels``; ``None`` where absent."""

_NUMPY_DTYPES = {torch.float32: np.dtype(np.float32), torch.int64: np.dtype(np.int64)}


def to_tensor(data, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Build one tensor of ``dtype`` from an array, a list of samples or a tensor."""
    if isinstance(data, torch.Tensor):
        return data.to(dtype)
    array = stack_samples(data) if isinstance(data, (list, tuple)) else np.asarray(data)
    numpy_dtype = _NUMPY_DTYPES[dtype]
    if array.dtype != numpy_dtype or not array.flags.writeable:
        array = array.astype(numpy_dtype)
    return torch.from_numpy(np.ascontiguousarray(array))


def as_data_item(item) -> DataItem:
    """Turn what a torch dataset returns into a :class:`DataItem` of tensors.

    A DataItem or a dict with those keys is taken field by field; a 3-tuple is
    ``(inputs, outputs, labels)``, a 2-tuple ``(inputs, labels)`` (torchvision's
    convention), anything else the inputs alone.
    """
    if isinstance(item, DataItem):
        fields = tuple(item)
    elif isinstance(item, dict):
        fields = (item.get("inputs"), item.get("outputs"), item.get("labels"))
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        fields = (item[0], None, item[1]) if len(item) == 2 else tuple(item)
    else:
        fields = (item, None, None)
    inputs, outputs, labels = fields
    inputs = to_tensor(inputs)
    outputs = None if outputs is None else to_tensor(outputs)
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        labels = labels.float() if labels.is_floating_point() else labels.long()
    return DataItem(inputs, outputs, labels)


class DatasetAdapter(Dataset):
    """Wrap a torch dataset so that it yields :class:`DataItem` tensors.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        A map-style dataset with ``__len__``; see :func:`as_data_item` for its items.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.strata = None
        self.epoch = 0

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.dataset)

    def __getitem__(self, position: int) -> DataItem:
        """Return sample ``position`` as a DataItem of tensors."""
        return as_data_item(self.dataset[int(position)])

    def get_batch(self, positions: Sequence[int], epoch: Optional[int] = None) -> DataItem:
        """Return the samples at ``positions`` stacked into one mini-batch."""
        return collate_items([self[position] for position in positions])


def collate_items(samples: Sequence) -> DataItem:
    """Stack samples (anything :func:`as_data_item` takes) into one mini-batch.

    Raises
    ------
    ValueError
        If some samples have a field and others None.
    """
    items = [as_data_item(sample) for sample in samples]
    if not items:
        return DataItem(None, None, None)
    fields = []
    for name, values in zip(DataItem._fields, zip(*items)):
        if all(value is None for value in values):
            fields.append(None)
        elif any(value is None for value in values):
            raise ValueError(f"some samples have {name} and others None")
        else:
            fields.append(torch.stack(values))
    return DataItem(*fields)


class EmptyDataset(Dataset):
    """A dataset without samples: what the loader of a missing split iterates."""

    strata = None
    indices = np.empty(0, dtype=np.intp)
    epoch = 0

    def __len__(self) -> int:
        """Zero."""
        return 0

    def __getitem__(self, position: int) -> DataItem:
        raise IndexError(f"sample {position} of an empty dataset")

    def get_batch(self, positions: Sequence[int], epoch: Optional[int] = None) -> DataItem:
        """Only an empty batch: the dataset has no sample."""
        if len(positions):
            raise IndexError(f"samples {list(positions)[:3]} of an empty dataset")
        return DataItem(None, None, None)
