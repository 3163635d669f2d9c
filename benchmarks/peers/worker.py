"""The child process that runs one contender, epoch by epoch, when the parent says so.

Each contender lives in its own process (started with ``spawn``), so that its peak
resident memory (``ru_maxrss``) is its own and no framework's imports or global
settings leak into another's. The contender runs its whole training (all epochs in
one call, as a user would) and calls :meth:`Pacer.epoch_start` from its
framework's epoch-start hook; there the process reports the previous epoch's time
and blocks until the parent lets it start the next one. The parent thereby
interleaves the contenders epoch by epoch, and setup costs (imports, data loading,
the framework's fit preparation) stay out of the timings.

Messages to the parent: ``("ready", info)``, ``("epoch", seconds)`` once per
epoch, then ``("done", memory)``; ``("error", traceback)`` on failure.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import traceback
from typing import Any, Dict, Optional


class Pacer:
    """Times a contender's epochs and makes it wait for the parent between them.

    Parameters
    ----------
    connection : multiprocessing.connection.Connection
        The pipe to the parent.
    synchronize : callable, optional
        Called before the clock is read at an epoch's end (``torch.cuda.synchronize``
        on a GPU, so that queued kernels count in their epoch).
    """

    def __init__(self, connection: Any, synchronize: Optional[Any] = None) -> None:
        self.connection = connection
        self.synchronize = synchronize
        self.started: Optional[float] = None
        self.epochs = 0

    def epoch_start(self, *_: Any, **__: Any) -> None:
        """Close the running epoch, if any, then wait for the parent's go."""
        self._close_epoch()
        message = self.connection.recv()
        if message != "go":
            raise RuntimeError(f"unexpected message {message!r} from the parent: "
                               "expected 'go'")
        self.started = time.perf_counter()

    def finish(self) -> None:
        """Close the last epoch once the training has returned."""
        self._close_epoch()

    def _close_epoch(self) -> None:
        if self.started is None:
            return
        if self.synchronize is not None:
            self.synchronize()
        self.connection.send(("epoch", time.perf_counter() - self.started))
        self.started = None
        self.epochs += 1


def _proc_status_mib(field: str) -> Optional[float]:
    """A ``kB`` field of ``/proc/self/status`` in MiB; None where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2 ** 10
    except OSError:
        return None
    return None


def resident_mib() -> float:
    """The current resident set size (``VmRSS``), in MiB."""
    current = _proc_status_mib("VmRSS")
    return current if current is not None else peak_resident_mib()


def peak_resident_mib() -> float:
    """The peak resident set size of this process's own address space, in MiB.

    Linux's ``VmHWM`` starts afresh at ``exec``; ``ru_maxrss`` does not (it keeps
    the parent's size at ``fork``), so it is only the fallback where there is no
    ``/proc`` (macOS reports it in bytes, Linux in KiB).
    """
    peak = _proc_status_mib("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10


def _redirect_output(log_path: str) -> None:
    """Send the child's stdout and stderr (logos, progress bars, warnings) to a log."""
    sys.stdout.flush()
    sys.stderr.flush()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)


def _configure_torch(options: Dict[str, Any]):
    import torch

    torch.set_num_threads(options["threads"])
    torch.manual_seed(options["seed"])
    return torch


def worker_main(name: str, options: Dict[str, Any], connection: Any) -> None:
    """Entry point of a child: run contender ``name`` (or the floor measurement).

    Parameters
    ----------
    name : str
        A key of :data:`contenders.CONTENDERS`, or ``"floor"``.
    options : dict
        ``threads``, ``seed``, ``device``, ``epochs``, ``log_path``, ``files``
        (a :class:`data.DataFiles`), ``metrics`` and contender-specific entries.
    connection : multiprocessing.connection.Connection
        The pipe to the parent.
    """
    _redirect_output(options["log_path"])
    try:
        torch = _configure_torch(options)
        if name == "floor":
            from floor import measure_floor

            connection.send(("floor", measure_floor(options)))
            return
        from contenders import CONTENDERS

        session = CONTENDERS[name](options)
        cuda = options["device"].startswith("cuda")
        pacer = Pacer(connection, torch.cuda.synchronize if cuda else None)
        connection.send(("ready", {"samples_per_epoch": session.samples_per_epoch,
                                   "ready_rss_mib": resident_mib()}))
        session.run(options["epochs"], pacer)
        pacer.finish()
        if pacer.epochs != options["epochs"]:
            raise RuntimeError(f"{name} ran {pacer.epochs} epochs, expected "
                               f"{options['epochs']}: its epoch hook was not called")
        connection.send(("done", {
            "peak_rss_mib": peak_resident_mib(),
            "peak_cuda_mib": (torch.cuda.max_memory_allocated() / 2 ** 20) if cuda else None,
            "threads": torch.get_num_threads()}))
    except BaseException:  # reported to the parent, which names the contender
        connection.send(("error", traceback.format_exc()))
        raise SystemExit(1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
