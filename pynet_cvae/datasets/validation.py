"""Checks of the data layer's arguments and files; each error names the bad value.

These run when a :class:`~pynet_cvae.datasets.manager.DataManager` is built, so that
a bad argument or a bad file fails at once with a message that says what was given
and what was expected, rather than as an obscure error in the middle of training.
"""

import inspect
import os
from typing import Any, Dict, Sequence

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, Sampler

from .mapped import first_non_finite

__all__ = ["SAMPLER_NAMES", "plain_value", "check_fraction", "check_int", "check_sampler",
           "check_loader_arguments", "open_array", "read_metadata", "check_columns",
           "check_finite", "check_real_dtype"]

SAMPLER_NAMES = ("random", "weighted_random")
_MANAGED_LOADER_ARGUMENTS = ("dataset", "batch_size", "sampler", "batch_sampler",
                             "collate_fn")
_LOADER_ARGUMENTS = sorted(set(inspect.signature(DataLoader).parameters)
                           - set(_MANAGED_LOADER_ARGUMENTS))


def plain_value(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds, for readable error messages."""
    return value.item() if isinstance(value, np.generic) else value


def check_fraction(name: str, value: Any, open_at_zero: bool) -> None:
    """Check that ``value`` is a number in (0, 1] (``open_at_zero``) or [0, 1]."""
    interval = "(0, 1]" if open_at_zero else "[0, 1]"
    is_number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not is_number or not (0 < value <= 1 if open_at_zero else 0 <= value <= 1):
        raise ValueError(f"{name} {value!r} out of range: expected a number in {interval}")


def check_int(name: str, value: Any, minimum: int) -> None:
    """Check that ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} {value!r} is invalid: expected an int >= {minimum}")


def check_sampler(sampler: Any) -> None:
    """Check a ``sampler`` argument: None, a known name, a Sampler class or instance."""
    is_class = isinstance(sampler, type) and issubclass(sampler, Sampler)
    if not (sampler is None or is_class or isinstance(sampler, Sampler)
            or (isinstance(sampler, str) and sampler in SAMPLER_NAMES)):
        raise ValueError(f"sampler {sampler!r} is invalid: expected 'random', "
                         "'weighted_random', None or a torch.utils.data.Sampler subclass")


def check_loader_arguments(arguments: Dict[str, Any]) -> None:
    """Check extra ``DataLoader`` arguments (those the manager sets are refused)."""
    for name in arguments:
        if name in _MANAGED_LOADER_ARGUMENTS:
            raise ValueError(f"dataloader argument {name!r} is set by the DataManager: "
                             "use its batch_size and sampler parameters")
        if name not in _LOADER_ARGUMENTS:
            raise ValueError(f"dataloader argument {name!r} unknown: expected one of "
                             f"{_LOADER_ARGUMENTS}")


def check_real_dtype(array: np.ndarray, name: str) -> None:
    """Refuse an array that does not hold real numbers (complex, text, dates...).

    A complex array would otherwise lose its imaginary part in the float tensors of
    the mini-batches, with a NumPy warning at most.
    """
    kind = array.dtype.kind
    if kind in "biuf":
        return
    if kind == "c":
        raise ValueError(f"{name} holds {array.dtype} values: expected real numbers (the "
                         "imaginary parts would be dropped); convert it first, e.g. "
                         "np.abs(x), x.real, or the real and imaginary parts as two channels")
    raise ValueError(f"{name} holds {array.dtype} values: expected numbers (bool, int or "
                     "float)")


def open_array(path: str, name: str) -> np.ndarray:
    """Open the ``.npy`` file ``path`` memory-mapped (read-only); ``name`` names it.

    The file is opened through ``numpy.load`` first and checked after, so that a
    ``numpy.load`` replaced in a test (``unittest.mock.patch``) serves the array.
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} {path!r} does not exist") from None
    except (OSError, ValueError) as error:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{name} {path!r} does not exist") from None
        raise ValueError(f"{name} {path!r} is not a readable .npy array: {error}") from None
    if not isinstance(array, np.ndarray) or array.ndim == 0:
        raise ValueError(f"{name} {path!r} is not a .npy array of shape (N, ...)")
    check_real_dtype(array, f"{name} {path!r}")
    return array


def read_metadata(path: str, rows: int, input_path: str) -> pd.DataFrame:
    """Read the tab-separated table ``path``, which must have ``rows`` rows.

    As for :func:`open_array`, ``pandas.read_csv`` is called first.
    """
    try:
        metadata = pd.read_csv(path, sep="\t")
    except FileNotFoundError:
        raise FileNotFoundError(f"metadata_path {path!r} does not exist") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        if not os.path.exists(path):
            raise FileNotFoundError(f"metadata_path {path!r} does not exist") from None
        raise ValueError(f"metadata_path {path!r} is not a readable tab-separated "
                         f"table: {error}") from None
    if len(metadata) != rows:
        raise ValueError(f"metadata_path {path!r} has {len(metadata)} rows but input_path "
                         f"{input_path!r} has {rows} samples: expected one row per sample")
    return metadata


def check_columns(metadata: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """Check that every column is in the table; ``role`` says what it is for."""
    for column in columns:
        if column not in metadata.columns:
            raise ValueError(f"{role} column {column!r} not in metadata columns "
                             f"{list(metadata.columns)}")


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise if ``array`` holds a NaN or an infinite value, naming the first one.

    The array is scanned in bounded chunks (see
    :func:`~pynet_cvae.datasets.mapped.first_non_finite`).
    """
    found = first_non_finite(array)
    if found is not None:
        index, value = found
        raise ValueError(f"{name} has value {value!r} at index {index} (sample {index[0]}): "
                         "expected finite numbers (no NaN or infinity)")
