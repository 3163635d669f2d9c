"""How good a normative model is: lesion detection, site removal, age kept.

- :func:`voxel_auroc`: how well ``|z|`` separates lesion voxels from the other brain
  voxels, pooled over the lesioned subjects;
- :func:`subject_auroc`: how well the subject deviation score separates patients
  from healthy subjects;
- :func:`site_prediction_accuracy`: the cross-validated accuracy of a linear
  classifier predicting the site from images (principal components of the masked
  voxels, then multinomial logistic regression), with its chance level (the most
  frequent site's share): near chance after a good harmonisation;
- :func:`age_prediction_r2`: the cross-validated R^2 of a ridge regression of age on
  the same features: it must stay high after harmonisation (age is biology, not site).

Cross-validation folds are stratified (by site) and seeded.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ["voxel_auroc", "subject_auroc", "site_prediction_accuracy", "age_prediction_r2"]

#: Principal components the site and age predictors use (at most).
COMPONENTS = 20
#: Components whose variance is below this fraction of the first one's are left out.
_NEGLIGIBLE = 1e-9


def _auroc(scores: np.ndarray, labels: np.ndarray, what: str) -> float:
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, dtype=bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(labels) != len(scores):
        raise ValueError(f"{len(scores)} {what} scores but {len(labels)} labels")
    if labels.all() or not labels.any():
        raise ValueError(f"the {what} AUROC needs both positive and negative {what}s: got "
                         f"{int(labels.sum())} positive of {len(labels)}")
    return float(roc_auc_score(labels, scores))


def voxel_auroc(z: np.ndarray, lesions: np.ndarray) -> float:
    """The AUROC of ``|z|`` for lesion voxels among brain voxels.

    Parameters
    ----------
    z : numpy.ndarray
        ``(subjects, voxels)`` z-scores of lesioned subjects, inside the brain mask.
    lesions : numpy.ndarray
        Booleans of the same shape: the lesion voxels.

    Returns
    -------
    float
        The area under the ROC curve (ties count one half).
    """
    z, lesions = np.asarray(z), np.asarray(lesions, dtype=bool)
    if z.shape != lesions.shape:
        raise ValueError(f"z-scores of shape {z.shape} but lesion masks of shape "
                         f"{lesions.shape}: expected one mask value per z-score")
    return _auroc(np.abs(z), lesions, "voxel")


def subject_auroc(scores: np.ndarray, patients: np.ndarray) -> float:
    """The AUROC of subject deviation scores for patients among controls.

    Parameters
    ----------
    scores : numpy.ndarray
        One deviation score per subject.
    patients : numpy.ndarray
        True for patients, False for controls.

    Returns
    -------
    float
    """
    return _auroc(scores, patients, "subject")


class _GramPCA:
    """Principal components of few subjects with many voxels, through the subjects'
    Gram matrix (``n x n``) rather than a decomposition of the ``n x voxels`` data.

    The scores are divided by the first component's standard deviation (one factor
    for all: their proportions stay), so that the classifier after them is well
    conditioned whatever the images' scale.
    """

    def __init__(self, n_components: int = COMPONENTS):
        self.n_components = n_components

    def get_params(self, deep: bool = True) -> dict:
        return {"n_components": self.n_components}

    def set_params(self, **parameters) -> "_GramPCA":
        self.n_components = parameters.get("n_components", self.n_components)
        return self

    def fit(self, values: np.ndarray, target=None) -> "_GramPCA":
        values = np.asarray(values, dtype=np.float64)
        self.mean_ = values.mean(axis=0)
        centred = values - self.mean_
        eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
        # Directions of no variance (images of few degrees of freedom, such as a
        # population model's reconstructions) are rounding noise: left out.
        real = int(np.sum(eigenvalues > _NEGLIGIBLE * max(float(eigenvalues.max()), 0.0)))
        count = max(1, min(self.n_components, len(values) - 1, real))
        order = np.argsort(eigenvalues)[::-1][:count]
        scale = np.sqrt(np.maximum(eigenvalues[order], 1e-12))
        first_deviation = scale[0] / np.sqrt(max(len(values) - 1, 1))
        self.components_ = (eigenvectors[:, order].T @ centred) / (
            scale[:, None] * first_deviation)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean_) @ self.components_.T

    def fit_transform(self, values: np.ndarray, target=None) -> np.ndarray:
        return self.fit(values).transform(values)


def _pipeline(final):
    """Standardised voxels, their principal components, then ``final``."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), _GramPCA(COMPONENTS), final)


def _one_thread():
    """Problems this small only lose time to BLAS threads."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _folds(labels: np.ndarray, folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    counts = np.unique(labels, return_counts=True)[1]
    if counts.min() < folds:
        raise ValueError(f"a site has {counts.min()} subjects for {folds}-fold "
                         "cross-validation: expected at least one per fold")
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def site_prediction_accuracy(images: np.ndarray, sites: Sequence, folds: int = 5,
                             seed: int = 0) -> Tuple[float, float]:
    """Cross-validated accuracy of predicting ``sites`` from images.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, voxels)`` masked images.
    sites : sequence
        One site per image.
    folds : int
        Cross-validation folds (stratified by site).
    seed : int
        The seed of the folds.

    Returns
    -------
    (float, float)
        The accuracy and the chance level (the most frequent site's share).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    sites = np.asarray(sites).astype(str)
    if len(np.unique(sites)) < 2:
        raise ValueError("predicting the site needs at least two sites")
    with _one_thread():
        accuracy = cross_val_score(_pipeline(LogisticRegression(max_iter=2000)),
                                   np.asarray(images, dtype=np.float64), sites,
                                   cv=_folds(sites, folds, seed)).mean()
    chance = np.unique(sites, return_counts=True)[1].max() / len(sites)
    return float(accuracy), float(chance)


def age_prediction_r2(images: np.ndarray, ages: Sequence[float], sites: Sequence,
                      folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R^2 of a ridge regression of age on images.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, voxels)`` masked images.
    ages : sequence of float
        One age per image.
    sites : sequence
        One site per image: the folds are stratified by it.
    folds : int
        Cross-validation folds.
    seed : int
        The seed of the folds.

    Returns
    -------
    float
        R^2 of the out-of-fold predictions.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import cross_val_predict

    ages = np.asarray(ages, dtype=np.float64)
    sites = np.asarray(sites).astype(str)
    splits = list(_folds(sites, folds, seed).split(np.zeros(len(sites)), sites))
    with _one_thread():
        predicted = cross_val_predict(_pipeline(RidgeCV(alphas=np.logspace(-3, 3, 13))),
                                      np.asarray(images, dtype=np.float64), ages, cv=splits)
    return float(r2_score(ages, predicted))
