"""Find, start and stop a local Visdom server.

A server started here is a child process bound to ``127.0.0.1`` only, unless
``listen_all=True`` is asked explicitly, and then only with Visdom's login, the
credentials coming from the environment variables ``VISDOM_USERNAME`` and
``VISDOM_PASSWORD`` (never from code, arguments or logs). It is started from an
argument list (never a shell string), through ``visdom.server.run_server.main``
so that it does not try to download JavaScript assets first (``python -m
visdom.server`` does, and fails offline; see :mod:`pynet_cvae.plotting.assets`).

Servers started by this process are shared: several boards on the same port use
one server, which stops when the last of them releases it, or at interpreter
exit. A server that was already running is never stopped. A started server
lives and dies with this process, even when it is killed (SIGKILL) and runs no
exit code: it holds a lifeline to it (:mod:`pynet_cvae.plotting.lifeline`).

A port where something accepts connections but does not answer (a frozen
Visdom server, e.g. one stopped with SIGSTOP) is told apart from a port held by
another program: :func:`acquire_server` raises :class:`VisdomServerUnresponsive`
for it, which a board turns into one warning.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

from pynet_cvae.plotting import lifeline as lifelines
from pynet_cvae.plotting.lifeline import SERVER_PROGRAM
from pynet_cvae.plotting.probe import (
    PASSWORD_VARIABLE,
    USERNAME_VARIABLE,
    Credentials,
    ServerState,
    credentials_from_environment,
    is_visdom_server,
    server_state,
    server_url,
)

logger = logging.getLogger("pynet_cvae")

BIND_ADDRESS = "127.0.0.1"
"""The address a started server listens on (``-bind_local``)."""

_OUTPUT_TAIL_CHARS = 2000

_started: list["VisdomServer"] = []
_servers: dict[int, "VisdomServer"] = {}
_users: dict[int, int] = {}
_lock = threading.RLock()
_atexit_registered = False


class VisdomServerError(RuntimeError):
    """A Visdom server could not be started or a port cannot be used."""


class VisdomServerUnresponsive(VisdomServerError):
    """Something accepts connections on the port but does not answer (a frozen server)."""


def _is_port_in_use(port: int, timeout: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((BIND_ADDRESS, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_command(port: int, env_path: Optional[str] = None,
                   logging_level: str = "WARNING",
                   extra_args: Sequence[str] = (), login: bool = False,
                   listen_all: bool = False) -> list[str]:
    """Return the argument list that starts a Visdom server.

    Parameters
    ----------
    port : int
        The port to listen on (on 127.0.0.1 only, unless ``listen_all``).
    env_path : str, optional
        Where the server keeps its environments; Visdom's default
        (``~/.visdom``) when None.
    logging_level : str, default "WARNING"
        The server's logging level.
    extra_args : sequence of str, default ()
        More arguments for ``visdom.server.run_server.main``.
    login : bool, default False
        Enable Visdom's login (``-enable_login``).
    listen_all : bool, default False
        Listen on every network interface instead of 127.0.0.1 only; it
        needs ``login``.

    Returns
    -------
    list of str
        The command, starting with the current Python interpreter.

    Raises
    ------
    ValueError
        When ``listen_all`` is asked without ``login``.
    """
    if listen_all and not login:
        raise ValueError("a Visdom server that listens beyond 127.0.0.1 needs the "
                         "login (login=True, or --login)")
    argv = [sys.executable, "-c", SERVER_PROGRAM, "-port", str(port),
            "-logging_level", logging_level]
    if not listen_all:
        argv.append("-bind_local")
    if login:
        argv.append("-enable_login")
    if env_path is not None:
        argv += ["-env_path", os.fspath(env_path)]
    return argv + list(extra_args)


@dataclass
class VisdomServer:
    """A Visdom server started by this process.

    Parameters
    ----------
    process : subprocess.Popen
        The server process.
    port : int
        The port it listens on, on 127.0.0.1.
    argv : list of str
        The command that started it.
    log_path : str
        The file that receives the server's stdout and stderr.
    env_path : str, optional
        Where the server keeps its environments.
    """

    process: subprocess.Popen
    port: int
    argv: list[str]
    log_path: str
    env_path: Optional[str] = None
    credentials: Optional[Credentials] = field(default=None, repr=False)
    lifeline: Optional[int] = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """str: the server's base URL, without the port."""
        return f"http://{BIND_ADDRESS}"

    @property
    def running(self) -> bool:
        """bool: whether the server process is alive."""
        return self.process.poll() is None

    def output_tail(self, max_chars: int = _OUTPUT_TAIL_CHARS) -> str:
        """Return the end of the server's output (stdout and stderr).

        Parameters
        ----------
        max_chars : int, default 2000
            How many characters to return at most.

        Returns
        -------
        str
            The last characters written by the server, or "" when none.
        """
        try:
            with open(self.log_path, "rb") as stream:
                stream.seek(0, os.SEEK_END)
                stream.seek(max(0, stream.tell() - max_chars))
                return stream.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (terminate, then kill after ``timeout``) and remove its log.

        Parameters
        ----------
        timeout : float, default 5.0
            Seconds to wait for the process to exit after terminating it.
        """
        if self._stopped:
            return
        self._stopped = True
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.lifeline is not None:
            lifelines.cut(self.lifeline)
        logger.debug("Visdom server on port %d stopped", self.port)
        try:
            os.remove(self.log_path)
        except OSError:
            pass


def _failure(server: VisdomServer, reason: str) -> VisdomServerError:
    """Build the error for a server that did not start, with its output."""
    output = server.output_tail() or "(no output)"
    shown = [("<the Visdom server program>" if argument == SERVER_PROGRAM else argument)
             for argument in server.argv]
    command = shlex.join(shown)
    return VisdomServerError(
        f"Visdom server on port {server.port} {reason}.\n"
        f"Command: {command}\nServer output:\n{output}")


def _wait_until_ready(server: VisdomServer, timeout: float) -> None:
    """Wait until ``server`` answers; raise with its output otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if not server.running:
            code = server.process.returncode
            error = _failure(server, f"exited with code {code} while starting")
            server.stop()
            raise error
        if is_visdom_server(server.url, server.port, timeout=0.5,
                            credentials=server.credentials):
            return
        if time.monotonic() >= deadline:
            error = _failure(server, f"did not answer within {timeout:g} s")
            server.stop()
            raise error
        time.sleep(0.1)


def _check_port_free(port: int, credentials: Optional[Credentials] = None) -> None:
    """Raise a clear error when 127.0.0.1:``port`` is already in use."""
    if not _is_port_in_use(port):
        return
    state = server_state(BIND_ADDRESS, port, credentials=credentials)
    where = f"{BIND_ADDRESS}:{port}"
    if state is ServerState.VISDOM:
        raise VisdomServerError(f"a Visdom server already answers on {where}; connect to "
                                "it instead of starting another one")
    if state is ServerState.LOGIN and credentials is not None:
        raise VisdomServerError(
            f"the Visdom server on {where} refused the login of user {credentials[0]!r}: "
            f"check {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}")
    if state is ServerState.LOGIN:
        raise VisdomServerError(
            f"a Visdom server with login answers on {where}: log in (login=True, or "
            f"--login) with {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} set to its "
            "credentials")
    if state is ServerState.SILENT:
        raise VisdomServerUnresponsive(
            f"port {port} on {BIND_ADDRESS} is held by a program that accepts connections "
            "but does not answer (a frozen Visdom server?); stop it or choose another port")
    raise VisdomServerError(
        f"port {port} on {BIND_ADDRESS} is in use by a program that is not a "
        "Visdom server; stop it or choose another port")


def _login_environment() -> Dict[str, str]:
    """The variables that make Visdom read its login from the environment."""
    credentials_from_environment()
    # Visdom keeps its cookie secret in ~/.visdom/COOKIE_SECRET and fails without
    # the folder.
    os.makedirs(os.path.join(os.path.expanduser("~"), ".visdom"), mode=0o700,
                exist_ok=True)
    variables = {"VISDOM_USE_ENV_CREDENTIALS": "1"}
    if not os.environ.get("VISDOM_COOKIE"):
        variables["VISDOM_COOKIE"] = secrets.token_hex(32)
    return variables


def start_server(port: int = 8097, env_path: Optional[str] = None,
                 timeout: float = 30.0, logging_level: str = "WARNING",
                 extra_args: Sequence[str] = (), login: bool = False,
                 listen_all: bool = False) -> VisdomServer:
    """Start a Visdom server on 127.0.0.1 and wait until it answers.

    The server is stopped at interpreter exit. Its output goes to a temporary
    log file, so a long run never blocks on a full pipe.

    Parameters
    ----------
    port : int, default 8097
        The port to listen on.
    env_path : str, optional
        Where the server keeps its environments; Visdom's default
        (``~/.visdom``) when None.
    timeout : float, default 30.0
        Seconds to wait for the server to answer.
    logging_level : str, default "WARNING"
        The server's logging level.
    extra_args : sequence of str, default ()
        More arguments for ``visdom.server.run_server.main``.
    login : bool, default False
        Enable Visdom's login with the credentials of ``VISDOM_USERNAME``
        and ``VISDOM_PASSWORD`` (its cookie secret comes from
        ``VISDOM_COOKIE``, or ``~/.visdom/COOKIE_SECRET``, or is made up).
    listen_all : bool, default False
        Listen on every network interface, not only 127.0.0.1; needs ``login``.

    Returns
    -------
    VisdomServer
        The handle of the running server.

    Raises
    ------
    ValueError
        When ``listen_all`` is asked without ``login``, or the login's
        environment variables are not set.
    VisdomServerError
        When the port is busy, or the server exits or does not answer in
        time; the message ends with the server's own output.
    """
    argv = server_command(port, env_path, logging_level, extra_args, login=login,
                          listen_all=listen_all)
    credentials = credentials_from_environment() if login else None
    _check_port_free(port, credentials)
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    if login:
        environment.update(_login_environment())
    descriptor, log_path = tempfile.mkstemp(prefix=f"visdom-{port}-",
                                            suffix=".log")
    read_end, write_end, lifeline_variable = lifelines.open_lifeline()
    environment.update(lifeline_variable)
    logger.debug("Starting a Visdom server: %s", argv)
    try:
        with os.fdopen(descriptor, "wb") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=environment, pass_fds=(read_end,))
    except BaseException:
        lifelines.cut(write_end)
        raise
    finally:
        os.close(read_end)
    server = VisdomServer(process, port, argv, log_path, env_path, credentials,
                          lifeline=write_end)
    _stop_at_exit(server)
    _wait_until_ready(server, timeout)
    logger.info("Visdom server started on http://%s:%d%s", BIND_ADDRESS, port,
                " (and every other interface)" if listen_all else "")
    return server


def _stop_at_exit(server: VisdomServer) -> None:
    """Remember ``server`` so that it is stopped at interpreter exit."""
    global _atexit_registered
    with _lock:
        _started[:] = [known for known in _started if not known._stopped]
        _started.append(server)
        if not _atexit_registered:
            atexit.register(stop_all_servers)
            _atexit_registered = True


def acquire_server(port: int = 8097, host: str = "http://localhost",
                   env_path: Optional[str] = None, timeout: float = 30.0,
                   probe_timeout: float = 1.0, login: bool = False
                   ) -> Optional[VisdomServer]:
    """Make sure a Visdom server answers on this machine's ``port``.

    A server this process started on ``port`` is shared (and counted as one
    more user); a server that already answers at ``host`` is used as is;
    otherwise a new server is started.

    Parameters
    ----------
    port : int, default 8097
        The server port.
    host : str, default "http://localhost"
        The local host to probe first.
    env_path : str, optional
        Where a new server keeps its environments.
    timeout : float, default 30.0
        Seconds to wait for a new server to answer.
    probe_timeout : float, default 1.0
        Seconds to wait for an existing server to answer.
    login : bool, default False
        Log in to an existing server, and start a new one with login, with
        the credentials of ``VISDOM_USERNAME`` and ``VISDOM_PASSWORD``.

    Returns
    -------
    VisdomServer or None
        The shared server started by this process, or None when a server
        that this process did not start answers.

    Raises
    ------
    VisdomServerUnresponsive
        When something accepts connections on the port but does not answer within
        ``probe_timeout`` (a frozen server).
    VisdomServerError
        When the port is busy with another program or the server fails.
    """
    with _lock:
        server = _servers.get(port)
        if server is not None and server.running:
            _users[port] += 1
            return server
        credentials = credentials_from_environment() if login else None
        state = server_state(host, port, timeout=probe_timeout, credentials=credentials)
        if state is ServerState.VISDOM:
            logger.debug("Using the Visdom server at %s", server_url(host, port))
            return None
        if state is ServerState.SILENT:
            raise VisdomServerUnresponsive(
                f"the Visdom server at {server_url(host, port)} accepts connections but "
                f"does not answer within {probe_timeout:g} s (frozen or overloaded?)")
        server = start_server(port, env_path=env_path, timeout=timeout, login=login)
        _servers[port] = server
        _users[port] = 1
        return server


def release_server(server: VisdomServer) -> bool:
    """Release one use of a shared server; stop it when nobody uses it.

    Parameters
    ----------
    server : VisdomServer
        A server returned by :func:`acquire_server`.

    Returns
    -------
    bool
        True when the server was stopped.
    """
    with _lock:
        if _servers.get(server.port) is not server:
            return False
        _users[server.port] -= 1
        if _users[server.port] > 0:
            return False
        del _servers[server.port], _users[server.port]
    server.stop()
    return True


def stop_all_servers() -> None:
    """Stop every server started by this process (run at interpreter exit)."""
    with _lock:
        servers = list(_started)
        _started.clear()
        _servers.clear()
        _users.clear()
    for server in servers:
        server.stop()
