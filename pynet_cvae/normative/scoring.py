"""Deviation z-scores calibrated on held-out healthy subjects, and subject scores.

For a subject with image ``x`` and covariates ``c``, a model's
:class:`~pynet_cvae.normative.protocol.Expectation` gives ``mean(c)`` and maybe
``spread(c)``. The raw deviation of each voxel is the residual
``r = (x - mean) / spread`` (``x - mean`` without a spread). A model's residuals are
rarely exactly standard normal on new subjects (a model fitted on its training
subjects underestimates its error on others, a reconstruction is smoother than the
image), so :class:`Calibration` standardises them voxel by voxel on **held-out
healthy** subjects (the calibration split, never used for fitting):
``t = (r - m_v) / s_v`` with ``m_v`` and ``s_v`` the mean and standard deviation of
``r`` at voxel ``v`` over those ``n`` subjects (per group, e.g. per site, when
asked). A new subject's ``t`` follows Student's law with ``n - 1`` degrees of
freedom scaled by ``sqrt(1 + 1/n)`` (for normal residuals), which has heavier tails
than the normal law; ``z`` is the normal quantile of the same tail probability.
On new healthy subjects about 5 % of the voxels then have ``|z| > 1.96``
(:func:`exceedance_fraction`).

A subject's deviation score (:func:`deviation_scores`) is the mean of its largest
``|z|``: those of the ``top_fraction`` of its voxels (1 % by default), where a focal
lesion shows; a mean over the whole brain would dilute it.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

__all__ = ["residuals", "Calibration", "deviation_scores", "exceedance_fraction"]

#: The smallest spread a voxel may have (a constant voxel would give infinite z).
_MIN_SPREAD = 1e-6


def residuals(values: np.ndarray, mean: np.ndarray,
              spread: Optional[np.ndarray] = None) -> np.ndarray:
    """``(values - mean) / spread`` (no division without a spread), as float32.

    Parameters
    ----------
    values, mean : numpy.ndarray
        The observed and expected values, of one shape.
    spread : numpy.ndarray, optional
        The expected standard deviation (at least ``1e-6`` is used).

    Returns
    -------
    numpy.ndarray
        The residuals, float32.
    """
    difference = np.asarray(values, dtype=np.float32) - np.asarray(mean, dtype=np.float32)
    if spread is None:
        return difference
    spread = np.asarray(spread, dtype=np.float32)
    return difference / np.maximum(spread, np.float32(_MIN_SPREAD))


class Calibration:
    """Per-voxel standardisation of residuals, learned on held-out healthy subjects.

    Parameters
    ----------
    min_group_size : int
        With groups, a group needs at least this many calibration subjects (the
        per-voxel standard deviation of fewer is too noisy).
    predictive : bool
        Turn the standardised residuals into normal z-scores by the predictive law
        of a new subject (Student's t), which accounts for the means and standard
        deviations being estimated on ``n`` subjects; without it, ``z`` is the
        standardised residual itself.
    """

    def __init__(self, min_group_size: int = 10, predictive: bool = True):
        self.min_group_size, self.predictive = int(min_group_size), bool(predictive)
        self.counts: Dict[object, int] = {}
        self.offsets: Dict[object, np.ndarray] = {}
        self.scales: Dict[object, np.ndarray] = {}
        self.grouped = False

    def fit(self, residual: np.ndarray, groups: Optional[Sequence] = None) -> "Calibration":
        """Learn each voxel's mean and standard deviation (``ddof=1``) of the residuals.

        Parameters
        ----------
        residual : numpy.ndarray
            ``(n, voxels)`` residuals of held-out healthy subjects.
        groups : sequence, optional
            One label per row (e.g. the site): each group is calibrated on its own
            rows; by default all rows together.

        Returns
        -------
        Calibration
            Itself.
        """
        residual = np.asarray(residual, dtype=np.float64)
        labels = _labels(len(residual), groups)
        if residual.ndim != 2 or len(labels) != len(residual):
            raise ValueError(f"residuals of shape {residual.shape} with {len(labels)} group "
                             "labels: expected (subjects, voxels) and one label per subject")
        needed = self.min_group_size if groups is not None else 2
        self.offsets, self.scales = {}, {}
        for label in np.unique(labels):
            rows = residual[labels == label]
            if len(rows) < needed:
                raise ValueError(f"calibration group {label!r} has {len(rows)} subjects: "
                                 f"expected at least {needed}")
            self.counts[label] = len(rows)
            self.offsets[label] = rows.mean(axis=0)
            self.scales[label] = np.maximum(rows.std(axis=0, ddof=1), _MIN_SPREAD)
        self.grouped = groups is not None
        return self

    def transform(self, residual: np.ndarray, groups: Optional[Sequence] = None) -> np.ndarray:
        """The calibrated z-scores of residuals.

        Parameters
        ----------
        residual : numpy.ndarray
            ``(n, voxels)`` residuals of the subjects to score.
        groups : sequence, optional
            Their group labels (needed when calibrated per group).

        Returns
        -------
        numpy.ndarray
            ``(n, voxels)`` float32 z-scores.
        """
        if not self.offsets:
            raise RuntimeError("Calibration.transform before fit: calibrate on held-out "
                               "healthy subjects first")
        residual = np.asarray(residual, dtype=np.float64)
        if self.grouped and groups is None:
            raise ValueError("this calibration is per group: expected groups")
        labels = _labels(len(residual), groups if self.grouped else None)
        z = np.empty(residual.shape, dtype=np.float32)
        for label in np.unique(labels):
            if label not in self.offsets:
                raise ValueError(f"group {label!r} was not calibrated: expected one of "
                                 f"{sorted(self.offsets)}")
            rows = labels == label
            z[rows] = self._predictive((residual[rows] - self.offsets[label])
                                       / self.scales[label], self.counts[label])
        return z

    def _predictive(self, t: np.ndarray, count: int) -> np.ndarray:
        """Standardised residuals as normal z-scores, by the predictive law of a new
        subject (Student's t with ``count - 1`` degrees of freedom, scaled by
        ``sqrt(1 + 1 / count)``): a spread estimated on few subjects would otherwise
        give too many large ``|z|``."""
        if not self.predictive:
            return t
        from scipy import stats

        t = t / np.sqrt(1.0 + 1.0 / count)
        # Both tails through the survival function, so that large |t| keep their precision.
        upper = stats.norm.isf(stats.t.sf(np.abs(t), count - 1))
        return np.sign(t) * upper


def _labels(count: int, groups: Optional[Sequence]) -> np.ndarray:
    """Group labels as Python objects (one group 0 without groups)."""
    if groups is None:
        return np.zeros(count, dtype=object)
    return np.array([value.item() if isinstance(value, np.generic) else value
                     for value in groups], dtype=object)


def deviation_scores(z: np.ndarray, top_fraction: float = 0.01) -> np.ndarray:
    """Each subject's mean ``|z|`` over its ``top_fraction`` largest (at least one voxel).

    Parameters
    ----------
    z : numpy.ndarray
        ``(subjects, voxels)`` z-scores.
    top_fraction : float
        In (0, 1]: 1 gives the mean ``|z|`` over the brain.

    Returns
    -------
    numpy.ndarray
        One score per subject.
    """
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction {top_fraction!r} is invalid: expected a number in "
                         "(0, 1]")
    magnitude = np.abs(np.asarray(z, dtype=np.float64))
    count = max(1, int(round(top_fraction * magnitude.shape[1])))
    largest = np.partition(magnitude, magnitude.shape[1] - count, axis=1)[:, -count:]
    return largest.mean(axis=1)


def exceedance_fraction(z: np.ndarray, threshold: float = 1.96) -> float:
    """The fraction of values with ``|z| > threshold`` (5 % for standard normal z).

    Parameters
    ----------
    z : numpy.ndarray
        z-scores of any shape (not empty).
    threshold : float
        The two-sided threshold.

    Returns
    -------
    float
    """
    z = np.asarray(z)
    if z.size == 0:
        raise ValueError("no z-score to count: expected at least one subject and voxel")
    return float(np.mean(np.abs(z) > threshold))
