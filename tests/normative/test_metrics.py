"""Lesion AUROCs against hand-computed values; the site and age predictors."""

import numpy as np
import pytest

from pynet_cvae.normative.metrics import age_prediction_r2, site_prediction_accuracy, \
    subject_auroc, voxel_auroc


def test_voxel_auroc_ranks_absolute_z_and_counts_ties_as_half():
    assert voxel_auroc(np.array([[0.1, -3.0, 0.5, 2.0]]),
                       np.array([[False, True, False, True]])) == 1.0
    # positives |z| = {1, 2}, negatives {1, 0}: pairs 0.5 + 1 + 1 + 1 of 4
    assert voxel_auroc(np.array([[1.0, -1.0], [0.0, 2.0]]),
                       np.array([[True, False], [False, True]])) == 0.875
    with pytest.raises(ValueError, match="both positive and negative"):
        voxel_auroc(np.zeros((1, 3)), np.zeros((1, 3), dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        voxel_auroc(np.zeros((1, 3)), np.zeros((1, 4), dtype=bool))


def test_subject_auroc():
    assert subject_auroc(np.array([1.0, 2.0, 3.0]), np.array([False, True, False])) == 0.5
    assert subject_auroc(np.array([1.0, 2.0, 3.0]), np.array([False, True, True])) == 1.0


def test_site_prediction_finds_a_site_shift_and_reports_chance():
    rng = np.random.default_rng(0)
    sites = np.repeat(["a", "b", "c"], [10, 10, 20])
    pattern = rng.standard_normal(500)
    shifted = rng.standard_normal((40, 500)) + np.searchsorted(["a", "b", "c"], sites)[:, None] \
        * pattern
    accuracy, chance = site_prediction_accuracy(shifted, sites)
    assert chance == 0.5 and accuracy == 1.0
    noise, _ = site_prediction_accuracy(rng.standard_normal((40, 500)), sites)
    assert noise < 0.75
    with pytest.raises(ValueError, match="at least two sites"):
        site_prediction_accuracy(shifted, ["a"] * 40)


def test_age_is_predicted_from_an_ageing_pattern():
    rng = np.random.default_rng(1)
    ages = rng.uniform(20, 80, 50)
    images = ages[:, None] * rng.standard_normal(300)[None] / 20 \
        + rng.standard_normal((50, 300)) * 0.5
    sites = np.tile(["a", "b"], 25)
    assert age_prediction_r2(images, ages, sites) > 0.9
    assert age_prediction_r2(rng.standard_normal((50, 300)), ages, sites) < 0.2
