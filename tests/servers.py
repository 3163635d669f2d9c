"""Helpers of the tests that start real servers on 127.0.0.1."""

import json
import socket


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def window_data(viewer, win: str, env: str) -> dict:
    """Read a window back from the server, as a dict."""
    return json.loads(viewer.get_window_data(win, env))


def window_names(viewer, env: str) -> set:
    """Return the names of the windows of ``env`` on the server."""
    return set(json.loads(viewer.get_window_data(None, env)))
