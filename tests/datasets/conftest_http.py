"""Helpers for the download tests: IDX data made in the test and a real HTTP mirror.

Not a ``conftest.py``: the test modules import what they need from here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import struct
import threading
from typing import Dict, Iterable, List, Optional

import numpy as np

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode ``array`` as an IDX file (written here by hand, not by the code under test)."""
    array = np.asarray(array)
    header = struct.pack(">HBB", 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


class SmallMNIST:
    """Random MNIST-like data: ``n_train`` then ``n_test`` 28x28 images, labels 0..9."""

    def __init__(self, n_train: int = 50, n_test: int = 20, size: int = 28,
                 seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.train_images = rng.integers(0, 256, (n_train, size, size), dtype=np.uint8)
        self.train_labels = rng.integers(0, 10, n_train, dtype=np.uint8)
        self.test_images = rng.integers(0, 256, (n_test, size, size), dtype=np.uint8)
        self.test_labels = rng.integers(0, 10, n_test, dtype=np.uint8)
        # Make sure the extreme pixel values are there, to check the scaling.
        self.train_images[0, 0, :2] = (0, 255)

    def raw(self) -> Dict[str, bytes]:
        """The four uncompressed IDX files, by base name."""
        arrays = (self.train_images, self.train_labels, self.test_images, self.test_labels)
        return {name: idx_bytes(array) for name, array in zip(IDX_NAMES, arrays)}

    def gz(self) -> Dict[str, bytes]:
        """The four gzipped IDX files, by ``.gz`` name."""
        return {f"{name}.gz": gzip.compress(data, mtime=0)
                for name, data in self.raw().items()}

    def checksums(self) -> Dict[str, str]:
        """SHA-256 of each ``.gz`` file."""
        return {name: hashlib.sha256(data).hexdigest() for name, data in self.gz().items()}

    @property
    def images(self) -> np.ndarray:
        return np.concatenate([self.train_images, self.test_images])

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([self.train_labels, self.test_labels])


class MirrorServer:
    """A real HTTP server on 127.0.0.1 (port chosen by the system) serving files.

    Parameters
    ----------
    files : dict
        Body of each file, by name; served under ``<url><name>``.
    truncated : iterable of str
        Names answered with a ``Content-Length`` larger than the body, after
        which the connection is closed.
    """

    def __init__(self, files: Dict[str, bytes], truncated: Iterable[str] = ()) -> None:
        self.files = dict(files)
        self.truncated = set(truncated)
        self.requests: List[str] = []
        self.url = ""  # set by start()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def _handler(self):
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests.append(name)
                body = mirror.files.get(name)
                if body is None:
                    self.send_error(404, "no such file")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if name in mirror.truncated:
                    self.send_header("Content-Length", str(len(body) + 1000))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # quiet tests
                pass

        return Handler

    def start(self) -> "MirrorServer":
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/mirror/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> "MirrorServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mirror/"


def corrupted(files: Dict[str, bytes]) -> Dict[str, bytes]:
    """The same files with one byte flipped near the end (checksums no longer match)."""
    return {name: data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:]
            for name, data in files.items()}


class HostileServer:
    """A real HTTP server on 127.0.0.1 that misbehaves with every file it serves.

    Parameters
    ----------
    behaviour : {"oversized", "endless", "drip"}
        ``"oversized"``: announce and send ``size`` zero bytes; ``"endless"``: send
        zeros without a ``Content-Length`` until the client hangs up; ``"drip"``:
        announce ``size`` bytes and send one every ``interval`` seconds.
    size : int
        The announced size.
    interval : float
        Seconds between two bytes of ``"drip"``.

    Attributes
    ----------
    sent : list of int
        The bytes sent, per request.
    """

    def __init__(self, behaviour: str, size: int = 50_000_000, interval: float = 0.1) -> None:
        self.behaviour, self.size, self.interval = behaviour, size, interval
        self.sent: List[int] = []
        self.url = ""
        self._stopping = threading.Event()
        self._server: Optional[http.server.ThreadingHTTPServer] = None

    def _handler(self):
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                hostile.sent.append(0)
                self.send_response(200)
                if hostile.behaviour != "endless":
                    self.send_header("Content-Length", str(hostile.size))
                self.end_headers()
                block = b"\0" if hostile.behaviour == "drip" else b"\0" * 65536
                try:
                    while not hostile._stopping.is_set() and (
                            hostile.behaviour == "endless" or hostile.sent[-1] < hostile.size):
                        self.wfile.write(block)
                        hostile.sent[-1] += len(block)
                        if hostile.behaviour == "drip":
                            self.wfile.flush()
                            hostile._stopping.wait(hostile.interval)
                except OSError:  # the client gave up
                    pass
                self.close_connection = True

            def log_message(self, format: str, *args) -> None:
                pass

        return Handler

    def __enter__(self) -> "HostileServer":
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/mirror/"
        threading.Thread(target=self._server.serve_forever,
                         kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
