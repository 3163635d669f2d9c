"""A Visdom client that never blocks nor breaks a training run.

:class:`BoardClient` is a ``visdom.Visdom`` whose drawing messages (the
``events``, ``update`` and ``close`` endpoints) are posted by a background
thread: a call returns as soon as the message is queued, so a slow or frozen
server costs the training at most ``request_timeout`` seconds once. Every
drawing message is also appended to a *replay log* (one JSON line
``[endpoint, message]`` per message, Visdom's own log format) before it is
queued, so nothing is lost when the server goes away; replay the log later with
:func:`pynet_cvae.plotting.replay.replay_log` or ``Visdom.replay_log``.

The first failure (connection refused, timeout) switches the client to
Visdom's offline mode: later calls only write the replay log, and one
``RuntimeWarning`` is issued, from the caller's thread, at the next call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import warnings
from typing import Any, Iterator, Optional, Tuple

import requests
import visdom

from pynet_cvae.jsonio import dumps

logger = logging.getLogger("pynet_cvae")

QUEUED_ENDPOINTS = frozenset({"events", "update", "close"})
"""Endpoints posted in the background: they draw, and their answer is not needed."""

LOGGED_ENDPOINTS = frozenset({"events", "update"})
"""Endpoints recorded in the replay log (as ``Visdom.replay_log`` expects)."""

_STOP = object()


class VisdomLoginError(RuntimeError):
    """The Visdom server refused the login."""


class _QuietFilter(logging.Filter):
    """Drop Visdom's informative warnings (new session, no socket)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_visdom() -> Iterator[None]:
    """Silence the ``visdom`` logger's warnings and its deprecated ``Logger.warn``."""
    visdom_logger = logging.getLogger("visdom")
    quiet = _QuietFilter()
    visdom_logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        visdom_logger.removeFilter(quiet)


class BoardClient(visdom.Visdom):
    """A Visdom client that sends in the background and records a replay log.

    Parameters
    ----------
    server : str
        The server URL without port, e.g. ``"http://127.0.0.1"``.
    port : int
        The server port.
    env : str
        The default environment.
    request_timeout : float, default 5.0
        Seconds a request may take (to connect, and to get its answer).
    replay_log : str, optional
        The file that every drawing message is appended to.
    credentials : tuple of str, optional
        ``(username, password)`` for a server started with login.
    offline : bool, default False
        Send nothing; only write the replay log.
    queue_size : int, default 1024
        How many messages may wait to be sent.

    Raises
    ------
    VisdomLoginError
        When the server refuses the credentials.
    """

    def __init__(self, server: str, port: int, env: str, request_timeout: float = 5.0,
                 replay_log: Optional[str] = None,
                 credentials: Optional[Tuple[str, str]] = None, offline: bool = False,
                 queue_size: int = 1024) -> None:
        self.request_timeout = request_timeout
        self.replay_log = replay_log
        self.failure: Optional[str] = None
        self._warned = False
        self._log_descriptor: Optional[int] = None
        self._log_failed = False
        self._log_lock = threading.Lock()
        self._post_lock = threading.Lock()
        self._local = threading.local()
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)
        self._worker: Optional[threading.Thread] = None
        username, password = credentials if credentials else (None, None)
        with _quiet_visdom():
            super().__init__(server=server, port=port, env=env, raise_exceptions=False,
                             use_incoming_socket=False, offline=offline,
                             log_to_filename=replay_log or "", username=username,
                             password=password)
        if not self.offline:
            self._worker = threading.Thread(target=self._send_queued, daemon=True,
                                            name=f"pynet-cvae-board-{port}")
            self._worker.start()

    @property
    def session(self) -> requests.Session:
        """requests.Session: the HTTP session, logged in when credentials are set."""
        if self._session is None:
            session = requests.Session()
            if self.proxies:
                session.proxies.update(self.proxies)
            if self.username:
                self._login(session)
            self._session = session
        return self._session

    def _login(self, session: requests.Session) -> None:
        url = f"{self.server}:{self.port}{self.base_url}"
        reply = session.post(url, json={"username": self.username,
                                        "password": self.password},
                             timeout=(self.request_timeout, self.request_timeout))
        if reply.status_code != 200:
            raise VisdomLoginError(
                f"the Visdom server at {url} refused the login of user "
                f"{self.username!r} (HTTP {reply.status_code}): check VISDOM_USERNAME "
                "and VISDOM_PASSWORD")

    # Messages

    def _send(self, msg: Any, endpoint: str = "events", quiet: bool = False,
              from_log: bool = False, create: bool = True) -> Any:
        self.warn_if_failed()
        self._local.message = msg
        return super()._send(msg, endpoint=endpoint, quiet=quiet, from_log=from_log,
                             create=create)

    def _log(self, msg: Any, endpoint: str) -> None:
        """Append ``[endpoint, msg]`` to the replay log (drawing endpoints only).

        A line is written whole or not at all. When the log cannot be written (a full
        disk, a read-only folder), recording stops with one warning and the updates
        are still sent; a log left empty is removed.
        """
        if not self.replay_log or endpoint not in LOGGED_ENDPOINTS or self._log_failed:
            return
        line = (dumps([endpoint, msg], non_finite="null") + "\n").encode("utf-8")
        with self._log_lock:
            try:
                if self._log_descriptor is None:
                    os.makedirs(os.path.dirname(os.path.abspath(self.replay_log)),
                                exist_ok=True)
                    self._log_descriptor = os.open(
                        self.replay_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                _append_whole(self._log_descriptor, line)
            except OSError as error:
                self._stop_recording(error)

    def _stop_recording(self, error: OSError) -> None:
        """Close the replay log after a failed write, and say so once."""
        self._log_failed = True
        self._close_log()
        with contextlib.suppress(OSError):
            if os.path.getsize(self.replay_log) == 0:
                os.remove(self.replay_log)
        warnings.warn(f"cannot write the board's replay log {self.replay_log}: "
                      f"{error.strerror or error}; board updates are no longer recorded",
                      RuntimeWarning, stacklevel=5)

    def _close_log(self) -> None:
        if self._log_descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._log_descriptor)
            self._log_descriptor = None

    def _handle_post(self, url: str, data: Any = None) -> Any:
        """Queue a drawing message; post any other request now (bounded)."""
        if self.offline:
            return False
        endpoint = url[len(f"{self.server}:{self.port}{self.base_url}/"):]
        if endpoint in QUEUED_ENDPOINTS:
            message = getattr(self._local, "message", None) or {}
            self._enqueue((url, data))
            return message.get("win", True) if isinstance(message, dict) else True
        self.flush()
        if self.offline:
            return False
        try:
            return self._post(url, data).text
        except requests.RequestException as error:
            self._fail(f"it stopped answering ({error})")
            self.warn_if_failed()
            return False

    def _post(self, url: str, data: Any) -> requests.Response:
        with self._post_lock:
            return self.session.post(url, data=data or {}, timeout=(
                self.request_timeout, self.request_timeout))

    def _enqueue(self, item: Tuple[str, Any]) -> None:
        try:
            self._queue.put(item, timeout=self.request_timeout)
        except queue.Full:
            self._fail(f"it did not take {self._queue.maxsize} waiting updates within "
                       f"{self.request_timeout:g} s")

    def _send_queued(self) -> None:
        """The background sender: post queued messages until told to stop."""
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self.failure is None:
                    url, data = item
                    reply = self._post(url, data)
                    if reply.status_code != 200:
                        logger.debug("Visdom answered %d to %s", reply.status_code, url)
            except (requests.RequestException, VisdomLoginError) as error:
                self._fail(f"it stopped answering ({error})")
            finally:
                self._queue.task_done()

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.offline = True

    # State

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until the queued messages are sent (at most ``timeout`` seconds).

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; ``request_timeout`` plus one second per 100
            waiting messages when None.

        Returns
        -------
        bool
            True when every queued message was handled in time.
        """
        if self._worker is None:
            return True
        if timeout is None:
            timeout = self.request_timeout + self._queue.qsize() / 100.0
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def warn_if_failed(self) -> None:
        """Issue the one warning about a lost server, if it was lost and not told yet."""
        if self.failure is None or self._warned:
            return
        self._warned = True
        kept = (f"; they are recorded in {self.replay_log}" if self.replay_log else "")
        warnings.warn(f"Visdom server at {self.server}:{self.port}: {self.failure}; "
                      f"board updates are no longer sent{kept}", RuntimeWarning,
                      stacklevel=4)

    def go_offline(self, reason: Optional[str] = None) -> None:
        """Stop sending to the server; ``reason`` (when given) is warned once.

        Parameters
        ----------
        reason : str, optional
            Why the server is given up; None goes offline silently.
        """
        if reason is not None:
            self._fail(reason)
            self.warn_if_failed()
        self.offline = True

    def close_client(self, timeout: Optional[float] = None, warn: bool = True) -> None:
        """Send what is queued (bounded by ``timeout``), then stop sending.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for the queued messages (see :meth:`flush`).
        warn : bool, default True
            Issue the warning about a lost server if it was not issued yet.
        """
        self.flush(timeout)
        if warn:
            self.warn_if_failed()
        self.offline = True
        if self._worker is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
            self._worker.join(timeout=1.0)
            self._worker = None
        with self._log_lock:
            self._close_log()
        if self._session is not None:
            self._session.close()
            self._session = None


def _append_whole(descriptor: int, data: bytes) -> None:
    """Append ``data`` to a file opened with ``O_APPEND``; undo a partial write."""
    start = os.lseek(descriptor, 0, os.SEEK_END)
    written = 0
    try:
        while written < len(data):
            written += os.write(descriptor, data[written:])
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, start)
        raise
