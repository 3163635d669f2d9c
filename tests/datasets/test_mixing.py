"""Mini-batches mixing labelled and unlabelled rows (DataManager labelled_per_batch)."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets.loading import BatchLoader
from pynet_cvae.datasets.manager import DataManager
from pynet_cvae.datasets.mixing import LabelledMixSampler


def _labels(unlabelled=90, labelled=10):
    return np.r_[np.full(unlabelled, -1), np.arange(labelled) % 2]


def test_every_batch_holds_the_labelled_share_and_each_unlabelled_row_once():
    labels = _labels()
    sampler = LabelledMixSampler(labels, batch_size=8, labelled_per_batch=3,
                                 generator=torch.Generator().manual_seed(0))
    positions = np.fromiter(iter(sampler), dtype=int)
    assert len(positions) == len(sampler) == 18 * 3 + 90
    batches = [positions[start:start + 8] for start in range(0, len(positions), 8)]
    assert len(batches) == sampler.batches == 18
    for batch in batches:  # labelled rows at slots 0, 2 and 5 of 8
        assert (labels[batch[[0, 2, 5]]] >= 0).all()
        assert (labels[np.delete(batch, [0, 2, 5])] == -1).all()
    unlabelled = positions[labels[positions] == -1]
    assert sorted(unlabelled.tolist()) == list(range(90))
    # 54 labelled draws from a pool of 10: each used 5 or 6 times
    counts = np.bincount(positions[labels[positions] >= 0], minlength=100)[90:]
    assert counts.min() >= 5 and counts.max() <= 6


def test_the_order_follows_the_generator():
    def epoch(seed):
        return list(LabelledMixSampler(_labels(), 8, 3,
                                       generator=torch.Generator().manual_seed(seed)))

    assert epoch(1) == epoch(1)
    assert epoch(1) != epoch(2)


class _Rows:
    """A dataset whose mini-batch is the array of its positions."""

    def __init__(self, count):
        self.count = count

    def __len__(self):
        return self.count

    def get_batch(self, positions, epoch):
        return np.asarray(positions)


def _epoch(labels, batch_size, per_batch, rank=0, world_size=1, epoch=3):
    sampler = LabelledMixSampler(labels, batch_size, per_batch)
    loader = BatchLoader(_Rows(len(labels)), batch_size, sampler=sampler, seed=7)
    loader.shard(rank, world_size)
    loader.set_epoch(epoch)
    return list(loader)


@pytest.mark.parametrize("unlabelled", [90, 89, 100, 79, 84])
def test_processes_share_the_mini_batches_of_one_process_with_the_global_batch(unlabelled):
    labels = _labels(unlabelled=unlabelled)
    alone = _epoch(labels, batch_size=16, per_batch=6)
    shares = [_epoch(labels, batch_size=8, per_batch=3, rank=rank, world_size=2)
              for rank in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == len(alone)
    for index, (one, first, second) in enumerate(zip(alone, *shares)):
        assert len(first) == len(second)  # equal shares, even in the last mini-batch
        for share in (first, second):  # each process's batch holds its labelled share
            assert (labels[share] >= 0).sum() == 3
        together = np.r_[first, second]
        if index < len(alone) - 1 or len(one) % 2 == 0:  # the same rows, in that order
            np.testing.assert_array_equal(together, one)
        else:  # the last one is completed with rows seen earlier in the epoch
            assert set(one.tolist()) <= set(together.tolist())
            assert len(together) - len(one) == len(one) % 2
    unlabelled_rows = np.concatenate([np.r_[first, second] for first, second in zip(*shares)])
    unlabelled_rows = unlabelled_rows[labels[unlabelled_rows] == -1]
    assert set(unlabelled_rows.tolist()) == set(range(unlabelled))


def test_a_world_size_that_is_no_count_is_named():
    with pytest.raises(ValueError, match="world_size must be an integer >= 1, got 0"):
        LabelledMixSampler(_labels(), 8, 3).set_world_size(0)


@pytest.mark.parametrize("labels, per_batch, message", [
    (_labels(), 8, r"labelled_per_batch must be an integer in \[1, 7\].*got 8"),
    (_labels(), 0, r"labelled_per_batch must be an integer in \[1, 7\].*got 0"),
    (_labels(), 2.5, r"got 2.5"),
    (np.full(10, -1), 2, "has no labelled sample"),
    (np.zeros(10, dtype=int), 2, "has no unlabelled sample"),
    (np.zeros((10, 2), dtype=int), 2, r"one class id per sample, got labels of shape"),
])
def test_bad_arguments_are_named(labels, per_batch, message):
    with pytest.raises(ValueError, match=message):
        LabelledMixSampler(labels, 8, per_batch)


def test_manager_mixes_the_training_batches_only(make_files):
    labels = np.r_[np.full(150, -1.0), np.arange(50) % 2]
    files = make_files(rows=200, labels=labels)
    manager = DataManager(files.input_path, files.metadata_path, labels=["label"],
                          missing_label=-1, labelled_per_batch=4, batch_size=16,
                          number_of_folds=5, test_size=0.1, stratify_label="label")
    loaders = manager.get_dataloader(train=True, validation=True, fold_index=2)
    train = list(loaders.train)
    unlabelled = int((manager["train"][2].labels[manager["train"][2].indices] == -1).sum())
    assert len(train) == len(loaders.train) == -(-unlabelled // 12)
    for batch in train[:-1]:
        assert (batch.labels >= 0).sum() == 4 and len(batch.labels) == 16
    assert sum(int((batch.labels == -1).sum()) for batch in train) == unlabelled
    again = list(manager.get_dataloader(train=True, fold_index=2).train)
    assert all(torch.equal(one.inputs, other.inputs) for one, other in zip(train, again))
    loaders.train.set_epoch(1)
    assert not torch.equal(list(loaders.train)[0].inputs, train[0].inputs)  # next epoch
    validation = torch.cat([batch.labels for batch in loaders.validation])
    assert len(validation) == len(manager["validation"][2])


@pytest.mark.parametrize("options, message", [
    ({}, "labelled_per_batch=4 needs missing_label"),
    ({"missing_label": -1, "sampler": "weighted_random", "stratify_label": "label"},
     "labelled_per_batch replaces the 'random' sampler: got sampler 'weighted_random'"),
    ({"missing_label": -1, "labels": None}, "labelled_per_batch needs one class column"),
])
def test_manager_refuses_a_mix_it_cannot_make(make_files, options, message):
    files = make_files(rows=40, labels=np.r_[np.full(20, -1.0), np.arange(20) % 2])
    arguments = dict(labels=["label"], labelled_per_batch=4, batch_size=8, test_size=0)
    arguments.update(options)
    with pytest.raises(ValueError, match=message):
        DataManager(files.input_path, files.metadata_path, **arguments)
