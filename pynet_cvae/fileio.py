"""Atomic file writing: a file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it onto ``path`` on success.

    The data is flushed and fsynced before the rename; on any error the temporary
    file is removed and ``path`` keeps its previous content (or stays absent).

    Parameters
    ----------
    path : str
        The final file.
    mode : str, default "wb"
        A writing mode (``"wb"`` or ``"w"``).
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``).
    """
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(descriptor, mode, **kwargs) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not every file system allows it.
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
