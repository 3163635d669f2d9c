"""Where a Visdom server is, and whether it answers: host names, URLs, probes, login.

A host is *local* when it names this machine (``localhost``, ``127.0.0.1``,
``::1``). A probe accepts only Visdom's own reply (a JSON list of environments),
so another program on the port is never mistaken for Visdom. The login's
credentials come from the environment variables ``VISDOM_USERNAME`` and
``VISDOM_PASSWORD`` only.
"""

from __future__ import annotations

import enum
import hashlib
import os
import socket
from typing import Optional, Tuple
from urllib.parse import urlparse

import requests

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names that designate this machine."""

USERNAME_VARIABLE = "VISDOM_USERNAME"
"""The environment variable with the Visdom login's user name."""

PASSWORD_VARIABLE = "VISDOM_PASSWORD"
"""The environment variable with the Visdom login's password."""

Credentials = Tuple[str, str]
"""A login: ``(username, password)``."""


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


def credentials_from_environment() -> Credentials:
    """Return the Visdom login ``(username, password)`` from the environment.

    Returns
    -------
    tuple of str
        The values of ``VISDOM_USERNAME`` and ``VISDOM_PASSWORD``.

    Raises
    ------
    ValueError
        When either variable is unset or empty.
    """
    values = {name: os.environ.get(name, "")
              for name in (USERNAME_VARIABLE, PASSWORD_VARIABLE)}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(
            f"the Visdom login needs the environment variable(s) {', '.join(missing)}"
            " (set them in the shell that runs the command, never in code)")
    return values[USERNAME_VARIABLE], values[PASSWORD_VARIABLE]


def _login(session: requests.Session, url: str, credentials: Credentials,
           timeout: float) -> bool:
    """Log ``session`` in at ``url``; tell whether the server accepted it."""
    username, password = credentials
    hashed = hashlib.sha256(password.encode("utf-8")).hexdigest()
    reply = session.post(f"{url}/", json={"username": username, "password": hashed},
                         timeout=timeout)
    return reply.status_code == 200


def is_visdom_server(host: str = "http://localhost", port: int = 8097,
                     timeout: float = 1.0,
                     credentials: Optional[Credentials] = None) -> bool:
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
        Seconds to wait for the connection and for each reply.
    credentials : tuple of str, optional
        ``(username, password)`` to log in first, for a server with login.

    Returns
    -------
    bool
        True when a Visdom server answered (and accepted the login) within
        ``timeout``.
    """
    return server_state(host, port, timeout, credentials) is ServerState.VISDOM


class ServerState(enum.Enum):
    """What answers on a port (see :func:`server_state`)."""

    NOTHING = "nothing listens"
    VISDOM = "a Visdom server"
    LOGIN = "a Visdom server with login"
    SILENT = "a program that accepts connections but does not answer"
    OTHER = "a program that is not a Visdom server"


def _accepts_connections(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((_host_name(host), port), timeout=timeout):
            return True
    except OSError:
        return False


def server_state(host: str = "http://localhost", port: int = 8097, timeout: float = 1.0,
                 credentials: Optional[Credentials] = None) -> ServerState:
    """Tell what answers at ``host:port``, with one probe of at most ``timeout`` seconds.

    A frozen (stopped) or overloaded Visdom server accepts connections, its
    kernel completing them, but sends nothing back: that is
    :attr:`ServerState.SILENT`, which no other check can tell from a silent
    program of another kind.

    Parameters
    ----------
    host : str, default "http://localhost"
        The server URL or host name.
    port : int, default 8097
        The server port.
    timeout : float, default 1.0
        Seconds to wait for the connection and for the reply.
    credentials : tuple of str, optional
        ``(username, password)`` to log in first.

    Returns
    -------
    ServerState
        What answers.
    """
    url = server_url(host, port)
    try:
        with requests.Session() as session:
            if credentials is not None and not _login(session, url, credentials,
                                                      timeout):
                return ServerState.LOGIN
            reply = session.post(f"{url}/env_state", data="{}", timeout=timeout)
            if reply.status_code == 200 and isinstance(reply.json(), list):
                return ServerState.VISDOM
    except requests.ReadTimeout:
        return ServerState.SILENT
    except requests.ConnectTimeout:
        return ServerState.NOTHING
    except requests.ConnectionError:  # refused, or garbage / a closed connection
        return ServerState.OTHER if _accepts_connections(host, port, timeout) \
            else ServerState.NOTHING
    except (requests.RequestException, ValueError):
        return ServerState.OTHER
    return ServerState.LOGIN if requires_login(host, port, timeout) else ServerState.OTHER


def requires_login(host: str = "http://localhost", port: int = 8097,
                   timeout: float = 1.0) -> bool:
    """Tell whether a Visdom server with login (and no session) answers at ``host:port``.

    Parameters
    ----------
    host : str, default "http://localhost"
        The server URL or host name.
    port : int, default 8097
        The server port.
    timeout : float, default 1.0
        Seconds to wait for each reply.

    Returns
    -------
    bool
        True when the server refuses ``/env_state`` and shows Visdom's login page.
    """
    url = server_url(host, port)
    try:
        refused = requests.post(f"{url}/env_state", data="{}", timeout=timeout)
        page = requests.get(f"{url}/", timeout=timeout)
    except requests.RequestException:
        return False
    return refused.status_code == 400 and "Visdom Login" in page.text
