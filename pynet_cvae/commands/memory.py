"""The address-space limit (``ulimit -v``, ``RLIMIT_AS``), checked before NumPy loads.

Under a small address-space limit, the numerical libraries fail while they load:
OpenBLAS reserves a buffer per thread when NumPy or SciPy is imported and can hang
when the reservation fails, and shared libraries fail to map ("failed to map
segment from shared object"). So the command line reads the limit first, before
importing any of them:

- below :data:`MINIMUM_ADDRESS_SPACE` nothing can work: the command stops at once
  with one line saying so and how to raise the limit;
- under any finite limit, OpenBLAS is asked for one thread
  (``OPENBLAS_NUM_THREADS=1``, unless set) and glibc for two malloc arenas, so the
  memory reserved does not grow with the number of cores. PyTorch, which does the
  heavy work, keeps its own threads.

A :class:`MemoryError` or a library that fails to map later still ends in one line
that names the limit (see :func:`memory_hint`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Optional

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

MINIMUM_ADDRESS_SPACE = 1024 * 2 ** 20
"""The smallest address space (bytes) in which ``pynet-cvae train`` runs (about
1.1 GB was measured for the default run on the digits); below it, the command
refuses to start."""

_MALLOC_ARENA_MAX = -8  # glibc's mallopt parameter M_ARENA_MAX


class AddressSpaceTooSmall(MemoryError):
    """The address-space limit is below :data:`MINIMUM_ADDRESS_SPACE`."""


def address_space_limit() -> Optional[int]:
    """The soft ``RLIMIT_AS`` in bytes, or None when unlimited (or unknown).

    Returns
    -------
    int or None
        The limit.
    """
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _mebibytes(size: int) -> str:
    return f"{size / 2 ** 20:.0f} MiB"


def check_address_space(minimum: int = MINIMUM_ADDRESS_SPACE) -> Optional[int]:
    """Refuse a limit below ``minimum``; under a finite one, bound the BLAS threads.

    Call it before NumPy, SciPy or PyTorch is imported (later, the thread settings
    have no effect).

    Parameters
    ----------
    minimum : int, default :data:`MINIMUM_ADDRESS_SPACE`
        The smallest workable limit, in bytes.

    Returns
    -------
    int or None
        The limit, or None when there is none.

    Raises
    ------
    AddressSpaceTooSmall
        When the limit is below ``minimum``.
    """
    limit = address_space_limit()
    if limit is None:
        return None
    if limit < minimum:
        raise AddressSpaceTooSmall(
            f"the address-space limit (ulimit -v) is {_mebibytes(limit)}, but loading "
            f"PyTorch, NumPy and SciPy needs at least {_mebibytes(minimum)}: raise it "
            f"(e.g. ulimit -v {2 * minimum // 1024}, or ulimit -v unlimited)")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _limit_malloc_arenas(2)
    return limit


def _limit_malloc_arenas(count: int) -> None:
    """Ask glibc for at most ``count`` malloc arenas (each reserves 64 MiB per thread)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        library = ctypes.CDLL(name)
        library.mallopt(_MALLOC_ARENA_MAX, count)
    except (OSError, AttributeError):  # not glibc
        pass


def memory_hint() -> str:
    """A sentence about the address-space limit, for an out-of-memory message.

    Returns
    -------
    str
        Empty without a limit.
    """
    limit = address_space_limit()
    if limit is None:
        return ""
    return (f" (the address-space limit, ulimit -v, is {_mebibytes(limit)}: raise it "
            "or lower the batch size)")
