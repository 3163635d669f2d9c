"""Labels: class ids or continuous values, ``label_mapping`` and unlabelled rows.

With ``missing_label`` (an int marker such as -1), a row whose label is the marker or
an empty cell is *unlabelled*: it is kept, its label in mini-batches is the marker
(int64), and it forms its own stratum when the label column is also the
stratification column. Without it, an empty label cell is an error.
"""

import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from .validation import plain_value

__all__ = ["prepare_labels", "check_missing_label", "missing_mask", "stratum_values",
           "strata_codes"]


def check_missing_label(missing_label: Any, continuous: bool = False) -> None:
    """Check a ``missing_label`` argument: None, or an int marker for class labels."""
    if missing_label is None:
        return
    if isinstance(missing_label, bool) or not isinstance(missing_label, (int, np.integer)):
        raise ValueError(f"missing_label {missing_label!r} is invalid: expected an int "
                         "marker of unlabelled rows, such as -1")
    if continuous:
        raise ValueError(f"missing_label {missing_label!r} needs class labels: expected "
                         "continuous_labels=False")


def missing_mask(values: np.ndarray, missing_label: Optional[int]) -> np.ndarray:
    """Where ``values`` is unlabelled: an empty cell (NaN, None) or ``missing_label``."""
    values = np.asarray(values)
    flat = values.ravel()
    mask = np.array(pd.isna(flat), dtype=bool)
    if missing_label is not None:
        if flat.dtype.kind in "iufb":
            mask |= flat == missing_label
        else:
            marker = str(missing_label)
            mask |= np.fromiter((_is_marker(value, missing_label, marker) for value in flat),
                                dtype=bool, count=flat.size)
    return mask.reshape(values.shape)


def _is_marker(value: Any, missing_label: int, marker: str) -> bool:
    if isinstance(value, str):
        return value.strip() == marker
    try:
        return bool(value == missing_label)
    except (TypeError, ValueError):
        return False


def _where(flat_index: int, shape, rows: Optional[np.ndarray]) -> str:
    """`` at row R`` for a position in the flattened labels."""
    per_row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    position = flat_index // max(per_row, 1)
    row = position if rows is None else int(rows[position])
    return f" at row {row}"


def _map_labels(values: np.ndarray, mapping: dict, name: str, skip: np.ndarray,
                rows: Optional[np.ndarray], missing_label: Optional[int]) -> np.ndarray:
    if not isinstance(mapping, dict):
        raise ValueError(f"label_mapping {mapping!r} is invalid: expected a dict")
    if missing_label is not None:
        for key, value in mapping.items():
            if _is_marker(value, missing_label, str(missing_label)):
                raise ValueError(f"label_mapping maps {key!r} to {value!r}, the missing_label "
                                 "marker: expected class ids other than the marker")
    flat = pd.Series(values.ravel())
    known = flat.isin(list(mapping)).to_numpy() | skip.ravel()
    if not known.all():
        position = int(np.argmin(known))
        raise ValueError(f"{name} value {plain_value(flat[position])!r}"
                         f"{_where(position, values.shape, rows)} not in label_mapping keys "
                         f"{list(mapping)}")
    mapped = [missing_label if missing else mapping[value]
              for value, missing in zip(flat, skip.ravel())]
    return np.asarray(mapped).reshape(values.shape)


def _is_integral(value: Any) -> bool:
    """Whether ``value`` is an integer, or the text of one (a table's column that
    mixes numbers and text is read as text)."""
    if isinstance(value, bytes):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number.is_integer()


def _is_number(value: Any) -> bool:
    if isinstance(value, (str, bytes)):
        try:
            float(value)
        except ValueError:
            return False
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _as_numbers(values: np.ndarray, name: str, rows: Optional[np.ndarray]) -> np.ndarray:
    try:
        return values.astype(np.float32)
    except (TypeError, ValueError):
        flat = values.ravel()
        position = next(index for index, value in enumerate(flat) if not _is_number(value))
        raise ValueError(f"{name} value {plain_value(flat[position])!r}"
                         f"{_where(position, values.shape, rows)} is not a number: expected "
                         "numbers with continuous_labels=True (or a label_mapping)") from None


def _as_class_ids(values: np.ndarray, name: str, missing: np.ndarray,
                  missing_label: Optional[int], rows: Optional[np.ndarray]) -> np.ndarray:
    if values.dtype.kind in "iub":
        result = values.astype(np.int64)
    else:
        flat, skip = values.ravel(), missing.ravel() & (missing_label is not None)
        if flat.dtype.kind == "f":
            valid = skip | (np.isfinite(flat) & (flat == np.floor(flat)))
        else:
            valid = np.fromiter((skipped or _is_integral(value)
                                 for value, skipped in zip(flat, skip)),
                                dtype=bool, count=flat.size)
        if not valid.all():
            position = int(np.argmin(valid))
            _raise_not_class_id(flat[position], name, _where(position, values.shape, rows))
        result = np.where(skip, 0, flat).astype(np.float64).astype(np.int64)
        result = result.reshape(values.shape)
    if missing_label is not None:
        result[missing] = missing_label
    _refuse_negative(result, missing if missing_label is not None else None, name,
                     missing_label, rows)
    return result


def _refuse_negative(ids: np.ndarray, missing: Optional[np.ndarray], name: str,
                     missing_label: Optional[int], rows: Optional[np.ndarray]) -> None:
    """Refuse a negative class id, unless it marks an unlabelled row."""
    negative = ids < 0
    if missing is not None:
        negative &= ~missing
    if not negative.any():
        return
    position = int(np.argmax(negative.ravel()))
    bad = int(ids.ravel()[position])
    if missing_label is None:
        expected = (f"class ids >= 0 (or missing_label={bad} to keep the rows labelled {bad} "
                    "as unlabelled, for semi-supervised training)")
    else:
        expected = f"class ids >= 0 or the missing_label marker {missing_label}"
    raise ValueError(f"{name} value {bad}{_where(position, ids.shape, rows)} is a negative "
                     f"class id: expected {expected}")


def _raise_not_class_id(bad: Any, name: str, where: str) -> None:
    if pd.isna(bad):
        raise ValueError(f"{name} has a missing value{where}: expected a class id in "
                         "every row (or missing_label=-1 to keep unlabelled rows)")
    raise ValueError(f"{name} value {plain_value(bad)!r}{where} is not an integer class id: "
                     "expected integers (or give label_mapping, or continuous_labels=True)")


def prepare_labels(values, label_mapping: Optional[dict] = None, continuous: bool = False,
                   name: str = "labels", missing_label: Optional[int] = None,
                   rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Map labels, then return float32 values or int64 class ids.

    Parameters
    ----------
    values : array-like
        Labels, shape ``(N,)`` or ``(N, K)``.
    label_mapping : dict, optional
        Replaces each value by ``label_mapping[value]``; every value must be a key
        (except unlabelled values).
    continuous : bool
        Return float32 values instead of integer class ids.
    name : str
        How errors name the labels.
    missing_label : int, optional
        Marker of unlabelled values: values equal to it, and empty cells, become it.
    rows : numpy.ndarray, optional
        The row number of each value's row, for error messages.

    Returns
    -------
    numpy.ndarray
        float32 (``continuous``) or int64 labels.
    """
    values = np.asarray(values)
    check_missing_label(missing_label, continuous)
    if values.dtype.kind == "c":
        raise ValueError(f"{name} holds {values.dtype} values: expected real numbers or "
                         "class ids")
    missing = missing_mask(values, missing_label) if missing_label is not None \
        else np.zeros(values.shape, dtype=bool)
    if label_mapping is not None:
        values = _map_labels(values, label_mapping, name, missing, rows, missing_label)
    if continuous:
        return _as_numbers(values, name, rows)
    return _as_class_ids(values, name, missing, missing_label, rows)


def stratum_values(values: np.ndarray, missing_label: Optional[int]) -> np.ndarray:
    """Stratification values where unlabelled rows share the marker's stratum."""
    if missing_label is None:
        return values
    mask = missing_mask(values, missing_label)
    if not mask.any():
        return values
    values = np.array(values, dtype=object)
    values[mask] = missing_label
    return values


def strata_codes(values: np.ndarray, missing_label: Optional[int]) -> np.ndarray:
    """Integer class codes of ``values``; -1 for unlabelled rows (``missing_label``)."""
    codes = pd.factorize(np.asarray(values))[0].astype(np.int64)
    if missing_label is not None:
        codes[missing_mask(values, missing_label)] = -1
    return codes
