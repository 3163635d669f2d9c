"""Prepared data sets: checked at each use, never trusted.

A fetcher prepares ``<prefix>_inputs.npy`` and ``<prefix>_metadata.tsv`` once and
reuses them. They are derived files, so before reusing them a fetcher checks them
(:func:`is_prepared`): both exist, agree on their number of rows, and still have
the SHA-256 recorded when they were written, in ``<prefix>_prepared.sha256``
(``sha256sum -c`` format, written last by :func:`record_prepared`). Otherwise (a
crash between two files, a file damaged or edited since, a folder prepared by a
version that kept no record) the data set is prepared again, and the log says why.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..fileio import atomic_write_text
from .download import sha256sum

logger = logging.getLogger("pynet_cvae")

RECORD_SUFFIX = "_prepared.sha256"
"""The record of a prepared data set, beside its files: ``<prefix>_prepared.sha256``."""


def record_path(input_path: str) -> str:
    """The record of the data set whose array is ``input_path`` (``<prefix>_inputs.npy``).

    Parameters
    ----------
    input_path : str
        The prepared array.

    Returns
    -------
    str
        ``<prefix>_prepared.sha256`` in the same folder.
    """
    folder, name = os.path.split(input_path)
    prefix = name[:-len("_inputs.npy")] if name.endswith("_inputs.npy") else name
    return os.path.join(folder, prefix + RECORD_SUFFIX)


def record_prepared(item: Tuple[str, Optional[str], str]) -> str:
    """Record the SHA-256 of a data set's files, once they are written.

    Parameters
    ----------
    item : Item
        ``(input_path, output_path, metadata_path)`` of the prepared data set.

    Returns
    -------
    str
        The record's path.
    """
    lines = "".join(f"{sha256sum(path)}  {os.path.basename(path)}\n"
                    for path in _files(item))
    path = record_path(item[0])
    atomic_write_text(path, lines)
    return path


def is_prepared(item: Tuple[str, Optional[str], str],
                required: Sequence[str] = ("label", "split")) -> bool:
    """Tell whether a data set's prepared files can be reused as they are.

    Parameters
    ----------
    item : Item
        ``(input_path, output_path, metadata_path)``.
    required : sequence of str, default ("label", "split")
        The columns the table must have.

    Returns
    -------
    bool
        True when the files exist, agree, and match their record; False (with a
        log message naming the reason) when the data set must be prepared again.
    """
    inputs, metadata = item[0], item[2]
    if not (os.path.isfile(inputs) and os.path.isfile(metadata)):
        return False
    try:
        rows = np.load(inputs, mmap_mode="r").shape[0]
        with open(metadata, encoding="utf-8") as stream:
            columns = stream.readline().rstrip("\n").split("\t")
            lines = sum(1 for _ in stream)
    except (OSError, ValueError) as error:
        logger.warning("prepared files %s are unreadable (%s): preparing again",
                       inputs, error)
        return False
    if rows != lines or not set(required) <= set(columns):
        logger.warning("prepared files %s (%d rows) and %s (%d rows, columns %s) "
                       "disagree: preparing again", inputs, rows, metadata, lines, columns)
        return False
    return _match_record(item)


def _files(item: Tuple[str, Optional[str], str]) -> list:
    return [path for path in (item[0], item[1], item[2]) if path is not None]


def _read_record(path: str) -> Optional[Dict[str, str]]:
    try:
        with open(path, encoding="utf-8") as stream:
            entries = [line.rstrip("\n").split("  ", 1) for line in stream if line.strip()]
    except (OSError, UnicodeDecodeError):
        return None
    if not all(len(entry) == 2 for entry in entries):
        return None
    return {name: digest for digest, name in entries}


def _match_record(item: Tuple[str, Optional[str], str]) -> bool:
    record = record_path(item[0])
    recorded = _read_record(record)
    if recorded is None:
        logger.info("no readable record %s of the prepared files' SHA-256 (prepared by an "
                    "older version, or interrupted): preparing again", record)
        return False
    for path in _files(item):
        actual, expected = sha256sum(path), recorded.get(os.path.basename(path))
        if actual != expected:
            logger.warning("prepared file %s changed since it was prepared (SHA-256 %s, %s "
                           "records %s): preparing again", path, actual,
                           os.path.basename(record), expected)
            return False
    return True
