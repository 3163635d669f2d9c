"""Transforms and how a mini-batch runs them."""

import numpy as np
import pytest

from pynet_cvae.datasets.seeding import restored_global_rngs
from pynet_cvae.datasets.transforms import (
    Flatten, Standardize, augment_pair, batched, run_transforms, run_transforms_on_sample)


def test_batch_capable_transforms_run_once_per_batch_and_others_per_sample():
    calls = []

    @batched
    def double(batch):
        calls.append(batch.shape)
        return batch * 2

    transforms = [lambda sample: sample + 1, double, Flatten(), np.negative]
    batch = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    result = run_transforms(batch, transforms)
    assert calls == [(4, 2, 3)] and result.shape == (4, 6)
    for index in range(4):
        np.testing.assert_array_equal(run_transforms_on_sample(batch[index], transforms),
                                      result[index])
    assert double.__name__ == "double"


def test_standardize_gives_each_sample_zero_mean_and_unit_variance():
    batch = np.random.default_rng(0).normal(3, 5, size=(6, 1, 4, 4)).astype(np.float32)
    result = Standardize()(batch)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(result.std(axis=(1, 2, 3)), 1, atol=1e-4)
    assert np.isfinite(Standardize()(np.ones((2, 3)))).all()


def test_per_sample_transforms_must_give_one_shape_per_batch():
    def ragged(sample):
        return sample[: int(sample[0]) + 1]

    with pytest.raises(ValueError, match=r"transforms gave samples of shapes \(1,\) and \(2,\)"):
        run_transforms(np.array([[0.0, 0.0], [1.0, 1.0]]), [ragged])


def test_augment_pair_makes_the_same_random_choices_for_input_and_output():
    def noise(sample):
        return sample + np.random.uniform(size=sample.shape)

    sample = np.zeros((2, 2))
    with restored_global_rngs():
        first = augment_pair(sample, sample.copy(), [noise], seed=3)
        second = augment_pair(sample, None, [noise], seed=3)
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], second[0])
    assert second[1] is None and not np.array_equal(first[0], sample)
