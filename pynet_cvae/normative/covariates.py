"""Covariates as a regression's design: what the mass-univariate baseline fits on.

The covariates are coded by the zoo's :class:`~pynet_cvae.conditions.Condition`,
the one implementation of covariate coding: it learns each categorical column's
levels (a level not seen in training is an error, not a silent zero row) and each
continuous column's standardisation on the training table, and gives the CVAE its
condition vector. :class:`CovariateCoding` is that condition as numbers for a model
linear in the covariates: by default the condition vector itself (standardised
continuous columns, every level one-hot); with ``spline_knots``, each continuous
column expanded on a cubic B-spline basis and the first level of each categorical
column dropped (the reference of a design with an intercept).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..datasets.participants import check_covariates
from ..conditions import Condition

__all__ = ["CovariateCoding", "covariate_kinds"]


def covariate_kinds(continuous: Sequence[str], categorical: Sequence[str]) -> Dict[str, str]:
    """``{column: "continuous" | "categorical"}`` (the covariates of a
    :meth:`~pynet_cvae.conditions.Condition.from_metadata`), checked.

    Raises
    ------
    ValueError
        For a column in both lists, or none at all.
    """
    overlap = set(continuous) & set(categorical)
    if overlap:
        raise ValueError(f"covariates {sorted(overlap)} are both continuous and "
                         "categorical: expected each in one list")
    kinds = {column: "continuous" for column in continuous}
    kinds.update({column: "categorical" for column in categorical})
    if not kinds:
        raise ValueError("no covariate: expected some continuous or categorical columns")
    return kinds


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
        the matrix is the condition vector of
        :meth:`~pynet_cvae.conditions.Condition.encode`.

    Attributes
    ----------
    condition : Condition or None
        The condition learned by :meth:`fit`.
    """

    def __init__(self, continuous: Sequence[str] = ("age",),
                 categorical: Sequence[str] = ("sex", "site"),
                 spline_knots: Optional[int] = None):
        self.continuous, self.categorical = list(continuous), list(categorical)
        self.kinds = covariate_kinds(self.continuous, self.categorical)
        if spline_knots is not None and (isinstance(spline_knots, bool) or not isinstance(
                spline_knots, int) or spline_knots < 2):
            raise ValueError(f"spline_knots {spline_knots!r} is invalid: expected an int >= 2")
        self.spline_knots = spline_knots
        self.condition: Optional[Condition] = None
        self._splines: Dict[str, Any] = {}

    @property
    def columns(self) -> List[str]:
        """Every covariate column, in the condition's order."""
        return list(self.kinds)

    def _check(self, table: pd.DataFrame) -> None:
        check_covariates(table, self.columns, self.categorical, where="the covariates")

    def fit(self, table: pd.DataFrame) -> "CovariateCoding":
        """Learn the condition (levels, standardisation) and spline knots on the
        training rows.

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
        self.condition = Condition.from_metadata(table, self.kinds)
        if self.spline_knots is not None:
            from sklearn.preprocessing import SplineTransformer

            for column in self.continuous:
                values = table[column].to_numpy(dtype=np.float64)[:, None]
                self._splines[column] = SplineTransformer(
                    n_knots=self.spline_knots, degree=3, knots="quantile",
                    extrapolation="linear", include_bias=False).fit(values)
        return self

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
        if self.condition is None:
            raise RuntimeError("CovariateCoding.transform before fit: fit it on the "
                               "training table first")
        self._check(table)
        encoded = self.condition.encode(self.condition.table_values(table)).double().numpy()
        if self.spline_knots is None:
            return encoded
        blocks, start = [], 0
        for covariate in self.condition.covariates:
            if covariate.kind == "continuous":
                values = table[covariate.name].to_numpy(dtype=np.float64)[:, None]
                blocks.append(self._splines[covariate.name].transform(values))
            else:
                blocks.append(encoded[:, start + 1:start + covariate.width])
            start += covariate.width
        return np.concatenate(blocks, axis=1)
