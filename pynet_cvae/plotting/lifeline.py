"""The lifeline of a started Visdom server: it exits when the process that owns it dies.

A server started by a run must not outlive the run, however the run ends: a
normal exit or Ctrl-C stop it explicitly, but SIGKILL (what a scheduler sends
after its grace period, or the out-of-memory killer) runs no code at all. So the
owner keeps the write end of a pipe whose read end the server inherits; a thread
of the server blocks reading it, and when the owner dies the kernel closes the
write end, the read returns end-of-file, and the server exits. Nothing is ever
written on the pipe, so the lifeline costs nothing while the owner lives, and it
cannot be fooled by a recycled process id.
"""

from __future__ import annotations

import os
from typing import Dict, Tuple

LIFELINE_VARIABLE = "PYNET_CVAE_LIFELINE_FD"
"""The environment variable that gives the server the descriptor of its lifeline."""

SERVER_PROGRAM = """\
# pynet-cvae: a Visdom server that exits with its owner
import os, threading

def _exit_with_owner(descriptor):
    while os.read(descriptor, 1):
        pass
    os._exit(0)

_descriptor = os.environ.pop("PYNET_CVAE_LIFELINE_FD", None)
if _descriptor is not None:
    threading.Thread(target=_exit_with_owner, args=(int(_descriptor),),
                     daemon=True).start()
from visdom.server.run_server import main
main()
"""
"""The program (``python -c``) of a started server: Visdom's ``run_server.main``,
which serves the installed assets without downloading them, plus the lifeline."""


def open_lifeline() -> Tuple[int, int, Dict[str, str]]:
    """Make a lifeline for a server about to be started.

    Returns
    -------
    read_end, write_end : int
        The descriptors: pass ``read_end`` to the server (``pass_fds``) and close it
        here once the server runs; keep ``write_end`` open as long as the server
        should live (see :func:`cut`).
    environment : dict
        The variable that tells the server its lifeline.
    """
    read_end, write_end = os.pipe()  # neither is inherited by other children
    return read_end, write_end, {LIFELINE_VARIABLE: str(read_end)}


def cut(write_end: int) -> None:
    """Close the owner's end of a lifeline: the server exits at once.

    Parameters
    ----------
    write_end : int
        The descriptor from :func:`open_lifeline`.
    """
    try:
        os.close(write_end)
    except OSError:  # already closed
        pass
