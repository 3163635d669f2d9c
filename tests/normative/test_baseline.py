"""The mass-univariate baseline on data whose effects are known, and the protocol's
counterfactuals and harmonisation built on it."""

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.normative import MassUnivariateModel, NormativeModel, counterfactual, \
    harmonise
from pynet_cvae.normative.data import Rows

SITE_OFFSET = {"a": 0.0, "b": 3.0}
SITE_NOISE = {"a": 0.1, "b": 0.4}


def _subjects(count, seed):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"age": rng.uniform(20, 80, count),
                          "sex": rng.choice(["F", "M"], count),
                          "site": rng.choice(["a", "b"], count)})
    pattern = np.linspace(1, 2, 8).reshape(1, 1, 2, 2, 2)
    expected = (10 + 0.001 * (table["age"].to_numpy() - 20) ** 2
                + 2.0 * (table["sex"] == "M") + table["site"].map(SITE_OFFSET)).to_numpy()
    noise = table["site"].map(SITE_NOISE).to_numpy()[:, None, None, None, None]
    images = expected[:, None, None, None, None] * pattern + noise * rng.standard_normal(
        (count, 1, 2, 2, 2))
    return images.astype(np.float32), table, expected[:, None, None, None, None] * pattern


def test_the_baseline_recovers_a_nonlinear_age_effect_sex_site_and_site_noise():
    images, table, _ = _subjects(400, 0)
    model = MassUnivariateModel(batch_size=64).fit(Rows(images, np.arange(400)), table)
    assert isinstance(model, NormativeModel)
    _, new, truth = _subjects(50, 1)
    expectation = model.predict(new)
    assert expectation.mean.shape == (50, 1, 2, 2, 2)
    np.testing.assert_allclose(expectation.mean, truth, atol=0.25)  # effects: 2 to 7
    spreads = {site: expectation.spread[(new["site"] == site).to_numpy()]
               for site in SITE_NOISE}
    for site, noise in SITE_NOISE.items():
        # Least squares shares the noisy site's coefficient errors with the other one.
        np.testing.assert_allclose(spreads[site], noise, rtol=0.3)
    assert spreads["b"].min() > 3 * spreads["a"].max()


def test_batches_do_not_change_the_fit():
    images, table, _ = _subjects(100, 2)
    whole = MassUnivariateModel(batch_size=100).fit(images, table).predict(table)
    batched = MassUnivariateModel(batch_size=7).fit(images, table).predict(table)
    np.testing.assert_allclose(batched.mean, whole.mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched.spread, whole.spread, rtol=1e-5)


def test_harmonising_removes_the_site_and_keeps_the_subject():
    images, table, _ = _subjects(300, 3)
    model = MassUnivariateModel().fit(images, table)
    harmonised = harmonise(model, images, table, reference_site="a")
    at_b = (table["site"] == "b").to_numpy()
    np.testing.assert_allclose((images - harmonised)[at_b].mean(), 3.0 * 1.5, atol=0.1)
    np.testing.assert_allclose(harmonised[~at_b], images[~at_b], atol=1e-4)
    reconstruction = harmonise(model, images, table, "a", keep_residual=False)
    np.testing.assert_allclose(reconstruction, model.predict(table.assign(site="a")).mean)


def test_a_counterfactual_age_moves_the_expected_image_along_the_law():
    images, table, _ = _subjects(300, 4)
    model = MassUnivariateModel().fit(images, table)
    older = counterfactual(model, table[:5], {"age": 80.0}, images[:5])
    younger = counterfactual(model, table[:5], {"age": 20.0}, images[:5])
    np.testing.assert_allclose((older - younger).mean(axis=(1, 2, 3, 4)), 0.001 * 60 ** 2 * 1.5,
                               rtol=0.1)
    with pytest.raises(ValueError, match="needs the subjects' images"):
        counterfactual(model, table[:5], {"age": 80.0})
    with pytest.raises(ValueError, match="covariate 'height'"):
        counterfactual(model, table[:5], {"height": 2.0}, images[:5])


def test_the_baseline_refuses_what_it_cannot_fit():
    images, table, _ = _subjects(8, 5)
    with pytest.raises(ValueError, match="8 training subjects for"):
        MassUnivariateModel().fit(images, table)
    with pytest.raises(ValueError, match="spread_by 'scanner'"):
        MassUnivariateModel(spread_by="scanner")
    with pytest.raises(RuntimeError, match="before fit"):
        MassUnivariateModel().predict(table)
