"""Semi-supervised training data: keep the labels of a few training images, hide the rest.

:func:`hide_labels` writes a copy of a fetcher's table in which the ``label`` of
most training images is :data:`MISSING_LABEL` and a ``subset`` column says which
rows train (``"train"``), validate (``"validation"``, labels kept: they only monitor
training), are left out (``"unused"``, by ``sample_size``) or are test images
(``"test"``). A :class:`~pynet_cvae.datasets.DataManager` reads it with
``custom_stratification=TRAIN_VALIDATION`` (or :data:`LABELLED_ONLY` for the
baseline trained on the labelled images alone) and ``missing_label=MISSING_LABEL``, and
:class:`~pynet_cvae.plugins.cvae.SemiSupervisedCVAE` with
its objective trains on both kinds of rows.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Optional

import numpy as np
import pandas as pd

from ...fileio import atomic_open

#: The class id of an image whose label is hidden.
MISSING_LABEL = -1
#: ``custom_stratification`` of the semi-supervised run.
TRAIN_VALIDATION = {"train": {"subset": "train"}, "validation": {"subset": "validation"}}
#: ``custom_stratification`` of the baseline: the labelled training images alone.
LABELLED_ONLY = {"train": {"subset": "train", "labelled": True},
                 "validation": {"subset": "validation"}}

HiddenLabels = namedtuple("HiddenLabels", ["metadata_path", "labelled", "unlabelled",
                                           "validation"])
HiddenLabels.__doc__ = """What :func:`hide_labels` wrote.

Parameters
----------
metadata_path : str
    The table's path.
labelled, unlabelled : int
    The numbers of labelled and unlabelled training images.
validation : int
    The number of validation images.
"""


def hide_labels(metadata_path: str, output_path: str,
                labelled_per_class: Optional[int] = None,
                labelled_fraction: Optional[float] = None, validation_fraction: float = 0.1,
                sample_size: float = 1.0, seed: int = 42,
                label_column: str = "label") -> HiddenLabels:
    """Write a table where only some training images keep their label.

    Parameters
    ----------
    metadata_path : str
        A fetcher's table (``label`` and ``split`` columns).
    output_path : str
        The table to write (atomically).
    labelled_per_class : int, optional
        Keep this many labels per class among the training rows.
    labelled_fraction : float, optional
        Or keep this fraction of the training rows' labels (per class); exactly one
        of the two must be given.
    validation_fraction : float, default 0.1
        The fraction of the kept rows of the ``"train"`` split, per class, that
        validates; they keep their labels.
    sample_size : float, default 1.0
        The fraction of the ``"train"`` split used at all (per class).
    seed : int, default 42
        The seed of every choice.
    label_column : str, default "label"
        The class column.

    Returns
    -------
    HiddenLabels
    """
    if (labelled_per_class is None) == (labelled_fraction is None):
        raise ValueError("give exactly one of labelled_per_class and labelled_fraction, got "
                         f"{labelled_per_class!r} and {labelled_fraction!r}")
    for name, value in (("validation_fraction", validation_fraction),
                        ("sample_size", sample_size)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    metadata = pd.read_csv(metadata_path, sep="\t")
    for column in (label_column, "split"):
        if column not in metadata.columns:
            raise ValueError(f"metadata {metadata_path!r} has no {column!r} column, only "
                             f"{list(metadata.columns)}")
    rng = np.random.default_rng(seed)
    labels = metadata[label_column].to_numpy()
    subset = np.where(metadata["split"].to_numpy() == "test", "test", "unused").astype(object)
    labelled = np.zeros(len(metadata), dtype=bool)
    for label in np.unique(labels[metadata["split"].to_numpy() == "train"]):
        rows = rng.permutation(np.flatnonzero((labels == label)
                                              & (metadata["split"].to_numpy() == "train")))
        rows = rows[:max(2, round(sample_size * len(rows)))]
        validation_count = round(validation_fraction * len(rows))
        subset[rows[:validation_count]] = "validation"
        training = rows[validation_count:]
        subset[training] = "train"
        keep = _kept(len(training), labelled_per_class, labelled_fraction, label)
        labelled[training[:keep]] = True
    hidden = (subset == "train") & ~labelled
    table = metadata.copy()
    table[label_column] = np.where(hidden, MISSING_LABEL, labels)
    table["subset"] = subset
    table["labelled"] = labelled | (subset != "train")
    with atomic_open(output_path, "w", encoding="utf-8", newline="") as stream:
        table.to_csv(stream, sep="\t", index=False)
    return HiddenLabels(output_path, int(labelled.sum()), int(hidden.sum()),
                        int((subset == "validation").sum()))


def _kept(available: int, per_class: Optional[int], fraction: Optional[float],
          label: object) -> int:
    if per_class is not None:
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise ValueError(f"labelled_per_class must be a positive integer, got "
                             f"{per_class!r}")
        if per_class > available:
            raise ValueError(f"labelled_per_class {per_class} is more than the {available} "
                             f"training images of class {label!r}")
        return per_class
    if not 0 < fraction <= 1:
        raise ValueError(f"labelled_fraction must lie in (0, 1], got {fraction!r}")
    return max(1, round(fraction * available))
