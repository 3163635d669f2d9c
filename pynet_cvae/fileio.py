"""Atomic file writing: a file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    The caller writes the temporary file by any means (``open``,
    ``numpy.lib.format.open_memmap``...). When the block exits normally the file is
    fsynced and atomically renamed over ``path``; when it raises, the temporary file
    is removed and ``path`` keeps its previous content (or stays absent).

    Parameters
    ----------
    path : str or path-like
        The final file; its folder is created if needed.

    Yields
    ------
    pathlib.Path
        The temporary file, in the same folder (hidden, ending in ``.part``).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_temporary(final)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_directory(final.parent)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a stream whose content replaces ``path`` atomically when the block ends.

    Parameters
    ----------
    path : str or path-like
        The final file.
    mode : str, default "wb"
        A writing mode (``"wb"`` or ``"w"``).
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``).
    """
    with atomic_path(path) as temporary:
        with open(temporary, mode, **kwargs) as stream:
            yield stream


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def _create_temporary(final: Path) -> Path:
    """Create an empty hidden file next to ``final``, with the umask's permissions."""
    while True:
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(6)}.part")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temporary


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
