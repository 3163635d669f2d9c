"""Covariates as numbers: what a normative model is conditioned on.

:class:`CovariateCoding` learns, on the training subjects' table, how to turn
covariates into a matrix: each continuous column (age) standardised, or expanded on a
cubic B-spline basis (``spline_knots``) for models linear in the covariates, and each
categorical column (sex, site) one-hot coded. A category not seen in training is an
error, not a silent zero row. :meth:`CovariateCoding.with_values` changes covariates
(a counterfactual age, a reference site) after checking the new values.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..datasets.participants import check_covariates

__all__ = ["CovariateCoding"]


class CovariateCoding:
    """Code continuous and categorical covariates as a matrix.

    Parameters
    ----------
    continuous : sequence of str
        Continuous columns (e.g. ``["age"]``).
    categorical : sequence of str
        Categorical columns (e.g. ``["sex", "site"]``).
    spline_knots : int, optional
        Expand each continuous column on a cubic B-spline basis with this many knots
        at the training values' quantiles (linear beyond them), and drop the first
        level of each categorical column, for a model with an intercept. By default
        continuous columns are standardised and every level gets a column (the
        condition vector of a neural network).
    """

    def __init__(self, continuous: Sequence[str] = ("age",),
                 categorical: Sequence[str] = ("sex", "site"),
                 spline_knots: Optional[int] = None):
        self.continuous, self.categorical = list(continuous), list(categorical)
        overlap = set(self.continuous) & set(self.categorical)
        if overlap:
            raise ValueError(f"covariates {sorted(overlap)} are both continuous and "
                             "categorical: expected each in one list")
        if spline_knots is not None and (isinstance(spline_knots, bool) or not isinstance(
                spline_knots, int) or spline_knots < 2):
            raise ValueError(f"spline_knots {spline_knots!r} is invalid: expected an int >= 2")
        self.spline_knots = spline_knots
        self.levels: Dict[str, List[str]] = {}
        self.means: Dict[str, float] = {}
        self.scales: Dict[str, float] = {}
        self._splines: Dict[str, Any] = {}

    @property
    def columns(self) -> List[str]:
        """Every covariate column."""
        return self.continuous + self.categorical

    def _check(self, table: pd.DataFrame) -> None:
        check_covariates(table, self.columns, self.categorical, where="the covariates")

    def fit(self, table: pd.DataFrame) -> "CovariateCoding":
        """Learn the scales, spline knots and levels on the training rows.

        Parameters
        ----------
        table : pandas.DataFrame
            The training subjects' covariates.

        Returns
        -------
        CovariateCoding
            Itself.
        """
        self._check(table)
        for column in self.continuous:
            values = table[column].to_numpy(dtype=np.float64)
            self.means[column] = float(values.mean())
            self.scales[column] = float(values.std()) or 1.0
            if self.spline_knots is not None:
                from sklearn.preprocessing import SplineTransformer

                self._splines[column] = SplineTransformer(
                    n_knots=self.spline_knots, degree=3, knots="quantile",
                    extrapolation="linear", include_bias=False).fit(values[:, None])
        for column in self.categorical:
            self.levels[column] = sorted(table[column].astype(str).unique().tolist())
        return self

    def _codes(self, table: pd.DataFrame, column: str) -> np.ndarray:
        values = table[column].astype(str).to_numpy()
        levels = self.levels[column]
        unknown = sorted(set(values) - set(levels))
        if unknown:
            raise ValueError(f"covariate {column!r} has levels {unknown} not seen in "
                             f"training: expected one of {levels}")
        return np.searchsorted(np.array(levels), values)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """The covariates as numbers.

        Parameters
        ----------
        table : pandas.DataFrame
            One row per subject, with every coded column.

        Returns
        -------
        numpy.ndarray
            ``(N, features)`` float64.
        """
        if (self.categorical and not self.levels) or (self.continuous and not self.means):
            raise RuntimeError("CovariateCoding.transform before fit: fit it on the "
                               "training table first")
        self._check(table)
        blocks = []
        for column in self.continuous:
            values = table[column].to_numpy(dtype=np.float64)
            if self.spline_knots is None:
                blocks.append(((values - self.means[column]) / self.scales[column])[:, None])
            else:
                blocks.append(self._splines[column].transform(values[:, None]))
        first = 1 if self.spline_knots is not None else 0
        for column in self.categorical:
            onehot = np.eye(len(self.levels[column]))[self._codes(table, column)]
            blocks.append(onehot[:, first:])
        if not blocks:
            return np.zeros((len(table), 0))
        return np.concatenate(blocks, axis=1)

    def with_values(self, table: pd.DataFrame, **values: Any) -> pd.DataFrame:
        """A copy of ``table`` with covariates set, after checking the new values.

        Parameters
        ----------
        table : pandas.DataFrame
            The subjects' covariates.
        **values
            New values by column (``age=75``, ``site="site1"``): a scalar or one per
            row.

        Returns
        -------
        pandas.DataFrame
        """
        unknown = sorted(set(values) - set(self.columns))
        if unknown:
            raise ValueError(f"covariates {unknown} are not coded: expected some of "
                             f"{self.columns}")
        changed = table.copy()
        for column, value in values.items():
            changed[column] = value
            if column in self.categorical and self.levels:
                self._codes(changed, column)
        self._check(changed)
        return changed
