"""Properties of the DataManager's splitting, for any data set hypothesis can draw.

For every drawn table of class labels, test size, number of folds and seed:

- each kept row is in exactly one of test / train / validation, for every fold;
- the validation sets of the folds are disjoint and cover every non-test row;
- stratification keeps each class's share in the test set and spreads each class
  evenly over the folds (counts within one of each other);
- the same seed gives the same splits.
"""

import math
import tempfile
from collections import Counter

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pynet_cvae.datasets import DataManager

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def split_problems(draw):
    """Class sizes, a test size, a number of folds and a seed that DataManager accepts."""
    folds = draw(st.integers(min_value=2, max_value=5))
    test_size = draw(st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5]))
    smallest = max(2, math.ceil((folds + 1) / (1 - test_size)) + 1)
    sizes = draw(st.lists(st.integers(min_value=smallest, max_value=smallest + 15),
                          min_size=1, max_size=4))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    order = draw(st.permutations(list(range(len(labels)))))
    seed = draw(st.integers(min_value=0, max_value=2 ** 31 - 1))
    stratify = draw(st.booleans())
    if stratify and test_size:  # a stratified test split holds every class at least once
        assume(math.ceil(test_size * len(labels)) >= len(sizes))
    return labels[list(order)], test_size, folds, seed, stratify


def splits(labels, test_size, folds, seed, stratify):
    """``[(train_rows, validation_rows, test_rows)]`` per fold, from real files."""
    with tempfile.TemporaryDirectory() as folder:
        inputs, metadata = f"{folder}/inputs.npy", f"{folder}/metadata.tsv"
        np.save(inputs, np.arange(len(labels), dtype=np.float32)[:, None])
        pd.DataFrame({"label": labels}).to_csv(metadata, sep="\t", index=False)
        manager = DataManager(input_path=inputs, metadata_path=metadata, labels="label",
                              stratify_label="label" if stratify else None,
                              number_of_folds=folds, test_size=test_size, seed=seed)
        test = manager["test"]
        test_rows = [] if test is None else [int(row) for row in test.indices]
        return [([int(row) for row in train.indices],
                 [int(row) for row in validation.indices], test_rows)
                for train, validation in zip(manager["train"], manager["validation"])]


@SETTINGS
@given(split_problems())
def test_each_row_is_in_exactly_one_split_of_every_fold(problem):
    labels = problem[0]
    for train, validation, test in splits(*problem):
        assert sorted(train + validation + test) == list(range(len(labels)))


@SETTINGS
@given(split_problems())
def test_the_folds_validation_sets_are_disjoint_and_cover_the_non_test_rows(problem):
    labels, _, folds, _, _ = problem
    fold_splits = splits(*problem)
    assert len(fold_splits) == folds
    validations = [row for _, validation, _ in fold_splits for row in validation]
    test = set(fold_splits[0][2])
    assert len(validations) == len(set(validations))
    assert set(validations) == set(range(len(labels))) - test
    assert all(set(split[2]) == test for split in fold_splits)


@SETTINGS
@given(split_problems().filter(lambda problem: problem[4]))
def test_stratification_keeps_each_class_share(problem):
    labels, test_size, _, _, _ = problem
    fold_splits = splits(*problem)
    test = fold_splits[0][2]
    in_test = Counter(labels[test])
    for label, total in Counter(labels).items():
        expected = len(test) * total / len(labels)
        assert abs(in_test[label] - expected) <= 1, (label, in_test[label], expected)
    for label in set(labels):
        per_fold = [int(np.sum(labels[validation] == label))
                    for _, validation, _ in fold_splits]
        assert max(per_fold) - min(per_fold) <= 1, (label, per_fold)


@SETTINGS
@given(split_problems())
def test_the_seed_fixes_the_splits(problem):
    assert splits(*problem) == splits(*problem)
