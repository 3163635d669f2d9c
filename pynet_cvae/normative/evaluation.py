"""A normative study from start to end, for any model: fit, calibrate, score, measure.

:func:`run_normative` takes a :class:`~pynet_cvae.normative.protocol.NormativeModel`
and a :class:`~pynet_cvae.normative.data.NormativeData` whose table has a split
column: ``train`` (healthy subjects the model learns from), ``calibration`` (held-out
healthy subjects the z-scores are calibrated on) and ``test`` (anyone to score:
healthy subjects and patients). It fits the model, calibrates, scores the
calibration and test subjects (:mod:`~pynet_cvae.normative.scoring`) and measures
(:mod:`~pynet_cvae.normative.metrics`):

- ``calibration_fraction``: the fraction of ``|z| > 1.96`` on the healthy test
  subjects (5 % when calibrated; ``calibration_fraction_in_sample`` is that of the
  calibration subjects themselves);
- ``voxel_auroc`` and ``subject_auroc``: lesion detection, with lesion masks
  (``lesion_column``) and patients (``group_column`` other than ``control``);
- ``site_accuracy`` and ``site_accuracy_harmonised`` (with ``site_chance``), and
  ``age_r2`` and ``age_r2_harmonised``, on the held-out healthy subjects
  (calibration and healthy test), the images harmonised to ``reference_site``
  (:func:`~pynet_cvae.normative.protocol.harmonise`).

:func:`write_outputs` writes each scored subject's z-map as NIfTI, the scores table
and the metrics; :func:`write_counterfactuals` writes subjects' counterfactual images
(another age, the reference site) as NIfTI.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import pandas as pd

from ..datasets.nifti_space import write_nifti
from ..fileio import atomic_path, atomic_write_text
from .data import NormativeData
from .metrics import age_prediction_r2, site_prediction_accuracy, subject_auroc, voxel_auroc
from .protocol import NormativeModel, counterfactual, harmonise
from .scoring import Calibration, deviation_scores, exceedance_fraction, residuals

logger = logging.getLogger("pynet_cvae")

__all__ = ["NormativeResult", "run_normative", "write_outputs", "write_counterfactuals",
           "SPLITS"]

#: The values of the split column.
SPLITS = ("train", "calibration", "test")


@dataclass
class NormativeResult:
    """What :func:`run_normative` found.

    Attributes
    ----------
    metrics : dict
        The measures (see the module's description), with ``fit_seconds`` and
        ``score_seconds``; None where the data cannot give one.
    scores : pandas.DataFrame
        One row per scored subject: its table row's ``participant_id`` (when
        present), split, group, ``deviation_score`` and ``exceedance`` (its fraction
        of ``|z| > 1.96``).
    z : numpy.ndarray
        ``(scored subjects, C * voxels)`` calibrated z-scores inside the mask.
    rows : numpy.ndarray
        The data rows of ``z`` and ``scores``.
    """

    metrics: Dict[str, Any]
    scores: pd.DataFrame
    z: np.ndarray
    rows: np.ndarray


def _split_masks(table: pd.DataFrame, column: str) -> Dict[str, np.ndarray]:
    if column not in table.columns:
        raise ValueError(f"split column {column!r} not in the table's columns "
                         f"{list(table.columns)}: expected {SPLITS} for each subject")
    values = table[column].astype(str).str.strip()
    masks = {split: (values == split).to_numpy() for split in SPLITS}
    for split in ("train", "calibration"):
        if not masks[split].any():
            raise ValueError(f"split column {column!r} has no {split!r} subject: expected "
                             f"some of {SPLITS}")
    return masks


def _per_batch(data: NormativeData, rows: np.ndarray, batch_size: int,
               compute: Callable[[np.ndarray, pd.DataFrame], np.ndarray]) -> np.ndarray:
    """``compute(images, covariates)`` (masked values) for ``rows``, a batch at a time."""
    subset, covariates = data.rows(rows), data.covariates(rows)
    result = np.empty((len(subset), data.images.shape[1] * data.voxels), dtype=np.float32)
    for where, images in subset.batches(batch_size):
        result[where] = compute(images, covariates.iloc[where].reset_index(drop=True))
    return result


def _residuals(model: NormativeModel, data: NormativeData, rows: np.ndarray,
               batch_size: int) -> np.ndarray:
    def compute(images, covariates):
        expected = model.predict(covariates, images)
        spread = None if expected.spread is None else data.masked(
            np.broadcast_to(expected.spread, expected.mean.shape))
        return residuals(data.masked(images), data.masked(expected.mean), spread)

    return _per_batch(data, rows, batch_size, compute)


def _harmonised(model: NormativeModel, data: NormativeData, rows: np.ndarray,
                reference_site: Any, site_column: str, keep_residual: bool,
                batch_size: int) -> np.ndarray:
    return _per_batch(data, rows, batch_size, lambda images, covariates: data.masked(
        harmonise(model, images, covariates, reference_site, site_column, keep_residual)))


def _site_and_age(model, data, rows, site_column, age_column, reference_site,
                  keep_residual, batch_size, seed) -> Dict[str, Optional[float]]:
    table = data.table.iloc[rows]
    sites = table[site_column].astype(str).to_numpy()
    counts = np.unique(sites, return_counts=True)[1]
    folds = min(5, int(counts.min()))
    if len(counts) < 2 or folds < 2:
        logger.warning("site and age measures skipped: %d held-out healthy subjects in %d "
                       "sites (expected two sites of at least two)", len(sites), len(counts))
        return {}
    raw = data.masked(data.rows(rows)[:])
    harmonised = _harmonised(model, data, rows, reference_site, site_column, keep_residual,
                             batch_size)
    ages = table[age_column].to_numpy(dtype=np.float64)
    accuracy, chance = site_prediction_accuracy(raw, sites, folds, seed)
    return {"site_chance": chance, "site_accuracy": accuracy,
            "site_accuracy_harmonised": site_prediction_accuracy(harmonised, sites, folds,
                                                                 seed)[0],
            "age_r2": age_prediction_r2(raw, ages, sites, folds, seed),
            "age_r2_harmonised": age_prediction_r2(harmonised, ages, sites, folds, seed),
            "reference_site": str(reference_site), "harmonised_keep_residual": keep_residual,
            "site_folds": folds}


def run_normative(model: NormativeModel, data: NormativeData, split_column: str = "split",
                  lesion_column: Optional[str] = None, group_column: Optional[str] = None,
                  control: str = "control", site_column: str = "site",
                  age_column: str = "age", reference_site: Any = None,
                  keep_residual: bool = True,
                  top_fraction: float = 0.01, batch_size: int = 32,
                  seed: int = 0) -> NormativeResult:
    """Fit, calibrate, score and measure a normative model (see the module).

    Parameters
    ----------
    model : NormativeModel
        The model (not yet fitted).
    data : NormativeData
        The images, table and mask.
    split_column : str
        The table's column of ``train`` / ``calibration`` / ``test``.
    lesion_column : str, optional
        A column of lesion mask paths (empty for subjects without one).
    group_column : str, optional
        A column telling patients from controls (``control``).
    control : str
        The value of ``group_column`` for healthy subjects.
    site_column, age_column : str
        The site and age covariates (site and age measures skip a table without
        ``site_column``).
    reference_site : optional
        The site images are harmonised to (default: the training subjects' most
        frequent site).
    keep_residual : bool
        Of :func:`~pynet_cvae.normative.protocol.harmonise`: harmonised images keep
        each subject's residual (True), or are the model's reconstructions at the
        reference site (False, for models that encode subjects).
    top_fraction : float
        Of :func:`~pynet_cvae.normative.scoring.deviation_scores`.
    batch_size : int
        Subjects predicted at a time.
    seed : int
        The seed of the cross-validation folds.

    Returns
    -------
    NormativeResult
    """
    table = data.table
    splits = _split_masks(table, split_column)
    healthy = np.ones(len(table), dtype=bool)
    if group_column is not None:
        if group_column not in table.columns:
            raise ValueError(f"group column {group_column!r} not in the table's columns "
                             f"{list(table.columns)}")
        healthy = (table[group_column].astype(str) == str(control)).to_numpy()
    started = time.perf_counter()
    train_rows = np.flatnonzero(splits["train"])
    model.fit(data.rows(train_rows), data.covariates(train_rows))
    fitted = time.perf_counter()
    calibration_rows = np.flatnonzero(splits["calibration"])
    calibration = Calibration().fit(_residuals(model, data, calibration_rows, batch_size))
    rows = np.flatnonzero(splits["calibration"] | splits["test"])
    z = calibration.transform(_residuals(model, data, rows, batch_size))
    scored = time.perf_counter()
    in_test, in_calibration = splits["test"][rows], splits["calibration"][rows]
    lesions = None if lesion_column is None else data.lesion_masks(lesion_column, rows)
    if lesions is not None and group_column is None:
        healthy[rows] = ~lesions.any(axis=1)
    healthy_test = in_test & healthy[rows]
    metrics: Dict[str, Any] = {
        "subjects": {split: int(mask.sum()) for split, mask in splits.items()},
        "voxels": data.voxels, "fit_seconds": fitted - started,
        "score_seconds": scored - fitted,
        "calibration_fraction": exceedance_fraction(z[healthy_test])
        if healthy_test.any() else None,
        "calibration_fraction_in_sample": exceedance_fraction(z[in_calibration]),
        "voxel_auroc": None, "subject_auroc": None}
    scores = deviation_scores(z, top_fraction)
    if lesions is not None:
        lesioned = in_test & lesions.any(axis=1)
        if lesioned.any():
            metrics["voxel_auroc"] = voxel_auroc(z[lesioned], lesions[lesioned])
    if in_test.any() and 0 < healthy_test.sum() < in_test.sum():
        metrics["subject_auroc"] = subject_auroc(scores[in_test], ~healthy[rows][in_test])
    if site_column in table.columns:
        if reference_site is None:
            reference_site = table[site_column].iloc[train_rows].astype(str).mode().iloc[0]
        held_out = rows[healthy[rows]]
        metrics.update(_site_and_age(model, data, held_out, site_column, age_column,
                                     reference_site, keep_residual, batch_size, seed))
    frame = pd.DataFrame({"row": rows})
    for column in ("participant_id", split_column, group_column, site_column, age_column):
        if column is not None and column in table.columns:
            frame[column] = table[column].iloc[rows].to_numpy()
    frame["deviation_score"] = scores
    frame["exceedance"] = np.mean(np.abs(z) > 1.96, axis=1)
    return NormativeResult(metrics=metrics, scores=frame, z=z, rows=rows)


def write_outputs(result: NormativeResult, data: NormativeData, output_dir: Any,
                  space: str = "data", batch_size: int = 32) -> Dict[str, Any]:
    """Write ``zmaps/<name>_zmap.nii.gz`` per scored subject, ``scores.tsv`` and
    ``metrics.json`` in ``output_dir``; return their paths.

    Parameters
    ----------
    result : NormativeResult
        What :func:`run_normative` found.
    data : NormativeData
        The data it scored (its mask and NIfTI reference).
    output_dir : str or path-like
        The output folder (created if needed).
    space : {"data", "native"}
        ``"native"`` resamples the z-maps onto each subject's source image grid
        (data converted with a ``voxel_size``).
    batch_size : int
        z-maps written at a time.

    Returns
    -------
    dict
        ``zmaps`` (the list of written images), ``scores`` and ``metrics`` paths.
    """
    if data.reference is None:
        raise ValueError("writing z-maps needs the data's NIfTI reference")
    directory = Path(output_dir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    maps = []
    for start in range(0, len(result.rows), batch_size):
        stop = start + batch_size
        maps += write_nifti(data.unmasked(result.z[start:stop]), data.reference,
                            directory / "zmaps", rows=result.rows[start:stop],
                            suffix="zmap", space=space)
    scores_path = directory / "scores.tsv"
    with atomic_path(scores_path) as temporary:
        result.scores.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
    metrics_path = directory / "metrics.json"
    atomic_write_text(metrics_path, json.dumps(result.metrics, indent=2) + "\n")
    return {"zmaps": maps, "scores": str(scores_path), "metrics": str(metrics_path)}


def write_counterfactuals(model: NormativeModel, data: NormativeData, rows: Any,
                          changes: Dict[str, Any], output_dir: Any, suffix: str,
                          keep_residual: bool = True, space: str = "data",
                          batch_size: int = 32) -> list:
    """Write ``<name>_<suffix>.nii.gz``: each subject of ``rows`` with other covariates
    (:func:`~pynet_cvae.normative.protocol.counterfactual`).

    Parameters
    ----------
    model : NormativeModel
        A fitted model.
    data : NormativeData
        The subjects' data (its NIfTI reference).
    rows : sequence of int
        The data rows of the subjects.
    changes : dict
        The new covariate values, e.g. ``{"age": 75}`` or ``{"site": "site1"}``.
    output_dir : str or path-like
        The folder of the images (created if needed).
    suffix : str
        Added to each subject's name.
    keep_residual, space, batch_size
        Of :func:`~pynet_cvae.normative.protocol.counterfactual`,
        :func:`write_outputs`.

    Returns
    -------
    list of str
        The written images.
    """
    if data.reference is None:
        raise ValueError("writing counterfactuals needs the data's NIfTI reference")
    rows = np.asarray(rows, dtype=np.intp)
    subset, covariates = data.rows(rows), data.covariates(rows)
    written = []
    for where, images in subset.batches(batch_size):
        made = counterfactual(model, covariates.iloc[where].reset_index(drop=True), changes,
                              images, keep_residual)
        written += write_nifti(made, data.reference, Path(output_dir).expanduser(),
                               rows=rows[where], suffix=suffix, space=space)
    return written
