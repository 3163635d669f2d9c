"""Counterfactual ageing checked against the synthetic cohort's known law.

A normative model that has learned how the brain ages can show a subject at other
ages (:func:`~pynet_cvae.normative.protocol.counterfactual`). On the synthetic
cohort (:func:`~pynet_cvae.datasets.cohort.fetch_synthetic_cohort`) the truth is
known: :func:`check_counterfactual_ageing` makes each chosen subject's counterfactual
at every requested age, measures its lateral ventricles on the image alone
(:func:`~pynet_cvae.datasets.cohort.measure_ventricle_volume`, the measure that
works on generated brains) and compares the volumes with the law's curve
(:func:`~pynet_cvae.datasets.cohort.ventricle_volume_curve`, with the cohort's own
law and voxel size). The correlation is that of a shape: it ignores each subject's
own ventricle size and the intensity threshold's bias.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..datasets.cohort import measure_ventricle_volume, ventricle_volume_curve
from ..datasets.cohort_laws import AgeingLaw
from .data import NormativeData
from .protocol import NormativeModel, counterfactual

__all__ = ["AgeingCheck", "check_counterfactual_ageing", "DEFAULT_AGES"]

#: The requested ages by default: the cohort's age range, every five years.
DEFAULT_AGES = tuple(float(age) for age in np.arange(20, 86, 5))


@dataclass
class AgeingCheck:
    """Ventricle volumes of counterfactual brains and the law they should follow.

    Attributes
    ----------
    ages : numpy.ndarray
        The requested ages.
    law_ml : numpy.ndarray
        The law's ventricle volume (ml) at each age.
    measured_ml : numpy.ndarray
        ``(subjects, ages)``: the volume measured on each subject's counterfactuals.
    rows : numpy.ndarray
        The data rows of the subjects.
    """

    ages: np.ndarray
    law_ml: np.ndarray
    measured_ml: np.ndarray
    rows: np.ndarray

    @property
    def correlations(self) -> np.ndarray:
        """Each subject's Pearson correlation of measured volume with the law's curve
        (0 for volumes that do not change with the requested age)."""
        return np.array([_pearson(volumes, self.law_ml) for volumes in self.measured_ml])

    @property
    def correlation(self) -> float:
        """The correlation of the subjects' mean measured volume with the law's curve."""
        return _pearson(self.measured_ml.mean(axis=0), self.law_ml)


def _pearson(first: np.ndarray, second: np.ndarray) -> float:
    first, second = first - first.mean(), second - second.mean()
    norms = np.linalg.norm(first) * np.linalg.norm(second)
    return float(first @ second / norms) if norms > 0 else 0.0


def _cohort_law(directory: Path):
    described_path = directory / "cohort.json"
    if not described_path.is_file():
        raise FileNotFoundError(f"{str(described_path)!r} does not exist: expected the "
                                "folder of a synthetic cohort (its 'directory')")
    described = json.loads(described_path.read_text(encoding="utf-8"))
    return AgeingLaw(**described["law"]), float(described["voxel_size"])


def check_counterfactual_ageing(model: NormativeModel, data: NormativeData,
                                cohort_directory: Any, rows: Sequence[int],
                                ages: Sequence[float] = DEFAULT_AGES,
                                keep_residual: bool = True, age_column: str = "age",
                                batch_size: int = 32) -> AgeingCheck:
    """Age subjects with a fitted model and measure their ventricles against the law.

    Parameters
    ----------
    model : NormativeModel
        A fitted model (e.g. after :func:`~pynet_cvae.normative.evaluation.run_normative`).
    data : NormativeData
        The cohort's data set.
    cohort_directory : str or path-like
        The cohort's folder (``CohortItem.directory``): its law and template.
    rows : sequence of int
        The subjects to age (e.g. healthy test subjects).
    ages : sequence of float
        The requested ages (at least two distinct ones).
    keep_residual : bool
        Of :func:`~pynet_cvae.normative.protocol.counterfactual`.
    age_column : str
        The age covariate.
    batch_size : int
        Subjects made at a time.

    Returns
    -------
    AgeingCheck
    """
    import nibabel

    ages = np.asarray(ages, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.intp)
    if ages.ndim != 1 or len(np.unique(ages)) < 2 or not np.isfinite(ages).all():
        raise ValueError(f"ages {ages.tolist()!r} are invalid: expected at least two "
                         "distinct finite ages")
    if not len(rows):
        raise ValueError("no subject to age: expected some rows")
    if data.reference is None:
        raise ValueError("measuring ventricles needs the data's NIfTI reference (its grid)")
    directory = Path(cohort_directory).expanduser()
    law, voxel_size = _cohort_law(directory)
    ventricles = np.asarray(nibabel.load(directory / "template_ventricles.nii.gz").dataobj)
    grid = data.reference.grid
    measured = np.empty((len(rows), len(ages)))
    subset, covariates = data.rows(rows), data.covariates(rows)
    for where, images in subset.batches(batch_size):
        table = covariates.iloc[where].reset_index(drop=True)
        for column, age in enumerate(ages):
            made = counterfactual(model, table, {age_column: float(age)}, images, keep_residual)
            measured[where, column] = measure_ventricle_volume(
                made[:, 0], ventricles, data.mask, grid.voxel_volume,
                voxel_sizes=grid.voxel_sizes)
    law_ml = ventricle_volume_curve(ages, voxel_size=voxel_size, law=law)
    return AgeingCheck(ages=ages, law_ml=law_ml, measured_ml=measured, rows=rows)
