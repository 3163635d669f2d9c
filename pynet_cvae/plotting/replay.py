"""Replay a board's log into a Visdom server: a finished, offline or crashed run.

A :class:`~pynet_cvae.plotting.board.Board` given a ``replay_log`` appends each
update to it as one JSON line ``[endpoint, message]`` (Visdom's own log format,
so ``Visdom.replay_log`` reads it too) before sending it. A run that crashed
may leave a last line cut short: :func:`read_replay_log` skips it with a
warning, while a bad line elsewhere is an error that names it.

A log may come from someone else, and its messages end up on a page in the
viewer's browser: :func:`replay_log` checks every message against the shapes a
board writes (:mod:`pynet_cvae.plotting.messages`: no markup, no URL to fetch,
safe environment names) before it sends anything, and refuses the whole log,
naming the first bad line, otherwise.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict, List, Optional, Tuple

from pynet_cvae.plotting import probe
from pynet_cvae.plotting.client import LOGGED_ENDPOINTS, BoardClient
from pynet_cvae.plotting.messages import check_env, check_message

logger = logging.getLogger("pynet_cvae")

Message = Tuple[str, Dict[str, Any]]


def _parse_line(line: str, number: int, path: str) -> Message:
    entry = json.loads(line)
    if (not isinstance(entry, list) or len(entry) != 2
            or entry[0] not in LOGGED_ENDPOINTS or not isinstance(entry[1], dict)):
        raise ValueError(f"{path}, line {number}: expected [endpoint, message] with "
                         f"endpoint in {sorted(LOGGED_ENDPOINTS)}; got {line[:80]!r}")
    return entry[0], entry[1]


def read_replay_log(path: str) -> List[Message]:
    """Read the messages of a replay log.

    Parameters
    ----------
    path : str
        The log file.

    Returns
    -------
    list of (str, dict)
        The ``(endpoint, message)`` pairs, in order.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When a line other than a cut-short last one is not a log entry.
    """
    return [(endpoint, message) for _, endpoint, message in _numbered_entries(path)]


def _numbered_entries(path: str) -> List[Tuple[int, str, Dict[str, Any]]]:
    """``(line number, endpoint, message)`` of each entry of a log."""
    with open(path, encoding="utf-8") as stream:
        lines = stream.read().split("\n")
    complete, tail = lines[:-1], lines[-1]
    messages = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            messages.append((number, *_parse_line(line, number, path)))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number} is not JSON ({error})") from None
    if tail.strip():
        try:
            messages.append((len(lines), *_parse_line(tail, len(lines), path)))
        except json.JSONDecodeError:
            warnings.warn(f"{path}: the last line ({len(tail)} characters) is cut "
                          "short, as a crashed run leaves it; it is skipped",
                          RuntimeWarning, stacklevel=2)
    return messages


def checked_messages(path: str, env: Optional[str] = None) -> List[Message]:
    """The messages of a log, sent to ``env`` when given, each checked.

    Parameters
    ----------
    path : str
        The log.
    env : str, optional
        The environment that replaces the logged one.

    Returns
    -------
    list of (str, dict)
        The messages to send.

    Raises
    ------
    ValueError
        Naming the line of the first message that a board would not write, and why.
    """
    checked = []
    for number, endpoint, message in _numbered_entries(path):
        if env is not None:
            message = dict(message, eid=env)
        try:
            check_message(endpoint, message)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: refused, nothing was replayed: "
                             f"{error}") from None
        checked.append((endpoint, message))
    return checked


def logged_windows(messages: List[Message]) -> Dict[str, List[Message]]:
    """Group the messages of a log by window.

    Parameters
    ----------
    messages : list of (str, dict)
        As :func:`read_replay_log` returns them.

    Returns
    -------
    dict
        ``{window: [(endpoint, message), ...]}``.
    """
    windows: Dict[str, List[Message]] = {}
    for endpoint, message in messages:
        windows.setdefault(str(message.get("win")), []).append((endpoint, message))
    return windows


def replay_log(path: str, port: int = 8097, host: str = "http://localhost",
               env: Optional[str] = None, timeout: float = 5.0,
               allow_remote: bool = False, login: bool = False) -> int:
    """Send the messages of a replay log to a running Visdom server.

    Windows are created again from their first message, so replaying into a
    server that already shows part of the run replaces those windows.

    Parameters
    ----------
    path : str
        The log file.
    port : int, default 8097
        The server port.
    host : str, default "http://localhost"
        The server URL.
    env : str, optional
        Send every window to this environment instead of the logged one.
    timeout : float, default 5.0
        Seconds each request may take.
    allow_remote : bool, default False
        Allow a ``host`` that is not this machine.
    login : bool, default False
        Log in with ``VISDOM_USERNAME`` and ``VISDOM_PASSWORD``.

    Returns
    -------
    int
        The number of messages sent.

    Raises
    ------
    ValueError
        For a remote host without ``allow_remote``, a bad ``env``, or a bad log
        (a line that is not a log entry, a message a board would not write); then
        nothing is sent.
    ConnectionError
        When no Visdom server answers, or it stops answering during the replay.
    """
    if not probe.is_local_host(host) and not allow_remote:
        raise ValueError(f"host {host!r} is not this machine: pass allow_remote=True "
                         "(--allow-remote) to replay there")
    if env is not None:
        check_env(env)
    messages = checked_messages(path, env)
    credentials = probe.credentials_from_environment() if login else None
    where = probe.server_url(host, port)
    if not probe.is_visdom_server(host, port, timeout=timeout, credentials=credentials):
        raise ConnectionError(f"no Visdom server answers at {where}: start one "
                              "first (pynet-cvae board serve)")
    client = BoardClient(probe.base_url(host), port, env or "main",
                         request_timeout=timeout, credentials=credentials)
    try:
        for endpoint, message in messages:
            client._send(message, endpoint=endpoint, from_log=True)
        client.flush(timeout + len(messages) / 10.0)
        failure = client.failure
    finally:
        client.close_client(0, warn=False)
    if failure is not None:
        raise ConnectionError(f"the Visdom server at {where} failed during the "
                              f"replay: {failure}")
    logger.info("Replayed %d messages of %s into %s", len(messages), path, where)
    return len(messages)
