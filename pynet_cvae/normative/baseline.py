"""The field's standard normative model: one regression per voxel.

:class:`MassUnivariateModel` fits, at every voxel independently, the intensity of the
healthy training subjects as a linear function of their covariates: an intercept, a
cubic B-spline basis of age (``spline_knots`` knots at its quantiles, so the fit
follows a nonlinear ageing curve) and one-hot sex and site (the first level of each
as the reference), by least squares. Its spread is each voxel's residual standard
deviation, per site by default (sites differ in noise), with the degrees of freedom
of the fit shared among the sites in proportion to their subjects. Training images
are read a batch of subjects at a time (normal equations), so memory holds the
coefficients, never the data set.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from .covariates import CovariateCoding
from .protocol import Expectation
from .spread import GroupSpread

__all__ = ["MassUnivariateModel"]


class MassUnivariateModel:
    """Per-voxel linear regression on covariates (a
    :class:`~pynet_cvae.normative.protocol.NormativeModel`).

    Parameters
    ----------
    continuous : sequence of str
        Continuous covariates, each expanded on B-splines.
    categorical : sequence of str
        Categorical covariates, one-hot coded.
    spline_knots : int
        Knots of each continuous covariate's cubic B-spline basis.
    spread_by : str, optional
        The categorical covariate whose groups get their own residual spread
        (default ``"site"``); None pools every subject.
    batch_size : int
        Subjects read at a time.
    ridge : float
        Added to the normal equations' diagonal (numerical safety only).
    """

    def __init__(self, continuous: Sequence[str] = ("age",),
                 categorical: Sequence[str] = ("sex", "site"), spline_knots: int = 5,
                 spread_by: Optional[str] = "site", batch_size: int = 32,
                 ridge: float = 1e-8):
        if spread_by is not None and spread_by not in categorical:
            raise ValueError(f"spread_by {spread_by!r} is not a categorical covariate "
                             f"{list(categorical)}")
        self.coding = CovariateCoding(continuous, categorical, spline_knots=spline_knots)
        self.spread_by, self.batch_size, self.ridge = spread_by, int(batch_size), float(ridge)
        self.spread = GroupSpread(spread_by)
        self.coefficients: Optional[np.ndarray] = None
        self.image_shape: tuple = ()

    def design(self, covariates: pd.DataFrame) -> np.ndarray:
        """The design matrix: an intercept and the coded covariates.

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per subject.

        Returns
        -------
        numpy.ndarray
            ``(N, parameters)`` float64.
        """
        coded = self.coding.transform(covariates)
        return np.concatenate([np.ones((len(coded), 1)), coded], axis=1)

    def _batches(self, images: Any):
        for start in range(0, len(images), self.batch_size):
            stop = min(start + self.batch_size, len(images))
            batch = np.asarray(images[start:stop], dtype=np.float64)
            yield slice(start, stop), batch.reshape(len(batch), -1)

    def fit(self, images: Any, covariates: pd.DataFrame) -> "MassUnivariateModel":
        """Fit every voxel on the training images.

        Parameters
        ----------
        images : array-like
            ``(N, C, X, Y, Z)`` healthy training images, read a batch of rows at a time.
        covariates : pandas.DataFrame
            One row per image.

        Returns
        -------
        MassUnivariateModel
            Itself, fitted.
        """
        if len(images) != len(covariates):
            raise ValueError(f"{len(images)} images but {len(covariates)} rows of "
                             "covariates: expected one row per image")
        self.coding.fit(covariates)
        design = self.design(covariates)
        subjects, parameters = design.shape
        if subjects <= parameters:
            raise ValueError(f"{subjects} training subjects for {parameters} parameters "
                             "per voxel: expected more subjects")
        gram = design.T @ design + self.ridge * np.eye(parameters)
        moments = 0.0
        for rows, values in self._batches(images):
            moments = moments + design[rows].T @ values
        self.coefficients = np.linalg.solve(gram, moments)
        self.image_shape = tuple(images.shape[1:])
        residuals = ((self.spread.groups(covariates.iloc[rows]),
                      values - design[rows] @ self.coefficients)
                     for rows, values in self._batches(images))
        self.spread.fit(residuals, freedom=(subjects - parameters) / subjects)
        return self

    def predict(self, covariates: pd.DataFrame, images: Optional[Any] = None,
                observed: Optional[pd.DataFrame] = None) -> Expectation:
        """The expected images and spreads of subjects with these covariates.

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per subject.
        images : array-like, optional
            Ignored: this is a population model.
        observed : pandas.DataFrame, optional
            Ignored (the images' covariates).

        Returns
        -------
        Expectation
            ``mean`` and ``spread`` of shape ``(N, C, X, Y, Z)``.
        """
        if self.coefficients is None:
            raise RuntimeError("MassUnivariateModel.predict before fit")
        shape = (len(covariates),) + self.image_shape
        mean = (self.design(covariates) @ self.coefficients).astype(np.float32).reshape(shape)
        spread = self.spread.predict(covariates)
        return Expectation(mean=mean, spread=spread.reshape(shape))
