"""Mini-batches mixing labelled and unlabelled rows (DataManager labelled_per_batch)."""

import numpy as np
import pytest
import torch

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
    for batch in batches:
        assert (labels[batch[:3]] >= 0).all() and (labels[batch[3:]] == -1).all()
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
