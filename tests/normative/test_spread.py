"""Per-group residual spreads: what both normative models divide residuals by."""

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.normative.spread import GroupSpread


def _residuals(seed=0):
    rng = np.random.default_rng(seed)
    sites = np.array(["quiet"] * 400 + ["noisy"] * 600, dtype=object)
    noise = np.where(sites == "quiet", 0.02, 0.05)[:, None]
    return pd.DataFrame({"site": sites}), noise * rng.standard_normal((len(sites), 6))


def test_each_group_gets_the_standard_deviation_of_its_own_residuals():
    covariates, residuals = _residuals()
    spread = GroupSpread("site")
    spread.fit([(spread.groups(covariates), residuals)])
    np.testing.assert_allclose(spread.spreads["quiet"], 0.02, rtol=0.12)
    np.testing.assert_allclose(spread.spreads["noisy"], 0.05, rtol=0.12)
    given = spread.predict(covariates.iloc[[0, 500, 1]])
    assert given.dtype == np.float32 and given.shape == (3, 6)
    np.testing.assert_array_equal(given[0], given[2])
    np.testing.assert_allclose(given[1], spread.spreads["noisy"], rtol=1e-6)


def test_batches_give_the_spread_of_all_the_rows_at_once():
    covariates, residuals = _residuals(1)
    whole, batched = GroupSpread("site"), GroupSpread("site")
    whole.fit([(whole.groups(covariates), residuals)])
    labels = batched.groups(covariates)
    batched.fit((labels[start:start + 64], residuals[start:start + 64])
                for start in range(0, len(residuals), 64))
    for label in ("quiet", "noisy"):
        np.testing.assert_allclose(batched.spreads[label], whole.spreads[label], rtol=1e-12)


def test_the_fit_s_degrees_of_freedom_widen_the_spread():
    covariates, residuals = _residuals(2)
    full, fitted = GroupSpread(None), GroupSpread(None)
    full.fit([(full.groups(covariates), residuals)])
    fitted.fit([(fitted.groups(covariates), residuals)], freedom=0.64)
    np.testing.assert_allclose(fitted.spreads[""], full.spreads[""] / 0.8, rtol=1e-12)
    # without a column every subject shares one spread
    assert list(full.spreads) == [""]
    assert full.predict(covariates.iloc[:2]).shape == (2, 6)


def test_refusals_name_the_bad_value():
    covariates, residuals = _residuals()
    spread = GroupSpread("site")
    with pytest.raises(RuntimeError, match="before fit"):
        spread.predict(covariates)
    with pytest.raises(ValueError, match="freedom 0"):
        spread.fit([], freedom=0)
    with pytest.raises(ValueError, match="no residual"):
        spread.fit([])
    with pytest.raises(ValueError, match="'scanner' is not among the covariates"):
        GroupSpread("scanner").groups(covariates)
    spread.fit([(spread.groups(covariates.iloc[:400]), residuals[:400])])
    with pytest.raises(ValueError, match=r"groups \['noisy'\]: expected one of \['quiet'\]"):
        spread.predict(covariates)
