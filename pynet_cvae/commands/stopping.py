"""Stopping a command cleanly: Ctrl-C (SIGINT) and SIGTERM (what schedulers send).

While a command runs, both signals raise :class:`Interrupted`, a
``KeyboardInterrupt`` that names the signal, in the main thread: the work in
progress stops there (atomic writes remove their temporary files), ``finally``
blocks and ``atexit`` handlers run (a Visdom server the run started stops with
it), and the CLI prints one line. A second signal during that clean-up ends the
process at once (the default action is restored after the first).

A training run that is interrupted raises :class:`RunInterrupted`, which also
says which checkpoint holds the completed epochs, so the CLI can tell how to
resume.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, Iterator, Optional

from ..fileio import hold_back

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a command cleanly."""


class Interrupted(KeyboardInterrupt):
    """A command was stopped by a signal.

    Parameters
    ----------
    signal_name : str
        ``"SIGINT"`` (Ctrl-C) or ``"SIGTERM"``.
    """

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name

    @property
    def exit_status(self) -> int:
        """int: the shell's status of a process killed by the signal (128 + number)."""
        return 128 + int(getattr(signal, self.signal_name, signal.SIGINT))


class RunInterrupted(Interrupted):
    """A training run was stopped by a signal after saving its completed epochs.

    Parameters
    ----------
    signal_name : str
        The signal.
    checkpoint : str or None
        The last checkpoint written (None: no epoch was completed).
    """

    def __init__(self, signal_name: str, checkpoint: Optional[str]) -> None:
        super().__init__(signal_name)
        self.checkpoint = checkpoint


def interrupted_run(interruption: BaseException, checkpointdir: str,
                    last_checkpoint: Optional[str]) -> RunInterrupted:
    """The :class:`RunInterrupted` of a training stopped by ``interruption``.

    It names the checkpoint that ``--resume`` continues from: the last good one of
    ``checkpointdir``, which is newer than ``last_checkpoint`` when the signal came
    while the run was saving an epoch (the checkpoint was written, not yet noted).

    Parameters
    ----------
    interruption : KeyboardInterrupt
        What stopped it.
    checkpointdir : str
        The run's checkpoint folder.
    last_checkpoint : str or None
        The run's last checkpoint as the run knows it (reported when the folder
        cannot be read).

    Returns
    -------
    RunInterrupted
        To raise in its place.
    """
    from ..checkpoint import CheckpointError, last_good_checkpoint

    try:
        found = last_good_checkpoint(checkpointdir) if os.path.isdir(checkpointdir) else None
    except (CheckpointError, OSError):
        found = None
    name = getattr(interruption, "signal_name", "SIGINT")
    return RunInterrupted(name, found[0] if found is not None else last_checkpoint)


def _raise_interrupted(signum: int, frame: Any) -> None:
    for number in STOP_SIGNALS:  # a second signal ends the clean-up at once
        if signal.getsignal(number) is _raise_interrupted:
            signal.signal(number, signal.SIG_DFL)
    interruption = Interrupted(signal.Signals(signum).name)
    if not hold_back(interruption):  # raised where an atomic write can clean up
        raise interruption


@contextlib.contextmanager
def stopping_cleanly() -> Iterator[None]:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` within the block.

    Outside the main thread (where Python cannot set signal handlers) the block
    runs unchanged, and a signal the process was started ignoring (``nohup``, a
    shell's background job) stays ignored. The previous handlers are restored
    afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_interrupted) for number in STOP_SIGNALS
                if signal.getsignal(number) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
