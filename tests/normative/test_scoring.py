"""Residuals, calibration and subject scores against hand-computed values."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from pynet_cvae.normative.scoring import Calibration, deviation_scores, exceedance_fraction, \
    residuals


def test_residuals_divide_by_the_spread_when_there_is_one():
    values, mean = np.array([[3.0, 5.0]]), np.array([[1.0, 1.0]])
    np.testing.assert_allclose(residuals(values, mean), [[2.0, 4.0]])
    np.testing.assert_allclose(residuals(values, mean, np.array([[2.0, 4.0]])), [[1.0, 1.0]])
    assert np.isfinite(residuals(values, mean, np.zeros((1, 2)))).all()


def test_calibration_standardises_each_voxel_on_the_calibration_subjects():
    calibration = Calibration(predictive=False).fit(np.array([[1.0, 2.0], [3.0, 6.0]]))
    # voxel means (2, 4), standard deviations (sqrt 2, sqrt 8)
    np.testing.assert_allclose(calibration.transform(np.array([[4.0, 4.0], [0.0, 1.0]])),
                               [[2 / math.sqrt(2), 0.0], [-2 / math.sqrt(2), -3 / math.sqrt(8)]],
                               rtol=1e-6)


def test_the_predictive_law_of_two_calibration_subjects_is_cauchy():
    calibration = Calibration().fit(np.array([[1.0], [3.0]]))
    z = calibration.transform(np.array([[4.0], [0.0]]))
    # t = (4 - 2) / sqrt(2), scaled by sqrt(1 + 1/2); Student's t with 1 degree of freedom
    # is Cauchy: P(T > t) = 1/2 - arctan(t) / pi.
    t = 2 / math.sqrt(2) / math.sqrt(1.5)
    expected = norm.isf(0.5 - math.atan(t) / math.pi)
    np.testing.assert_allclose(z[:, 0], [expected, -expected], rtol=1e-5)
    assert expected < 2 / math.sqrt(2) / math.sqrt(1.5)  # heavier tails: smaller z


def test_a_calibration_per_group_uses_each_groups_own_subjects():
    residual = np.array([[0.0], [2.0], [10.0], [14.0]])
    calibration = Calibration(min_group_size=2, predictive=False).fit(
        residual, groups=["a", "a", "b", "b"])
    z = calibration.transform(np.array([[1.0], [12.0]]), groups=["a", "b"])
    np.testing.assert_allclose(z, [[0.0], [0.0]], atol=1e-12)
    with pytest.raises(ValueError, match="group 'c' was not calibrated"):
        calibration.transform(np.array([[1.0]]), groups=["c"])
    with pytest.raises(ValueError, match="group 'b' has 1 subjects"):
        Calibration(min_group_size=2).fit(residual[:3], groups=["a", "a", "b"])
    with pytest.raises(RuntimeError, match="before fit"):
        Calibration().transform(residual)


def test_the_subject_score_is_the_mean_of_its_largest_deviations():
    z = np.array([[1.0, -5.0, 2.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_allclose(deviation_scores(z, top_fraction=0.5), [3.5, 0.5])
    np.testing.assert_allclose(deviation_scores(z, top_fraction=1.0), [2.0, 0.5])
    np.testing.assert_allclose(deviation_scores(z, top_fraction=0.01), [5.0, 0.5])
    with pytest.raises(ValueError, match="top_fraction 0"):
        deviation_scores(z, top_fraction=0)


def test_the_exceedance_fraction_counts_both_tails():
    assert exceedance_fraction(np.array([[0.0, 2.0, -3.0, 1.0]])) == 0.5
    assert exceedance_fraction(np.array([[1.96, -1.96]])) == 0.0
    rng = np.random.default_rng(0)
    assert exceedance_fraction(rng.standard_normal((100, 1000))) == pytest.approx(0.05, abs=0.003)
