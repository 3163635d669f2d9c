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
    """Return the names of the windows of ``env`` on the server (none if it has no
    such environment)."""
    return set(json.loads(viewer.get_window_data(None, env) or "{}"))


class RequestRecorder:
    """A real HTTP server on 127.0.0.1 that answers 204 and records every request.

    A page that fetches anything from ``url`` (an image, a script, ``fetch()``)
    leaves its path in :attr:`paths`.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        self.paths: list = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server naming)
                recorder.paths.append(self.path)
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_POST = do_HEAD = do_OPTIONS = do_GET

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
