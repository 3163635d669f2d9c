"""Fixtures for the board tests: a real Visdom server, and ports busy with other programs."""

import http.server
import socket
import threading
from typing import Iterator

import pytest

from pynet_cvae.plotting.assets import AssetsError, install_assets, missing_assets
from pynet_cvae.plotting.server import start_server

from ..servers import free_port


@pytest.fixture
def env_name(request) -> str:
    """A Visdom environment of the test's own."""
    return request.node.name.replace("[", "-").replace("]", "")


@pytest.fixture
def env_path(tmp_path) -> str:
    """A folder for the environments of a server that a test starts."""
    return str(tmp_path / "visdom-env")


class _NotFoundHandler(http.server.BaseHTTPRequestHandler):
    """Answer every request with 404."""

    def do_GET(self):  # noqa: N802 (the http.server naming)
        self.send_error(404)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def http_404_port() -> Iterator[int]:
    """A port where a plain HTTP server answers 404 to everything."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


class _RawSocketServer:
    """A TCP server that sends ``reply`` to each client (or holds it silently)."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.clients: list = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            if self.reply:
                with client:
                    client.sendall(self.reply)
            else:
                self.clients.append(client)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        for client in self.clients:
            client.close()
        self.listener.close()


@pytest.fixture(params=["garbage", "silent"])
def raw_socket_port(request) -> Iterator[int]:
    """A port held by a TCP server that sends garbage, or never answers."""
    reply = b"garbage, not HTTP\r\n\r\n" if request.param == "garbage" else b""
    server = _RawSocketServer(reply)
    yield server.port
    server.close()


@pytest.fixture
def server(tmp_path):
    """A Visdom server of the test's own (stopped at the end, even if killed)."""
    server = start_server(free_port(), env_path=str(tmp_path / "visdom-env"), timeout=60)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def page_assets():
    """Visdom's page files, installed in its static folder (idempotent)."""
    if missing_assets():
        try:
            install_assets()
        except AssetsError as error:
            pytest.fail(f"the page's files are missing and cannot be installed: {error}"
                        "\nrun `pynet-cvae board install-assets` first")
