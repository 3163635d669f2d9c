"""Each voxel's residual spread per group of subjects, such as an acquisition site.

Sites differ in noise: a model whose z-scores divide every subject's residual by one
pooled spread gives the noisy site too many large ``|z|`` and the quiet one too few,
and lesions in a quiet site's images stand out less than they should.
:class:`GroupSpread` learns, from a model's residuals on its training subjects, the
standard deviation of every voxel in every group of a categorical covariate, and
gives each subject its group's spread as the
:class:`~pynet_cvae.normative.protocol.Expectation`'s ``spread``.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import numpy as np
import pandas as pd

__all__ = ["GroupSpread"]


class GroupSpread:
    """Per-voxel residual standard deviations, one set per group of subjects.

    Parameters
    ----------
    column : str, optional
        The categorical covariate whose groups get their own spread; None pools every
        subject in one group.

    Attributes
    ----------
    spreads : dict
        Group label (a string) -> ``(voxels,)`` standard deviations, after :meth:`fit`.
    """

    def __init__(self, column: Optional[str] = None) -> None:
        self.column = column
        self.spreads: Dict[str, np.ndarray] = {}

    def groups(self, covariates: pd.DataFrame) -> np.ndarray:
        """The group label of each row of ``covariates`` (one group without a column).

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per subject.

        Returns
        -------
        numpy.ndarray
            One string label per row.
        """
        if self.column is None:
            return np.full(len(covariates), "", dtype=object)
        if self.column not in covariates.columns:
            raise ValueError(f"the spread's group column {self.column!r} is not among the "
                             f"covariates {list(covariates.columns)}")
        return covariates[self.column].astype(str).to_numpy().astype(object)

    def fit(self, batches: Iterable[Tuple[np.ndarray, np.ndarray]],
            freedom: float = 1.0) -> "GroupSpread":
        """Learn the spreads from training residuals, a batch of subjects at a time.

        Parameters
        ----------
        batches : iterable of (labels, residuals)
            Each batch's group labels (:meth:`groups`) and ``(rows, voxels)`` residuals.
        freedom : float
            The fraction of the residuals' degrees of freedom the model left (in
            (0, 1]: a regression of ``p`` parameters on ``n`` subjects leaves
            ``(n - p) / n``): the squares are divided by ``freedom`` times each group's
            count, so that the spread is not underestimated by the fit.

        Returns
        -------
        GroupSpread
            Itself.
        """
        if not 0 < freedom <= 1:
            raise ValueError(f"freedom {freedom!r} is invalid: expected a number in (0, 1]")
        squares: Dict[str, np.ndarray] = {}
        counts: Dict[str, int] = {}
        for labels, residual in batches:
            residual = np.asarray(residual, dtype=np.float64)
            for label in np.unique(labels):
                rows = residual[labels == label]
                squares[label] = squares.get(label, 0.0) + (rows ** 2).sum(axis=0)
                counts[label] = counts.get(label, 0) + len(rows)
        if not counts:
            raise ValueError("no residual to learn a spread from: expected training subjects")
        self.spreads = {label: np.sqrt(total / (freedom * counts[label]))
                        for label, total in squares.items()}
        return self

    def predict(self, covariates: pd.DataFrame) -> np.ndarray:
        """Each subject's group spread.

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per subject.

        Returns
        -------
        numpy.ndarray
            ``(N, voxels)`` float32 spreads.
        """
        if not self.spreads:
            raise RuntimeError("GroupSpread.predict before fit")
        labels = self.groups(covariates)
        unknown = sorted(set(labels) - set(self.spreads))
        if unknown:
            raise ValueError(f"no training subject in the {self.column!r} groups {unknown}: "
                             f"expected one of {sorted(self.spreads)}")
        size = len(next(iter(self.spreads.values())))
        if not len(labels):
            return np.zeros((0, size), dtype=np.float32)
        return np.stack([self.spreads[label] for label in labels]).astype(np.float32)
