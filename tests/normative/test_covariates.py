"""Covariates coded as numbers, as learned on the training table."""

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.normative.covariates import CovariateCoding

TRAIN = pd.DataFrame({"age": [20.0, 40.0, 60.0, 80.0], "sex": ["F", "M", "F", "M"],
                      "site": ["b", "a", "c", "a"]})


def test_a_network_condition_is_standardised_age_and_every_level_one_hot():
    coding = CovariateCoding().fit(TRAIN)
    coded = coding.transform(TRAIN)
    assert coded.shape == (4, 1 + 2 + 3)
    np.testing.assert_allclose(coded[:, 0], (TRAIN["age"] - 50) / np.std(TRAIN["age"]))
    np.testing.assert_array_equal(coded[:, 1:3], [[1, 0], [0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(coded[:, 3:], [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])


def test_a_regression_design_has_splines_and_drops_each_first_level():
    coding = CovariateCoding(spline_knots=3).fit(TRAIN)
    coded = coding.transform(TRAIN)
    assert coded.shape == (4, 4 + 1 + 2)  # 3 knots, cubic: 5 B-splines less one (bias)
    ages = pd.DataFrame({"age": np.linspace(0, 100, 11), "sex": "F", "site": "a"})
    spline = coding.transform(ages)[:, :4]
    assert np.isfinite(spline).all()  # beyond the knots: linear extrapolation


def test_unknown_levels_and_columns_are_named():
    coding = CovariateCoding().fit(TRAIN)
    with pytest.raises(ValueError, match=r"'site': value 'z' is not one of its categories "
                                         r"\['a', 'b', 'c'\]"):
        coding.transform(TRAIN.assign(site="z"))
    with pytest.raises(ValueError, match="'weight'"):
        coding.transform(TRAIN.drop(columns="age").assign(weight=3))
    with pytest.raises(RuntimeError, match="before fit"):
        CovariateCoding().transform(TRAIN)
    with pytest.raises(ValueError, match="both continuous and categorical"):
        CovariateCoding(continuous=["age"], categorical=["age"])


def test_the_coding_is_the_cvae_condition():
    coding = CovariateCoding().fit(TRAIN)
    condition = coding.condition
    assert condition.names == ["age", "sex", "site"] and condition.width == 6
    np.testing.assert_allclose(coding.transform(TRAIN),
                               condition.encode(condition.table_values(TRAIN)).numpy(),
                               rtol=1e-6)
