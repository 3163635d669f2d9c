"""Normative modelling of brain images: how far a subject deviates from the healthy
brain expected for its covariates (age, sex, site).

The scoring is model-agnostic (:mod:`~pynet_cvae.normative.protocol`): any model
that gives an expected image per subject and covariates gets deviation z-scores
calibrated on held-out healthy subjects, subject scores, counterfactuals, site
harmonisation and the metrics of :mod:`~pynet_cvae.normative.metrics`; on the
synthetic cohort, :func:`check_counterfactual_ageing` checks its counterfactual ageing
against the known law.
:class:`MassUnivariateModel` is the field's per-voxel regression baseline; the CVAE
plugin's :class:`~pynet_cvae.plugins.cvae.CVAENormativeModel` is the zoo's conditional
VAE of 3-D volumes (any model following :class:`NormativeModel` goes through the same
study).
"""

from .ageing import AgeingCheck, check_counterfactual_ageing
from .baseline import MassUnivariateModel
from .covariates import CovariateCoding
from .data import NormativeData, Rows
from .evaluation import NormativeResult, run_normative, write_counterfactuals, write_outputs
from .protocol import Expectation, NormativeModel, counterfactual, harmonise
from .scoring import Calibration, deviation_scores, exceedance_fraction, residuals
from .spread import GroupSpread

__all__ = ["NormativeModel", "Expectation", "counterfactual", "harmonise",
           "MassUnivariateModel", "CovariateCoding", "NormativeData",
           "Rows", "Calibration", "GroupSpread", "residuals", "deviation_scores", "exceedance_fraction",
           "NormativeResult", "run_normative", "write_outputs", "write_counterfactuals",
           "AgeingCheck", "check_counterfactual_ageing"]
