"""The normative model protocol: what any model gives the scoring, and what follows.

A normative model learns the healthy brain given covariates. Scoring needs only one
thing from it: for each subject and its covariates, the **expected image** (and
optionally the expected spread around it, voxel by voxel). That is
:class:`NormativeModel`:

- ``fit(images, covariates)`` learns from healthy training subjects;
- ``predict(covariates, images=None, observed=None)`` returns an
  :class:`Expectation`. A model that encodes the subject (the conditional VAE,
  :class:`~pynet_cvae.plugins.cvae.CVAENormativeModel`) uses ``images``: the
  expected image is the decoding of the subject's encoding (under the ``observed``
  covariates, those it was acquired with; by default ``covariates``) under
  ``covariates``; a population model (the mass-univariate
  :class:`~pynet_cvae.normative.baseline.MassUnivariateModel`) ignores both.

Everything else is built on those two calls, whatever the model:

- deviation z-scores (:mod:`~pynet_cvae.normative.scoring`);
- :func:`counterfactual`: the subject with other covariate values ("this brain at
  75"), that is ``predict`` under the changed covariates, plus, with
  ``keep_residual``, what the model does not explain of the subject (its residual
  under the true covariates);
- :func:`harmonise`: the counterfactual with the site set to a reference site.

Images are arrays ``(N, C, X, Y, Z)`` (the data sets of
:func:`~pynet_cvae.datasets.participants.fetch_participants`), or anything with
``len``, ``shape`` and slicing by rows, such as :class:`~pynet_cvae.normative.data.Rows`;
covariates are a :class:`pandas.DataFrame` with one row per image.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["Expectation", "NormativeModel", "counterfactual", "harmonise"]


@dataclass
class Expectation:
    """What a normative model expects of subjects.

    Attributes
    ----------
    mean : numpy.ndarray
        The expected images, ``(N, C, X, Y, Z)``.
    spread : numpy.ndarray or None
        The expected standard deviation around them (same shape, or broadcastable
        to it), or None when the model gives none (scoring then standardises the
        residuals on the calibration subjects alone).
    """

    mean: np.ndarray
    spread: Optional[np.ndarray] = None


@runtime_checkable
class NormativeModel(Protocol):
    """The two calls a normative model provides (see the module's description)."""

    def fit(self, images: Any, covariates: pd.DataFrame) -> "NormativeModel":
        """Learn the healthy brain from training images and their covariates.

        Parameters
        ----------
        images : array-like
            ``(N, C, X, Y, Z)`` healthy training images (read by row slices).
        covariates : pandas.DataFrame
            One row per image.

        Returns
        -------
        NormativeModel
            The fitted model itself.
        """

    def predict(self, covariates: pd.DataFrame, images: Optional[Any] = None,
                observed: Optional[pd.DataFrame] = None) -> Expectation:
        """The expected images of subjects with these covariates (and these images).

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per subject: the covariates to expect the image under (the true
            ones, or changed ones for a counterfactual).
        images : numpy.ndarray, optional
            The subjects' ``(N, C, X, Y, Z)`` images, for models that encode them.
        observed : pandas.DataFrame, optional
            The covariates the images were acquired with, when ``covariates`` are
            changed ones (default: ``covariates``).

        Returns
        -------
        Expectation
            ``mean`` of shape ``(N, C, X, Y, Z)`` and optionally ``spread``.
        """


def _check_rows(images: Any, covariates: pd.DataFrame) -> None:
    if images is not None and len(images) != len(covariates):
        raise ValueError(f"{len(images)} images but {len(covariates)} rows of covariates: "
                         "expected one row per image")


def _predict_changed(model: NormativeModel, changed: pd.DataFrame, images: Any,
                     observed: pd.DataFrame) -> Expectation:
    """``predict`` under changed covariates, telling the observed ones to a model that
    takes them (a model written before ``observed`` existed keeps working)."""
    parameters = inspect.signature(model.predict).parameters
    if "observed" in parameters or any(parameter.kind is parameter.VAR_KEYWORD
                                       for parameter in parameters.values()):
        return model.predict(changed, images, observed=observed)
    return model.predict(changed, images)


def counterfactual(model: NormativeModel, covariates: pd.DataFrame, changes: dict,
                   images: Optional[Any] = None, keep_residual: bool = True) -> np.ndarray:
    """Subjects as they would be with other covariate values.

    Parameters
    ----------
    model : NormativeModel
        A fitted model.
    covariates : pandas.DataFrame
        The subjects' true covariates.
    changes : dict
        The new values, e.g. ``{"age": 75}`` (a scalar, or one value per row).
    images : array-like, optional
        The subjects' images; needed with ``keep_residual`` and by models that
        encode subjects.
    keep_residual : bool
        Add each subject's residual ``image - predict(true covariates)`` to the
        counterfactual expectation (what makes it this subject, not the population).

    Returns
    -------
    numpy.ndarray
        ``(N, C, X, Y, Z)`` counterfactual images.
    """
    _check_rows(images, covariates)
    changed = covariates.copy()
    for column, value in changes.items():
        if column not in changed.columns:
            raise ValueError(f"covariate {column!r} is not a column of the covariates "
                             f"{list(changed.columns)}")
        changed[column] = value
    expected = _predict_changed(model, changed, images, covariates).mean
    if not keep_residual:
        return expected
    if images is None:
        raise ValueError("keep_residual=True needs the subjects' images")
    actual = np.asarray(images[0:len(images)], dtype=np.float32)
    return actual - model.predict(covariates, images).mean + expected


def harmonise(model: NormativeModel, images: Any, covariates: pd.DataFrame,
              reference_site: Any, site_column: str = "site",
              keep_residual: bool = True) -> np.ndarray:
    """Subjects as if scanned at ``reference_site``: :func:`counterfactual` on the site.

    With ``keep_residual`` each subject keeps its residual, so only the site's
    effect on the expected image changes (what a site-adjusting regression does);
    without it, the result is the model's reconstruction at the reference site (what
    a conditional autoencoder does with its encoding).

    Parameters
    ----------
    model : NormativeModel
        A fitted model.
    images : array-like
        The subjects' ``(N, C, X, Y, Z)`` images.
    covariates : pandas.DataFrame
        Their true covariates.
    reference_site : object
        The site every subject is brought to (a level seen in training).
    site_column : str
        The site covariate.
    keep_residual : bool
        See above.

    Returns
    -------
    numpy.ndarray
        ``(N, C, X, Y, Z)`` harmonised images.
    """
    return counterfactual(model, covariates, {site_column: reference_site}, images,
                          keep_residual)
