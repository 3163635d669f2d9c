"""The epoch sampler and the batched loader."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets.arrays import ArrayDataset
from pynet_cvae.datasets.loading import BatchLoader, EpochSampler, balanced_weights


def _jitter(sample):
    return sample + np.random.normal(size=sample.shape)


def _arrays(rows=40):
    inputs = np.random.default_rng(0).normal(size=(rows, 2, 6, 6)).astype(np.float32)
    outputs = np.random.default_rng(1).normal(size=(rows, 1, 6, 6)).astype(np.float32)
    labels = np.arange(rows, dtype=np.int64) % 5
    return inputs, outputs, labels


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
    epochs = []
    for epoch in range(3):
        loader.set_epoch(epoch)
        epochs.append(torch.cat([b.inputs for b in loader]))
    resumed = BatchLoader(dataset, batch_size=3, sampler="random", seed=5)
    resumed.load_state_dict({"epoch": 2})
    assert resumed.state_dict() == {"epoch": 2}
    assert torch.equal(torch.cat([b.inputs for b in resumed]), epochs[2])
    assert resumed.state_dict() == {"epoch": 3}  # the epoch ran to its end


def test_only_a_finished_iteration_moves_to_the_next_epoch():
    """tqdm and other wrappers may call iter() on a loader and drop the iterator; a loop
    of the user's own that runs epochs to their end gets a new order each."""
    dataset = ArrayDataset(*_arrays(12)[:1])
    loader = BatchLoader(dataset, batch_size=5, sampler="random", seed=3)
    iter(loader), iter(loader)  # started, never consumed
    next(iter(loader))  # started, partly consumed
    assert loader.state_dict() == {"epoch": 0}
    first = torch.cat([b.inputs for b in loader])
    assert loader.state_dict() == {"epoch": 1}
    second = torch.cat([b.inputs for b in loader])
    assert not torch.equal(second, first) and loader.state_dict() == {"epoch": 2}
    loader.set_epoch(0)
    assert torch.equal(torch.cat([b.inputs for b in loader]), first)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0, got -1"):
        loader.set_epoch(-1)


@pytest.mark.filterwarnings("ignore:.pin_memory. argument")
def test_loader_with_workers_and_pinned_memory_matches_the_plain_loader():
    inputs, outputs, labels = _arrays()
    dataset = ArrayDataset(inputs, outputs=outputs, labels=labels,
                           augmentation_transforms=[_jitter])
    plain = BatchLoader(dataset, batch_size=7, sampler="random")
    workers = BatchLoader(dataset, batch_size=7, sampler="random", num_workers=2,
                          pin_memory=True, persistent_workers=True)
    for epoch in range(2):
        plain.set_epoch(epoch)
        workers.set_epoch(epoch)
        for left, right in zip(plain, workers, strict=True):
            assert all(torch.equal(a, b) for a, b in zip(left, right))


def test_weighted_sampler_needs_classes():
    with pytest.raises(ValueError, match="sampler 'weighted_random' needs class labels"):
        EpochSampler(ArrayDataset(*_arrays()[:1]), "weighted_random")




def test_balanced_weights_give_each_class_the_same_share():
    codes = np.array([0] * 90 + [1] * 10)
    weights = balanced_weights(codes)
    assert weights[codes == 0].sum() == pytest.approx(0.5)
    assert weights[codes == 1].sum() == pytest.approx(0.5)


def test_balanced_weights_keep_the_natural_share_of_unlabelled_rows():
    codes = np.array([-1] * 80 + [0] * 18 + [1] * 2)
    weights = balanced_weights(codes)
    assert weights.sum() == pytest.approx(1)
    assert weights[codes == -1].sum() == pytest.approx(0.8)
    assert weights[codes == 0].sum() == pytest.approx(0.1)
    assert weights[codes == 1].sum() == pytest.approx(0.1)
    assert np.allclose(balanced_weights(np.full(5, -1)), 0.2)
