"""Counterfactual ageing measured on the brains a model makes, against the cohort's law."""

import numpy as np
import pytest

from pynet_cvae.normative import MassUnivariateModel, check_counterfactual_ageing

pytestmark = pytest.mark.slow


class _Rejuvenating(MassUnivariateModel):
    """The baseline asked for the mirror age: older requests give younger brains."""

    def predict(self, covariates, images=None):
        return super().predict(covariates.assign(age=105.0 - covariates["age"]), images)


def _fitted(model, data):
    train = np.flatnonzero(data.table["split"] == "train")
    return model.fit(data.rows(train), data.covariates(train))


def _healthy_test_rows(data):
    table = data.table
    return np.flatnonzero((table["split"] == "test") & (table["group"] == "control"))[:4]


def test_the_baselines_counterfactual_ventricles_follow_the_law(small_cohort, small_data):
    rows = _healthy_test_rows(small_data)
    check = check_counterfactual_ageing(_fitted(MassUnivariateModel(), small_data),
                                        small_data, small_cohort.directory, rows,
                                        ages=[20, 40, 60, 80], batch_size=3)
    assert check.measured_ml.shape == (4, 4)
    np.testing.assert_array_equal(check.rows, rows)
    assert np.all(np.diff(check.law_ml) > 0)  # the truth: ventricles widen
    assert check.correlation > 0.9 and check.correlations.min() > 0.8
    assert check.measured_ml[:, -1].mean() > 1.5 * check.measured_ml[:, 0].mean()


def test_a_model_that_ages_backwards_is_caught(small_cohort, small_data):
    check = check_counterfactual_ageing(_fitted(_Rejuvenating(), small_data), small_data,
                                        small_cohort.directory, _healthy_test_rows(small_data),
                                        ages=[20, 50, 80])
    assert check.correlation < -0.5  # mirrored, so not the same curve: still caught


def test_bad_requests_are_named(small_cohort, small_data, tmp_path):
    model = _fitted(MassUnivariateModel(), small_data)
    with pytest.raises(ValueError, match=r"ages \[50.0, 50.0\]"):
        check_counterfactual_ageing(model, small_data, small_cohort.directory, [40],
                                    ages=[50, 50])
    with pytest.raises(FileNotFoundError, match="cohort.json"):
        check_counterfactual_ageing(model, small_data, tmp_path, [40])
