"""JSON that strict parsers read: NaN and infinities written as strings (or null).

Python's :mod:`json` writes a NaN or an infinite float as the bare tokens ``NaN``
and ``Infinity``, which are not JSON: JavaScript's ``JSON.parse``, ``jq`` and most
parsers reject the whole file. Every JSON file pynet-cvae writes (histories,
evaluation results, model configurations) goes through :func:`dumps` instead:

- a NaN, ``inf`` or ``-inf`` float becomes the string ``"NaN"``, ``"Infinity"`` or
  ``"-Infinity"`` (the spellings of Python and JavaScript), which
  :func:`restore_non_finite` (and :meth:`pynet_cvae.history.History.load`) read
  back as floats;
- or, with ``non_finite="null"``, ``null`` (the board's replay log: a plot draws a
  gap there).
"""

from __future__ import annotations

import json
import math
from typing import Any

from .fileio import PathLike, atomic_write_text

NON_FINITE_STRINGS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""The strings that stand for non-finite floats, and their values."""


def _non_finite_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def encode_non_finite(value: Any, non_finite: str = "string") -> Any:
    """``value`` with every non-finite float replaced by a string (or None).

    Parameters
    ----------
    value : JSON-like data
        Dicts, lists, tuples, numbers, strings, None.
    non_finite : {"string", "null"}, default "string"
        What replaces a non-finite float.

    Returns
    -------
    JSON-like data
        A copy where needed (containers), the same objects otherwise.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return _non_finite_text(value) if non_finite == "string" else None
    if isinstance(value, dict):
        return {key: encode_non_finite(item, non_finite) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_non_finite(item, non_finite) for item in value]
    return value


def restore_non_finite(value: Any) -> Any:
    """Read back a value of :func:`encode_non_finite`: its strings become floats.

    Parameters
    ----------
    value : Any
        A number, or a string of :data:`NON_FINITE_STRINGS`.

    Returns
    -------
    Any
        The float it stands for, or ``value`` unchanged.
    """
    if isinstance(value, str) and value in NON_FINITE_STRINGS:
        return NON_FINITE_STRINGS[value]
    return value


def dumps(value: Any, non_finite: str = "string", **options: Any) -> str:
    """Serialise ``value`` as strict JSON (see the module documentation).

    Parameters
    ----------
    value : JSON-like data
        What to write.
    non_finite : {"string", "null"}, default "string"
        What a non-finite float becomes.
    **options
        Passed to :func:`json.dumps` (``indent``, ``sort_keys``...).

    Returns
    -------
    str
        JSON text without ``NaN`` nor ``Infinity`` tokens.
    """
    if non_finite not in ("string", "null"):
        raise ValueError(f"non_finite {non_finite!r} unknown: expected 'string' or 'null'")
    return json.dumps(encode_non_finite(value, non_finite), allow_nan=False, **options)


def write_json(path: PathLike, value: Any, **options: Any) -> None:
    """Write ``value`` to ``path`` as strict JSON, atomically, ending with a newline.

    Parameters
    ----------
    path : str or path-like
        The file.
    value : JSON-like data
        What to write.
    **options
        Passed to :func:`dumps`.
    """
    atomic_write_text(path, dumps(value, **options) + "\n")
