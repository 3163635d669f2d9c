"""A Visdom board that follows a training: one line plot per value, and images.

:class:`Board` connects a ``visdom.Visdom`` client, ``board.viewer``, starting a
local server when none answers. When the server cannot be reached (a remote
host that does not answer, or a server that goes away during training) the
board warns once and goes on offline: plotting calls become no-ops, recorded
in ``offline_log`` when one is given, so training is never interrupted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import numbers
import os
import warnings
from typing import Any, Callable, Iterator, Mapping, Optional

import numpy as np
import requests
import visdom

from pynet_cvae.plotting import server as servers

logger = logging.getLogger("pynet_cvae")

_SKIPPED_KEYS = ("epoch", "fold")
_PRED_KEY = "val_pred"
_LOGGED_ENDPOINTS = ("events", "update")


class _QuietFilter(logging.Filter):
    """Drop Visdom's informative warnings (new session, no socket)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_visdom_logger() -> Iterator[None]:
    """Silence the ``visdom`` logger's warnings while a client is set up."""
    visdom_logger = logging.getLogger("visdom")
    quiet = _QuietFilter()
    visdom_logger.addFilter(quiet)
    try:
        yield
    finally:
        visdom_logger.removeFilter(quiet)


class _Viewer(visdom.Visdom):
    """A Visdom client that never raises or hangs on a lost connection.

    Each request waits at most ``request_timeout`` seconds. The first request
    that fails warns once and switches the client to Visdom's offline mode,
    where calls only append to ``offline_log`` (or to nothing).
    """

    def __init__(self, *args: Any, request_timeout: float = 5.0,
                 offline_log: Optional[str] = None, **kwargs: Any) -> None:
        self.request_timeout = request_timeout
        self.offline_log = offline_log
        with _quiet_visdom_logger(), warnings.catch_warnings():
            # Visdom 0.2.4 calls the deprecated ``Logger.warn``.
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(*args, **kwargs)

    def _handle_post(self, url: str, data: Any = None) -> Any:
        """Send one request; on a connection failure, go offline."""
        if self.offline:
            return False
        try:
            reply = self.session.post(url, data=data or {},
                                      timeout=(self.request_timeout, 60.0))
            return reply.text
        except requests.RequestException as error:
            self.go_offline(f"it stopped answering ({error})")
            self._record(url, data)
            return False

    def go_offline(self, reason: Optional[str] = None) -> None:
        """Stop sending to the server; warn once with ``reason`` when given.

        Parameters
        ----------
        reason : str, optional
            Why the server is given up; None goes offline silently.
        """
        if self.offline:
            return
        self.offline = True
        self.use_socket = False
        self.log_to_filename = self.offline_log or os.devnull
        if self._session is not None:
            self._session.close()
            self._session = None
        if reason is not None:
            where = f"{self.server}:{self.port}"
            kept = (f"; they are recorded in {self.offline_log}"
                    if self.offline_log else "")
            warnings.warn(f"Visdom server at {where}: {reason}; board updates "
                          f"are no longer sent{kept}", RuntimeWarning,
                          stacklevel=2)

    def _record(self, url: str, data: Any) -> None:
        """Append the message that failed to the offline log, if any."""
        endpoint = url.rsplit("/", 1)[-1]
        if not self.offline_log or endpoint not in _LOGGED_ENDPOINTS:
            return
        with contextlib.suppress(TypeError, ValueError):
            self._log(json.loads(data), endpoint)


def _as_scalar(value: Any) -> Optional[float]:
    """Return ``value`` as a float when it is a real number or holds one element."""
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)) and value.size == 1:
        if np.issubdtype(value.dtype, np.number) or value.dtype == bool:
            return float(value.reshape(()))
    return None


def _as_array(value: Any) -> np.ndarray:
    """Return a NumPy array from an array, a tensor (on any device) or a list."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _check_images(images: np.ndarray, source: str) -> None:
    """Raise a clear error unless ``images`` is N x 1 x H x W or N x 3 x H x W."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"{source} must give an N x 1 x H x W or N x 3 x H x W array of "
            f"images; got shape {tuple(images.shape)}")


class Board:
    """A Visdom board: line plots of the values of each epoch, and predictions.

    Parameters
    ----------
    port : int, default 8097
        The Visdom server port.
    host : str, default "http://localhost"
        The Visdom server URL. For a local host (localhost, 127.0.0.1, ::1)
        with no server answering, a server is started on 127.0.0.1 and
        stopped by :meth:`close` or at interpreter exit.
    env : str, default "main"
        The Visdom environment the windows go to.
    display_pred : bool, default False
        Show ``data["val_pred"]`` as images in :meth:`update_plots`.
    prepare_pred : callable, optional
        Turns the predictions into an ``N x 1 x H x W`` or ``N x 3 x H x W``
        array of images.
    env_path : str, optional
        Where a server started by the board keeps its environments (Visdom's
        default, ``~/.visdom``, when None).
    clear_env : bool, default True
        Close the windows already in ``env``, so a new run does not append
        to the plots of the previous one.
    timeout : float, default 5.0
        Seconds to wait for a server to answer a connection.
    server_timeout : float, default 30.0
        Seconds to wait for a started server to answer.
    offline_log : str, optional
        A file that records the board's messages when the server cannot be
        reached (replay them later with ``viewer.replay_log``).

    Attributes
    ----------
    viewer : visdom.Visdom
        The Visdom client; it never raises on a lost connection.
    server : VisdomServer or None
        The server this board uses and this process started, if any.

    Raises
    ------
    VisdomServerError
        When a local server must be started and the port is busy with another
        program, or the server does not start.
    """

    def __init__(self, port: int = 8097, host: str = "http://localhost",
                 env: str = "main", display_pred: bool = False,
                 prepare_pred: Optional[Callable[[Any], Any]] = None,
                 env_path: Optional[str] = None, clear_env: bool = True,
                 timeout: float = 5.0, server_timeout: float = 30.0,
                 offline_log: Optional[str] = None) -> None:
        self.port = port
        self.host = host
        self.env = env
        self.display_pred = display_pred
        self.prepare_pred = prepare_pred
        self.timeout = timeout
        self.offline_log = offline_log
        self.server: Optional[servers.VisdomServer] = None
        self._closed = False
        if servers.is_local_host(host):
            self.server = servers.acquire_server(
                port, host, env_path=env_path, timeout=server_timeout,
                probe_timeout=timeout)
            url = self.server.url if self.server is not None else host
            self.viewer = self._connect(servers.base_url(url))
        elif servers.is_visdom_server(host, port, timeout=timeout):
            self.viewer = self._connect(servers.base_url(host))
        else:
            self.viewer = self._offline_viewer()
            warnings.warn(
                f"no Visdom server answers at {servers.server_url(host, port)}"
                "; board updates will not be shown", RuntimeWarning,
                stacklevel=2)
        if clear_env:
            self.viewer.close(win=None, env=env)

    @property
    def online(self) -> bool:
        """bool: whether updates are sent to a server."""
        return not self.viewer.offline

    def _connect(self, url: str) -> _Viewer:
        """Return a client connected to the server at ``url``."""
        logger.debug("Connecting a Visdom client to %s:%d", url, self.port)
        return _Viewer(server=url, port=self.port, env=self.env,
                       raise_exceptions=False, use_incoming_socket=False,
                       request_timeout=self.timeout,
                       offline_log=self.offline_log)

    def _offline_viewer(self) -> _Viewer:
        """Return a client that sends nothing (and records to ``offline_log``)."""
        return _Viewer(server=self.host, port=self.port, env=self.env,
                       raise_exceptions=False, offline=True,
                       log_to_filename=self.offline_log or os.devnull,
                       request_timeout=self.timeout,
                       offline_log=self.offline_log)

    def update_plots(self, data: Mapping[str, Any], epoch: int) -> None:
        """Append each scalar of ``data`` to its line plot; show predictions.

        Each scalar (a number, or an array or tensor with one element) goes to
        the window named after its key, at x = ``epoch``. Other values are
        skipped, except ``data["val_pred"]`` that is shown as images when
        ``display_pred`` is set.

        Parameters
        ----------
        data : mapping
            The values of this epoch, by name.
        epoch : int
            The current epoch, the x coordinate of the new points.

        Raises
        ------
        ValueError
            When the predictions (after ``prepare_pred``) are not an
            ``N x 1 x H x W`` or ``N x 3 x H x W`` array.
        """
        for key, value in data.items():
            if key == _PRED_KEY:
                continue
            scalar = _as_scalar(value)
            if scalar is None:
                logger.debug("Board skips %r: not a scalar", key)
                continue
            self._append_point(key, epoch, scalar)
        if self.display_pred and data.get(_PRED_KEY) is not None:
            self.show_predictions(data[_PRED_KEY], epoch)

    def _append_point(self, key: str, epoch: int, value: float) -> None:
        """Append ``(epoch, value)`` to the line plot ``key``."""
        self.viewer.line(
            X=np.array([epoch], dtype=float), Y=np.array([value]), win=key,
            env=self.env, update="append",
            opts={"title": key, "xlabel": "epoch", "ylabel": key})

    def show_predictions(self, predictions: Any, epoch: Optional[int] = None
                         ) -> None:
        """Show predictions as a grid of images in the window ``val_pred``.

        Parameters
        ----------
        predictions : array-like
            The predictions, turned into images by ``prepare_pred`` when set.
        epoch : int, optional
            The current epoch, shown in the caption.

        Raises
        ------
        ValueError
            When the images are not an ``N x 1 x H x W`` or ``N x 3 x H x W``
            array.
        """
        if self.prepare_pred is not None:
            images = _as_array(self.prepare_pred(predictions))
            _check_images(images, "prepare_pred")
        else:
            images = _as_array(predictions)
            _check_images(images, "val_pred (without prepare_pred)")
        caption = _PRED_KEY if epoch is None else f"{_PRED_KEY}, epoch {epoch}"
        self.viewer.images(images, win=_PRED_KEY, env=self.env,
                           opts={"title": _PRED_KEY, "caption": caption})

    def close(self) -> None:
        """Stop sending, and stop the server if the board was its last user.

        A server that was running before the board was created keeps running.
        """
        if self._closed:
            return
        self._closed = True
        self.viewer.go_offline(None)
        if self.server is not None:
            servers.release_server(self.server)

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "online" if self.online else "offline"
        return (f"Board(host={self.host!r}, port={self.port}, "
                f"env={self.env!r}, {state})")


def _learning_rate(scheduler: Any) -> Optional[float]:
    """Return the current learning rate of a scheduler's optimizer."""
    optimizer = getattr(scheduler, "optimizer", None)
    if optimizer is None or not optimizer.param_groups:
        logger.debug("Board skips the scheduler %r: no optimizer", scheduler)
        return None
    return float(optimizer.param_groups[0]["lr"])


def update_board(signal: Any) -> None:
    """Send the values of an ``after_epoch`` signal to ``signal.object.board``.

    Every value named in ``signal.keys`` is sent to
    :meth:`Board.update_plots` at ``signal.epoch``, except ``epoch`` and
    ``fold``; a ``scheduler`` becomes its current learning rate, ``lr``.

    Parameters
    ----------
    signal : signal object
        The emitted signal, with attributes ``object`` (the emitter, that
        has a ``board``), ``signal``, ``keys``, ``epoch`` and one per key.

    Raises
    ------
    AttributeError
        When the emitter has no ``board`` attribute.
    """
    board = getattr(signal.object, "board", None)
    if board is None:
        raise AttributeError(
            f"update_board needs a board on {type(signal.object).__name__}: "
            "set one first, e.g. interface.board = Board(...)")
    data = {}
    for key in signal.keys:
        if key in _SKIPPED_KEYS:
            continue
        value = getattr(signal, key)
        if key == "scheduler":
            if value is not None:
                data["lr"] = _learning_rate(value)
            continue
        data[key] = value
    board.update_plots(data, signal.epoch)
