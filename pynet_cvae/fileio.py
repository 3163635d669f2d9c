"""Atomic file writing: a file is either complete or absent, never half-written.

A file is written to a hidden temporary file beside it (``.<name>.<12 hex>.part``),
fsynced and renamed. The writing process holds a lock on its temporary file
(``flock``) until the rename, so a temporary file that nobody holds was left by a
killed process: :func:`remove_stale_temporaries` removes those, and only those.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import IO, Iterator, List, Optional, Union

try:
    import fcntl
except ImportError:  # not on Windows: stale files are then recognised by their age
    fcntl = None  # type: ignore[assignment]

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    The caller writes the temporary file by any means (``open``,
    ``numpy.lib.format.open_memmap``...). When the block exits normally the file is
    fsynced and atomically renamed over ``path``; when it raises, the temporary file
    is removed and ``path`` keeps its previous content (or stays absent). An
    ``OSError`` of the writing (a full disk, a read-only folder) names ``path``, the
    file the user asked for, rather than the temporary file.

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
    temporary: Optional[Path] = None
    lock: Optional[int] = None
    try:
        with uninterrupted():  # a Ctrl-C waits until the file is known to this block
            temporary, lock = _create_temporary(final)
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, final)
    except BaseException as error:
        if temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        if isinstance(error, OSError) and (temporary is None or error.filename is None
                                           or str(error.filename) == str(temporary)):
            raise _naming(error, final) from None
        raise
    finally:
        if lock is not None:
            os.close(lock)
    _fsync_directory(final.parent)


_held_back = {"depth": 0, "pending": None}


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold back the interruption of a signal handler that honours the block (see
    :func:`hold_back`) until the block ends, so that it cannot fall between two
    steps that must go together (creating a temporary file and noting it for its
    removal)."""
    _held_back["depth"] += 1
    try:
        yield
    finally:
        _held_back["depth"] -= 1
        pending = _held_back["pending"]
        if _held_back["depth"] == 0 and pending is not None:
            _held_back["pending"] = None
            raise pending


def hold_back(interruption: BaseException) -> bool:
    """Keep ``interruption`` for the end of the current :func:`uninterrupted` block.

    A signal handler calls it before raising: it returns True (the handler returns
    without raising) inside such a block, False outside (the handler raises).
    """
    if _held_back["depth"] == 0:
        return False
    _held_back["pending"] = _held_back["pending"] or interruption
    return True


def _naming(error: OSError, final: Path) -> OSError:
    """``error`` naming the file being written (not its temporary file, or nothing)."""
    if error.errno is None:
        return error
    named = OSError(error.errno, error.strerror, str(final))  # the errno's subclass
    return named.with_traceback(error.__traceback__)


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


def _create_temporary(final: Path) -> "tuple[Path, int]":
    """Create an empty hidden file next to ``final`` (umask's permissions), locked.

    Returns the file and the descriptor that holds its lock (close it to release).
    """
    while True:
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(6)}.part")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        return temporary, descriptor


_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.part$")
#: Without file locks, a temporary file older than this (seconds) counts as stale.
STALE_AGE = 24 * 3600.0


def is_temporary_file(path: PathLike, name: Optional[str] = None) -> bool:
    """Tell whether ``path`` is named as :func:`atomic_path`'s temporary files are.

    Parameters
    ----------
    path : str or path-like
        The file.
    name : str, optional
        Only the temporary files of the final file ``name``.
    """
    match = _TEMPORARY_NAME.match(Path(path).name)
    return match is not None and (name is None or match["name"] == name)


def _is_held(path: Path) -> bool:
    """Whether a live process writes ``path`` (holds its lock)."""
    if fcntl is None:
        return time.time() - path.stat().st_mtime < STALE_AGE
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def remove_stale_temporaries(directory: PathLike, name: Optional[str] = None) -> List[Path]:
    """Remove the temporary files that killed writers left in ``directory``.

    A temporary file a live process is writing (it holds the file's lock) is kept,
    so this is safe while other processes write in the same folder.

    Parameters
    ----------
    directory : str or path-like
        The folder (nothing happens when it does not exist).
    name : str, optional
        Only the temporary files of the final file ``name``.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(directory):
            path = Path(entry.path)
            if not entry.is_file(follow_symlinks=False) or not is_temporary_file(path, name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if not _is_held(path):
                    path.unlink()
                    removed.append(path)
    return removed


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
