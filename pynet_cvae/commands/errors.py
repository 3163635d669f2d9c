"""One line for each failure the command line can name.

:func:`describe_failure` turns an exception into the sentence ``pynet-cvae``
prints after ``pynet-cvae: error:``; :func:`describe_interruption` does the same
for Ctrl-C and SIGTERM. Exceptions it cannot name are left to Python (a
traceback is then the right report: it is a bug).
"""

from __future__ import annotations

import errno
import shlex
from typing import Optional, Sequence

from ..extras import MissingExtraError
from .memory import AddressSpaceTooSmall, memory_hint
from .stopping import Interrupted, RunInterrupted

#: The exceptions the command line reports in one line.
NAMED_FAILURES = (OSError, MemoryError, ValueError, RuntimeError, ImportError)

_OS_ERROR_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded: free some space or write elsewhere",
    errno.EFBIG: "the file size limit (ulimit -f) is reached",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def describe_os_error(error: OSError) -> str:
    """The sentence for an ``OSError``: what failed, on which path, and what to do.

    Parameters
    ----------
    error : OSError
        The error; one built with a message only (no ``errno``) is shown as it is.

    Returns
    -------
    str
        One line.
    """
    if error.errno is None or not error.strerror:
        return str(error)
    path = error.filename
    if path is None:
        hint = _OS_ERROR_HINTS.get(error.errno)
        return error.strerror if hint is None or hint in error.strerror \
            else f"{error.strerror} ({hint})"
    if error.errno == errno.EEXIST:
        return f"{str(path)!r} exists and is not a folder: move it away or write elsewhere"
    if error.errno == errno.ENOTDIR:
        return f"{str(path)!r}: a part of this path is a file, not a folder"
    hint = _OS_ERROR_HINTS.get(error.errno)
    where = f"{error.strerror}: {str(path)!r}"
    return where if hint is None or hint == error.strerror.lower() else f"{where} ({hint})"


def describe_failure(error: BaseException) -> Optional[str]:
    """The report of a failure the command line can name, or None.

    Parameters
    ----------
    error : BaseException
        The failure.

    Returns
    -------
    str or None
        The sentence, without the ``pynet-cvae: error:`` prefix; None for a
        failure to show with its traceback (an ``ImportError`` other than a missing
        optional dependency or a library that failed to map, anything outside
        :data:`NAMED_FAILURES`).
    """
    if isinstance(error, MemoryError):
        if isinstance(error, AddressSpaceTooSmall):
            return str(error)
        return f"out of memory: {str(error) or 'an allocation failed'}{memory_hint()}"
    if isinstance(error, MissingExtraError):  # names the extra that installs it
        return str(error)
    if isinstance(error, ImportError):
        if "failed to map segment" not in str(error):
            return None
        return f"cannot load a library: {str(error).strip()}{memory_hint()}"
    if isinstance(error, OSError):
        return describe_os_error(error)
    if isinstance(error, NAMED_FAILURES):
        return str(error) or type(error).__name__
    return None


def describe_interruption(interruption: KeyboardInterrupt,
                          argv: Optional[Sequence[str]] = None) -> str:
    """The one-line report of a command stopped by Ctrl-C or SIGTERM.

    Parameters
    ----------
    interruption : KeyboardInterrupt
        What stopped it (:class:`~pynet_cvae.commands.stopping.Interrupted` names
        the signal).
    argv : sequence of str, optional
        The command's arguments, to show how to resume an interrupted training.

    Returns
    -------
    str
        The sentence, without the ``pynet-cvae:`` prefix.
    """
    name = interruption.signal_name if isinstance(interruption, Interrupted) else "SIGINT"
    what = "Ctrl-C" if name == "SIGINT" else name
    if not isinstance(interruption, RunInterrupted):
        return f"stopped by {what}"
    if interruption.checkpoint is None:
        saved = "no epoch was complete, nothing to resume from"
    else:
        saved = f"the completed epochs are saved up to {interruption.checkpoint}"
    line = f"stopped by {what}: {saved}"
    if interruption.checkpoint is not None and argv is not None:
        arguments = list(argv)
        if "--resume" not in arguments:
            arguments.append("--resume")
        line += f"; continue with: {shlex.join(['pynet-cvae', *arguments])}"
    return line

