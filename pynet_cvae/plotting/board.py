"""A Visdom board that follows a training: curves, predictions, configuration.

:class:`Board` connects a :class:`~pynet_cvae.plotting.client.BoardClient`
(a ``visdom.Visdom``), ``board.viewer``, starting a local server when none
answers. It draws one line plot per metric, with the training value ``m`` and
the validation value ``val_m`` as two traces of the same plot (one pair per
fold), x being the epoch; the learning rate; the validation predictions as
images; and the run's configuration as a table. :func:`update_board` is the
``after_epoch`` observer that feeds it.

Updates are sent in the background and written to a replay log first, so a
slow, frozen or lost server never stops nor slows down a training run by more
than ``timeout`` seconds, and nothing is lost (see
:mod:`pynet_cvae.plotting.replay`).

Names that come from user data (metric names, configuration keys and values)
are shown as text, never as markup: they are HTML-escaped where Visdom or
Plotly would read markup.
"""

from __future__ import annotations

import html
import logging
import math
import warnings
from typing import Any, Callable, Dict, Mapping, Optional

from pynet_cvae.observable import rank_zero_only
from pynet_cvae.plotting import probe
from pynet_cvae.plotting import server as servers
from pynet_cvae.plotting.client import BoardClient, VisdomLoginError
from pynet_cvae.plotting.messages import check_env
from pynet_cvae.plotting.values import (LEARNING_RATE, as_array, as_scalar, check_images,
                                        epoch_values)

logger = logging.getLogger("pynet_cvae")

_PRED_KEY = "val_pred"
_VALIDATION_PREFIX = "val_"
_CONFIG_WINDOW = "configuration"
_SPECIAL_TITLES = {LEARNING_RATE: "learning rate", _PRED_KEY: "validation predictions",
                   _CONFIG_WINDOW: "configuration"}
_RESERVED_WINDOWS = frozenset({_PRED_KEY, _CONFIG_WINDOW, "sampling"})


def _as_text(name: str) -> str:
    """Escape ``name`` for Plotly, which reads a subset of HTML in its labels."""
    return html.escape(str(name), quote=False)


def window_of(key: str) -> str:
    """Return the window of a value: ``val_<m>`` goes with ``<m>``.

    Parameters
    ----------
    key : str
        The value's name, e.g. ``"val_loss"``.

    Returns
    -------
    str
        The window (and metric) name, e.g. ``"loss"``; ``"metric <m>"`` for a
        metric named like one of the board's other windows.
    """
    if key.startswith(_VALIDATION_PREFIX) and len(key) > len(_VALIDATION_PREFIX):
        key = key[len(_VALIDATION_PREFIX):]
    return f"metric {key}" if key in _RESERVED_WINDOWS else key


class Board:
    """A Visdom board: training and validation curves, predictions, configuration.

    Parameters
    ----------
    port : int, default 8097
        The Visdom server port.
    host : str, default "http://localhost"
        The Visdom server URL. For this machine (localhost, 127.0.0.1, ::1)
        with no server answering, a server is started on 127.0.0.1 and
        stopped by :meth:`close` or at interpreter exit (or when this process
        is killed). A server that accepts connections but does not answer
        within ``timeout`` (frozen) gives one ``RuntimeWarning``, and the board
        only records its updates, as with a remote server that does not answer.
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
        Seconds a request to the server may take; no board call blocks longer.
    server_timeout : float, default 30.0
        Seconds to wait for a started server to answer.
    replay_log : str, optional
        A file that every update is appended to, sent or not (replay it with
        ``pynet-cvae board replay``).
    allow_remote : bool, default False
        Allow a ``host`` that is not this machine.
    login : bool, default False
        Log in with the credentials of the environment variables
        ``VISDOM_USERNAME`` and ``VISDOM_PASSWORD`` (for a server started with
        login); a server that the board starts then has the login too.

    Attributes
    ----------
    viewer : BoardClient
        The Visdom client (a ``visdom.Visdom``); it never raises on a lost
        connection.
    server : VisdomServer or None
        The server this board uses and this process started, if any.

    Raises
    ------
    ValueError
        For a remote ``host`` without ``allow_remote``, a bad ``env``, or
        ``login`` without its environment variables.
    VisdomServerError
        When a local server must be started and the port is busy with another
        program, or the server does not start.
    VisdomLoginError
        When the server refuses the login.
    """

    def __init__(self, port: int = 8097, host: str = "http://localhost",
                 env: str = "main", display_pred: bool = False,
                 prepare_pred: Optional[Callable[[Any], Any]] = None,
                 env_path: Optional[str] = None, clear_env: bool = True,
                 timeout: float = 5.0, server_timeout: float = 30.0,
                 replay_log: Optional[str] = None, allow_remote: bool = False,
                 login: bool = False) -> None:
        check_env(env)
        self.port = port
        self.host = host
        self.env = env
        self.display_pred = display_pred
        self.prepare_pred = prepare_pred
        self.timeout = timeout
        self.replay_log = replay_log
        self.server: Optional[servers.VisdomServer] = None
        self._titles: Dict[str, str] = {}
        self._traces: Dict[str, set] = {}
        self._closed = False
        credentials = probe.credentials_from_environment() if login else None
        if probe.is_local_host(host):
            try:
                self.server = servers.acquire_server(
                    port, host, env_path=env_path, timeout=server_timeout,
                    probe_timeout=timeout, login=login)
            except servers.VisdomServerUnresponsive as error:
                self._go_offline(host, f"{error}; board updates will not be shown")
            else:
                url = self.server.url if self.server is not None else host
                self.viewer = self._connect(probe.base_url(url), credentials)
        elif not allow_remote:
            raise ValueError(
                f"host {host!r} is not this machine: pass allow_remote=True (or "
                "--allow-remote) to send the board there, with login=True for a "
                "server started with login")
        elif probe.is_visdom_server(host, port, timeout=timeout, credentials=credentials):
            self.viewer = self._connect(probe.base_url(host), credentials)
        elif probe.requires_login(host, port, timeout=timeout):
            raise VisdomLoginError(
                f"the Visdom server at {probe.server_url(host, port)} "
                + ("refused the login: check VISDOM_USERNAME and VISDOM_PASSWORD"
                   if login else "needs a login: pass login=True (--login) with "
                   "VISDOM_USERNAME and VISDOM_PASSWORD set"))
        else:
            self._go_offline(host, f"no Visdom server answers at "
                             f"{probe.server_url(host, port)}; board updates will not be "
                             "shown")
        if clear_env:
            self.viewer.close(win=None, env=env)

    @property
    def online(self) -> bool:
        """bool: whether updates are sent to a server."""
        return not self.viewer.offline

    def _go_offline(self, host: str, reason: str) -> None:
        """Only record the updates (no server to show them), and warn once why."""
        self.viewer = self._connect(probe.base_url(host), None, offline=True)
        kept = (f"; they are recorded in {self.replay_log} (pynet-cvae board replay "
                "shows them later)" if self.replay_log else "")
        warnings.warn(f"{reason}{kept}", RuntimeWarning, stacklevel=3)

    def _connect(self, url: str, credentials: Optional[probe.Credentials],
                 offline: bool = False) -> BoardClient:
        """Return a client of the server at ``url``."""
        logger.debug("Connecting a Visdom client to %s:%d", url, self.port)
        return BoardClient(url, self.port, self.env, request_timeout=self.timeout,
                           replay_log=self.replay_log, credentials=credentials,
                           offline=offline)

    def _title(self, window: str) -> str:
        """Return the title of ``window``, distinct from the board's other titles."""
        if window not in self._titles:
            title = _SPECIAL_TITLES.get(window, window)
            if title in self._titles.values():
                title = f"{title} [{window}]"
            self._titles[window] = title
        return self._titles[window]

    def update_plots(self, data: Mapping[str, Any], epoch: int,
                     fold: Optional[int] = None) -> None:
        """Add each scalar of ``data`` to its line plot; show predictions.

        A scalar (a number, or an array or tensor with one element) named
        ``m`` or ``val_m`` becomes the point ``(epoch, value)`` of the trace
        ``m`` or ``val_m`` (with ``, fold <f>`` when ``fold`` is given) in the
        window ``m``. Other values are skipped, except ``data["val_pred"]``,
        shown as images when ``display_pred`` is set.

        Parameters
        ----------
        data : mapping
            The values of this epoch, by name.
        epoch : int
            The current epoch, the x coordinate of the new points.
        fold : int, optional
            The current fold: each fold has its own traces.

        Raises
        ------
        ValueError
            When the predictions (after ``prepare_pred``) are not an
            ``N x 1 x H x W`` or ``N x 3 x H x W`` array.
        """
        for key, value in data.items():
            if key == _PRED_KEY:
                continue
            scalar = as_scalar(value)
            if scalar is None:
                logger.debug("Board skips %r: not a scalar", key)
                continue
            self.add_point(str(key), epoch, scalar, fold)
        if self.display_pred and data.get(_PRED_KEY) is not None:
            self.show_predictions(data[_PRED_KEY], epoch)

    def add_point(self, key: str, epoch: float, value: float,
                  fold: Optional[int] = None) -> None:
        """Add ``(epoch, value)`` to the trace ``key`` of the window of ``key``.

        Parameters
        ----------
        key : str
            The value's name; ``val_m`` goes to the window ``m``.
        epoch : float
            The x coordinate.
        value : float
            The y coordinate (a non-finite value leaves a gap).
        fold : int, optional
            The fold, appended to the trace's name.
        """
        window = window_of(key)
        trace = key if fold is None else f"{key}, fold {fold}"
        point = {"x": [float(epoch)], "y": [value if math.isfinite(value) else None],
                 "name": _as_text(trace), "type": "scatter", "mode": "lines+markers",
                 "marker": {"size": 6}}
        if window not in self._traces:
            self._traces[window] = {trace}
            self._create_plot(window, point)
            return
        self._traces[window].add(trace)
        self.viewer._send({"data": [point], "win": window, "eid": self.env,
                           "name": point["name"], "append": True, "opts": {},
                           "layout": {}}, endpoint="update")

    def _create_plot(self, window: str, point: Dict[str, Any]) -> None:
        title = self._title(window)
        layout = {"title": _as_text(title), "showlegend": True,
                  "xaxis": {"title": "epoch"}, "yaxis": {"title": _as_text(title)},
                  "margin": {"l": 60, "r": 60, "t": 60, "b": 60}}
        if window == LEARNING_RATE:
            layout["yaxis"]["type"] = "log"
        self.viewer._send({"data": [point], "win": window, "eid": self.env,
                           "layout": layout, "opts": {"title": title}},
                          endpoint="events")

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
            images = as_array(self.prepare_pred(predictions))
            check_images(images, "prepare_pred")
        else:
            images = as_array(predictions)
            check_images(images, "val_pred (without prepare_pred)")
        caption = "validation" if epoch is None else f"validation, epoch {epoch}"
        self.viewer.images(images, win=_PRED_KEY, env=self.env,
                           opts={"title": self._title(_PRED_KEY), "caption": caption})

    def show_config(self, config: Mapping[str, Any]) -> None:
        """Show the run's configuration as a two-column table.

        Parameters
        ----------
        config : mapping
            The settings by name; keys and values are shown as text.
        """
        rows = "".join(
            f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
            for key, value in config.items())
        table = f'<table class="table table-condensed">{rows}</table>'
        self.viewer.text(table, win=_CONFIG_WINDOW, env=self.env,
                         opts={"title": self._title(_CONFIG_WINDOW)})

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until the updates already made are sent (bounded).

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (``timeout`` plus a little per waiting
            update when None).

        Returns
        -------
        bool
            True when everything was sent or given up in time.
        """
        done = self.viewer.flush(timeout)
        self.viewer.warn_if_failed()
        return done

    def close(self) -> None:
        """Send what is waiting (bounded), stop sending, and stop the server if
        the board was its last user.

        A server that was running before the board was created keeps running.
        """
        if self._closed:
            return
        self._closed = True
        self.viewer.close_client()
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


@rank_zero_only
def update_board(signal: Any) -> None:
    """Send the values of an ``after_epoch`` signal to ``signal.object.board``.

    It is :func:`~pynet_cvae.observable.rank_zero_only`: in a distributed run, rank 0
    (the process to build the board on) calls it.

    Every value named in ``signal.keys`` is sent to
    :meth:`Board.update_plots` at ``signal.epoch`` (per ``signal.fold`` when
    the signal has one), except ``epoch`` and ``fold``; a ``scheduler`` is
    replaced by the learning rate ``lr``, which is also read from the
    emitter's ``optimizer`` when the signal has no scheduler.

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
            "set one first, e.g. interface.board = Board(...), or attach "
            "BoardObserver(board)")
    _send_signal(board, signal)


@rank_zero_only
class BoardObserver:
    """An ``after_epoch`` observer sending the signal's values to a given board.

    The explicit form of ``interface.board = board`` plus :func:`update_board`::

        interface.add_observer("after_epoch", BoardObserver(Board(env="run")))

    Parameters
    ----------
    board : Board
        The board (anything with ``update_plots(data, epoch, fold)``).
    """

    def __init__(self, board: Any) -> None:
        if not callable(getattr(board, "update_plots", None)):
            raise TypeError(f"BoardObserver needs a Board (with update_plots), got {board!r}")
        self.board = board

    def __call__(self, signal: Any) -> None:
        _send_signal(self.board, signal)

    def __repr__(self) -> str:
        return f"BoardObserver({self.board!r})"


def _send_signal(board: Any, signal: Any) -> None:
    """Every value of ``signal`` but epoch and fold (a scheduler as ``lr``) to ``board``."""
    board.update_plots(epoch_values(signal), signal.epoch, getattr(signal, "fold", None))
