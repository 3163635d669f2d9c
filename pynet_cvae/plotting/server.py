"""Find, start and stop a local Visdom server.

A server started here is a child process bound to ``127.0.0.1`` only. It is
started from an argument list (never a shell string), through
``visdom.server.run_server.main`` so that it does not try to download
JavaScript assets first (``python -m visdom.server`` does, and fails offline).

Servers started by this process are shared: several boards on the same port use
one server, which stops when the last of them releases it, or at interpreter
exit. A server that was already running is never stopped.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence
from urllib.parse import urlparse

import requests

logger = logging.getLogger("pynet_cvae")

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names that designate this machine."""

BIND_ADDRESS = "127.0.0.1"
"""The address a started server listens on (``-bind_local``)."""

_RUN_SERVER = "from visdom.server.run_server import main; main()"
_OUTPUT_TAIL_CHARS = 2000

_started: list["VisdomServer"] = []
_servers: dict[int, "VisdomServer"] = {}
_users: dict[int, int] = {}
_lock = threading.RLock()
_atexit_registered = False


class VisdomServerError(RuntimeError):
    """A Visdom server could not be started or a port cannot be used."""


def _host_name(host: str) -> str:
    """Return the bare, lower-case host name of a URL or host string."""
    if host in LOCAL_HOSTS:
        return host
    parsed = urlparse(host if "://" in host else f"http://{host}")
    return (parsed.hostname or host).lower()


def is_local_host(host: str) -> bool:
    """Tell whether ``host`` designates this machine (localhost, 127.0.0.1, ::1).

    Parameters
    ----------
    host : str
        A URL or a bare host name.

    Returns
    -------
    bool
        True for a local host.
    """
    return _host_name(host) in LOCAL_HOSTS


def base_url(host: str) -> str:
    """Return ``scheme://host`` (IPv6 in brackets) for a URL or bare host name.

    Parameters
    ----------
    host : str
        A URL such as ``"http://localhost"`` or a bare host name.

    Returns
    -------
    str
        The URL without port or path, as ``visdom.Visdom(server=...)`` wants it.
    """
    scheme = urlparse(host).scheme if "://" in host else "http"
    name = _host_name(host)
    if ":" in name:
        name = f"[{name}]"
    return f"{scheme}://{name}"


def server_url(host: str, port: int) -> str:
    """Return ``scheme://host:port`` for a host URL or bare host name.

    Parameters
    ----------
    host : str
        A URL such as ``"http://localhost"`` or a bare host name.
    port : int
        The server port.

    Returns
    -------
    str
        The base URL of the server.
    """
    return f"{base_url(host)}:{port}"


def is_visdom_server(host: str = "http://localhost", port: int = 8097,
                     timeout: float = 1.0) -> bool:
    """Tell whether a Visdom server answers at ``host:port``.

    The check asks for the list of environments (``POST /env_state``) and
    accepts only a JSON list in reply, so another HTTP server on the port is
    not mistaken for Visdom.

    Parameters
    ----------
    host : str, default "http://localhost"
        The server URL or host name.
    port : int, default 8097
        The server port.
    timeout : float, default 1.0
        Seconds to wait for the connection and for the reply.

    Returns
    -------
    bool
        True when a Visdom server answered within ``timeout``.
    """
    url = f"{server_url(host, port)}/env_state"
    try:
        reply = requests.post(url, data="{}", timeout=timeout)
        return reply.status_code == 200 and isinstance(reply.json(), list)
    except (requests.RequestException, ValueError):
        return False


def _is_port_in_use(port: int, timeout: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((BIND_ADDRESS, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_command(port: int, env_path: Optional[str] = None,
                   logging_level: str = "WARNING",
                   extra_args: Sequence[str] = ()) -> list[str]:
    """Return the argument list that starts a Visdom server.

    Parameters
    ----------
    port : int
        The port to listen on (on 127.0.0.1 only).
    env_path : str, optional
        Where the server keeps its environments; Visdom's default
        (``~/.visdom``) when None.
    logging_level : str, default "WARNING"
        The server's logging level.
    extra_args : sequence of str, default ()
        More arguments for ``visdom.server.run_server.main``.

    Returns
    -------
    list of str
        The command, starting with the current Python interpreter.
    """
    argv = [sys.executable, "-c", _RUN_SERVER, "-port", str(port),
            "-bind_local", "-logging_level", logging_level]
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
        logger.debug("Visdom server on port %d stopped", self.port)
        try:
            os.remove(self.log_path)
        except OSError:
            pass


def _failure(server: VisdomServer, reason: str) -> VisdomServerError:
    """Build the error for a server that did not start, with its output."""
    output = server.output_tail() or "(no output)"
    command = " ".join(server.argv)
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
        if is_visdom_server(server.url, server.port, timeout=0.5):
            return
        if time.monotonic() >= deadline:
            error = _failure(server, f"did not answer within {timeout:g} s")
            server.stop()
            raise error
        time.sleep(0.1)


def _check_port_free(port: int) -> None:
    """Raise a clear error when 127.0.0.1:``port`` is already in use."""
    if not _is_port_in_use(port):
        return
    if is_visdom_server(BIND_ADDRESS, port):
        raise VisdomServerError(
            f"a Visdom server already answers on {BIND_ADDRESS}:{port}; "
            "connect to it instead of starting another one")
    raise VisdomServerError(
        f"port {port} on {BIND_ADDRESS} is in use by a program that is not a "
        "Visdom server; stop it or choose another port")


def start_server(port: int = 8097, env_path: Optional[str] = None,
                 timeout: float = 30.0, logging_level: str = "WARNING",
                 extra_args: Sequence[str] = ()) -> VisdomServer:
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

    Returns
    -------
    VisdomServer
        The handle of the running server.

    Raises
    ------
    VisdomServerError
        When the port is busy, or the server exits or does not answer in
        time; the message ends with the server's own output.
    """
    _check_port_free(port)
    argv = server_command(port, env_path, logging_level, extra_args)
    descriptor, log_path = tempfile.mkstemp(prefix=f"visdom-{port}-",
                                            suffix=".log")
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    logger.debug("Starting a Visdom server: %s", argv)
    with os.fdopen(descriptor, "wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=environment)
    server = VisdomServer(process, port, argv, log_path, env_path)
    _stop_at_exit(server)
    _wait_until_ready(server, timeout)
    logger.info("Visdom server started on http://%s:%d", BIND_ADDRESS, port)
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
                   probe_timeout: float = 1.0) -> Optional[VisdomServer]:
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

    Returns
    -------
    VisdomServer or None
        The shared server started by this process, or None when a server
        that this process did not start answers.

    Raises
    ------
    VisdomServerError
        When the port is busy with another program or the server fails.
    """
    with _lock:
        server = _servers.get(port)
        if server is not None and server.running:
            _users[port] += 1
            return server
        if is_visdom_server(host, port, timeout=probe_timeout):
            logger.debug("Using the Visdom server at %s", server_url(host, port))
            return None
        server = start_server(port, env_path=env_path, timeout=timeout)
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
