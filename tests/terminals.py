"""Run a command in a real pseudo-terminal, as a user at a terminal runs it."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from typing import Dict, Optional, Sequence, Tuple


def run_in_terminal(command: Sequence[str], cwd: Optional[str] = None,
                    env: Optional[Dict[str, str]] = None, timeout: float = 600,
                    columns: int = 120) -> Tuple[int, str]:
    """Run ``command`` with its standard input, output and error on a new terminal.

    Parameters
    ----------
    command : sequence of str
        The program and its arguments.
    cwd, env : optional
        As for :class:`subprocess.Popen`.
    timeout : float
        Seconds before the command is killed (an ``AssertionError`` then).
    columns : int
        The terminal's width (progress bars read it).

    Returns
    -------
    returncode, output
        The exit status and everything the command wrote to the terminal.
    """
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environment = dict(os.environ if env is None else env)
    environment.update({"COLUMNS": str(columns), "TERM": "xterm"})
    process = subprocess.Popen(list(command), cwd=cwd, env=environment, stdin=secondary,
                               stdout=secondary, stderr=secondary, close_fds=True)
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"{command} did not end within {timeout} s; it "
                                     f"wrote: {b''.join(chunks)[-2000:]!r}")
            ready, _, _ = select.select([primary], [], [], 1.0)
            if not ready:
                if process.poll() is not None and not _has_data(primary):
                    break
                continue
            try:
                data = os.read(primary, 65536)
            except OSError as error:  # EIO: every writer closed the terminal
                if error.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def _has_data(descriptor: int) -> bool:
    ready, _, _ = select.select([descriptor], [], [], 0)
    return bool(ready)
