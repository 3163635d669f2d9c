"""Row selection and splits: which rows are train, validation and test.

Rows go through: ``projection_labels`` filter (:func:`filter_mask`) ->
``sample_size`` subsample (:func:`subsample`) -> held-out test set
(:func:`split_test`) -> ``number_of_folds`` K-fold (train, validation) pairs
(:func:`split_folds`), or metadata filters instead of the last two steps
(:func:`custom_splits`). Every function works on arrays of row numbers (never on the
data) and every random choice derives from ``seed``. ``strata`` holds one class value
per row of the table (or is None without stratification).

``splits="pynet"`` (:data:`SPLIT_METHODS`) uses pynet's choices instead, to get the
folds that published pynet results used: the ``sample_size`` draw from NumPy's
global generator (:func:`pynet_mask`), a test set from ``ShuffleSplit`` /
``StratifiedShuffleSplit`` with ``random_state=0`` (:func:`pynet_split_test`) and
unshuffled ``KFold`` / ``StratifiedKFold`` folds (:func:`pynet_split_folds`), each
split keeping scikit-learn's row order.
"""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
from sklearn.model_selection import (KFold, ShuffleSplit, StratifiedKFold,
                                     StratifiedShuffleSplit, train_test_split)

from .validation import check_columns, plain_value

__all__ = ["SPLITS", "SPLIT_METHODS", "Filters", "filter_mask", "check_class_sizes",
           "subsample", "split_test", "split_folds", "custom_splits", "pynet_mask",
           "pynet_split_test", "pynet_split_folds"]

SPLITS = ("train", "validation", "test")
SPLIT_METHODS = ("seeded", "pynet")
"""``splits`` of a DataManager: shuffled under ``seed`` and sorted, or pynet's."""
Filters = Dict[str, Any]
FoldPairs = List[Tuple[np.ndarray, Optional[np.ndarray]]]


def filter_mask(metadata: pd.DataFrame, filters: Filters, role: str) -> np.ndarray:
    """Rows whose ``column`` value is ``value`` (or in a list of values) for each item.

    A value of None filters nothing on its column, as in pynet.
    """
    if not isinstance(filters, dict):
        raise ValueError(f"{role} {filters!r} is invalid: expected a dict "
                         "{column: value or list of values}")
    check_columns(metadata, list(filters), role)
    mask = np.ones(len(metadata), dtype=bool)
    for column, value in filters.items():
        if value is None:
            continue
        values = list(value) if isinstance(value, (list, tuple, set, np.ndarray)) else [value]
        mask &= metadata[column].isin(values).to_numpy()
    return mask


def check_class_sizes(values: np.ndarray, minimum: int, column: Optional[str],
                      reason: str) -> None:
    """Raise if a class of ``values`` has fewer than ``minimum`` members."""
    counts = pd.Series(values).value_counts()
    small = counts[counts < minimum]
    if len(small):
        raise ValueError(f"class {plain_value(small.index[0])!r} of stratify_label {column!r} "
                         f"has {small.iloc[0]} members, fewer than {minimum} ({reason})")


def _codes(strata: Optional[np.ndarray], rows: np.ndarray) -> Optional[np.ndarray]:
    """Integer codes of the rows' classes, in sorted class order where classes sort.

    scikit-learn sorts the classes: a column mixing strings and the ``missing_label``
    int would fail there, so such classes are coded in order of appearance.
    """
    if strata is None:
        return None
    values = strata[rows]
    try:
        return np.unique(values, return_inverse=True)[1].reshape(-1)
    except TypeError:
        return pd.factorize(values)[0]


def subsample(rows: np.ndarray, sample_size: float, strata: Optional[np.ndarray],
              seed: int) -> np.ndarray:
    """Keep a random ``sample_size`` fraction of ``rows`` (per class with strata)."""
    if sample_size == 1:
        return rows
    rng = np.random.default_rng(seed)
    codes = np.zeros(len(rows), dtype=int) if strata is None else pd.factorize(strata[rows])[0]
    kept = []
    for code in np.unique(codes):
        group = rows[codes == code]
        kept.append(rng.permutation(group)[:max(1, round(sample_size * len(group)))])
    return np.sort(np.concatenate(kept))


def split_test(rows: np.ndarray, test_size: float, strata: Optional[np.ndarray], seed: int,
               column: Optional[str]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Return ``(train_and_validation_rows, test_rows or None)``."""
    if test_size == 0:
        return rows, None
    if test_size == 1:
        return rows[:0], rows
    if strata is not None:
        check_class_sizes(strata[rows], 2, column, f"test_size={test_size} needs 2")
    try:
        rest, test = train_test_split(rows, test_size=test_size, random_state=seed,
                                      shuffle=True, stratify=_codes(strata, rows))
    except ValueError as error:
        raise ValueError(f"test_size {test_size!r} cannot split {len(rows)} rows: {error}") \
            from error
    return np.sort(rest), np.sort(test)


def split_folds(rows: np.ndarray, folds: int, strata: Optional[np.ndarray], seed: int,
                column: Optional[str]) -> FoldPairs:
    """Return ``folds`` (train_rows, validation_rows) pairs; one (rows, None) for 1 fold."""
    if len(rows) == 0:
        return []
    if folds == 1:
        return [(rows, None)]
    if folds > len(rows):
        raise ValueError(f"number_of_folds {folds} is more than the {len(rows)} rows left "
                         "for training and validation")
    if strata is None:
        pairs = KFold(folds, shuffle=True, random_state=seed).split(rows)
    else:
        check_class_sizes(strata[rows], folds, column, f"number_of_folds={folds}")
        pairs = StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            rows, _codes(strata, rows))
    return [(np.sort(rows[train]), np.sort(rows[validation])) for train, validation in pairs]


def custom_splits(metadata: pd.DataFrame, rows: np.ndarray, custom: Dict[str, Filters],
                  folds: int, seed: int, pynet: bool = False
                  ) -> Tuple[FoldPairs, Optional[np.ndarray]]:
    """Return ``(fold pairs, test_rows or None)`` selected by metadata filters.

    Without a "validation" filter, "train" is K-folded (unshuffled with ``pynet``).
    """
    if not isinstance(custom, dict) or "train" not in custom or set(custom) - set(SPLITS):
        keys = sorted(custom) if isinstance(custom, dict) else custom
        raise ValueError(f"custom_stratification keys {keys!r} are invalid: expected "
                         "'train' and optionally 'validation' and 'test'")
    selected = np.zeros(len(metadata), dtype=bool)
    selected[rows] = True
    chosen = {}
    for split, filters in custom.items():
        role = f"custom_stratification[{split!r}]"
        chosen[split] = np.flatnonzero(filter_mask(metadata, filters, role) & selected)
        if not len(chosen[split]):
            raise ValueError(f"{role} {filters!r} selects no row")
    _check_disjoint(chosen)
    if "validation" in chosen:
        return [(chosen["train"], chosen["validation"])], chosen.get("test")
    if pynet:
        return pynet_split_folds(chosen["train"], folds, None), chosen.get("test")
    return split_folds(chosen["train"], folds, None, seed, None), chosen.get("test")


def pynet_mask(metadata: pd.DataFrame, projection_labels: Optional[Filters],
               sample_size: float) -> np.ndarray:
    """pynet's row mask: a ``sample_size`` draw per row from NumPy's global generator
    (made even when ``sample_size`` is 1, as pynet does), then the projection filters."""
    mask = np.random.choice(2, len(metadata), p=[1 - sample_size, sample_size]).astype(bool)
    if projection_labels is not None:
        mask &= filter_mask(metadata, projection_labels, "projection_labels")
    return mask


def _sklearn_split(splitter: Any, rows: np.ndarray, codes: Optional[np.ndarray],
                   what: str) -> Tuple[np.ndarray, np.ndarray]:
    try:
        first, second = next(splitter.split(np.zeros(len(rows)), codes))
    except ValueError as error:
        raise ValueError(f"{what} cannot split {len(rows)} rows: {error}") from error
    return rows[first], rows[second]


def pynet_split_test(rows: np.ndarray, test_size: float, strata: Optional[np.ndarray]
                     ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """pynet's test split: ``(StratifiedShuffleSplit or ShuffleSplit)(random_state=0)``."""
    if test_size == 0:
        return rows, None
    if strata is not None:
        splitter = StratifiedShuffleSplit(n_splits=1, random_state=0, test_size=test_size)
        return _sklearn_split(splitter, rows, _codes(strata, rows), f"test_size {test_size!r}")
    if test_size == 1:
        return rows[:0], rows
    splitter = ShuffleSplit(n_splits=1, random_state=0, test_size=test_size)
    return _sklearn_split(splitter, rows, None, f"test_size {test_size!r}")


def pynet_split_folds(rows: np.ndarray, folds: int, strata: Optional[np.ndarray]) -> FoldPairs:
    """pynet's folds: unshuffled ``StratifiedKFold`` or ``KFold`` over ``rows`` in order
    (one fold: every row for training, no validation)."""
    if len(rows) == 0:
        return []
    if folds == 1:
        return [(rows, None)]
    what = f"number_of_folds {folds}"
    if strata is None:
        pairs = KFold(folds).split(rows)
    else:
        pairs = StratifiedKFold(folds).split(rows, _codes(strata, rows))
    try:
        return [(rows[train], rows[validation]) for train, validation in pairs]
    except ValueError as error:
        raise ValueError(f"{what} cannot split {len(rows)} rows: {error}") from error


def _check_disjoint(chosen: Dict[str, np.ndarray]) -> None:
    names = list(chosen)
    for position, first in enumerate(names):
        for second in names[position + 1:]:
            shared = np.intersect1d(chosen[first], chosen[second])
            if len(shared):
                raise ValueError(f"custom_stratification splits {first!r} and {second!r} "
                                 f"share {len(shared)} rows (e.g. row {shared[0]}): "
                                 "expected disjoint filters")
