"""Download files from mirrors, verify their SHA-256 and write them atomically.

A file is streamed into a temporary file in the destination folder, checked
(length against ``Content-Length``, SHA-256 against the expected digest),
flushed to disk and only then renamed to its final name. Any failure removes the
temporary file, so the destination never holds a partial or unverified file;
the temporary files of a killed download are removed at the next download into
the folder (:func:`~pynet_cvae.fileio.remove_stale_temporaries`).

A download is bounded: by ``max_bytes`` (a server announcing or sending more is
refused at once, before the disk fills), by ``timeout`` for each connection and
read, and by ``deadline`` for the whole file from one mirror (a server sending a
byte now and then is given up).

A failing mirror (network error, HTTP error, truncated or oversized body,
deadline, checksum mismatch) is skipped for the next one; when every mirror
fails, one :class:`DownloadError` names every URL tried and why it failed.

Only the standard library's :mod:`urllib` is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from ..fileio import atomic_path, remove_stale_temporaries

logger = logging.getLogger("pynet_cvae")

PathLike = Union[str, "os.PathLike[str]"]

#: Seconds to wait for a connection or for each read before giving up a mirror.
DEFAULT_TIMEOUT = 30.0
#: Seconds a whole file may take from one mirror (then the next mirror is tried).
DEFAULT_DEADLINE = 1800.0

_CHUNK_SIZE = 1 << 16
_ALLOWED_SCHEMES = ("http", "https", "file")


class DownloadError(RuntimeError):
    """Every mirror failed for a file.

    Attributes
    ----------
    filename : str
        The file that could not be downloaded.
    failures : list of (str, str)
        Each URL tried and the reason it failed.
    """

    def __init__(self, message: str, filename: str,
                 failures: Sequence[Tuple[str, str]]) -> None:
        super().__init__(message)
        self.filename = filename
        self.failures = list(failures)


class _MirrorFailure(Exception):
    """One mirror failed for one file (internal: the next mirror is tried)."""


def sha256sum(path: PathLike) -> str:
    """Return the hexadecimal SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_loopback(host: Optional[str]) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_url(url: str, timeout: float):
    """Open ``url``; loopback hosts bypass any proxy configured in the environment."""
    handlers = []
    if _is_loopback(urllib.parse.urlsplit(url).hostname):
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": "pynet-cvae"})
    return opener.open(request, timeout=timeout)


def _progress_bar(total: Optional[int], description: str, progress: Optional[bool]):
    """A tqdm bar, shown only when asked or (by default) when stderr is a terminal."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=description, unit="B", unit_scale=True,
                unit_divisor=1024, leave=False)


def _expected_length(response) -> Optional[int]:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Limits:
    """The bounds of one download: bytes at most, and a deadline."""

    def __init__(self, max_bytes: Optional[int], deadline: float) -> None:
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.started = time.monotonic()

    def check_announced(self, expected: Optional[int]) -> None:
        if self.max_bytes is not None and expected is not None \
                and expected > self.max_bytes:
            raise _MirrorFailure(f"the server announces {expected} bytes, more than the "
                                 f"{self.max_bytes} expected")

    def check_progress(self, received: int, expected: Optional[int]) -> None:
        if self.max_bytes is not None and received > self.max_bytes:
            raise _MirrorFailure(f"the server sent more than the {self.max_bytes} bytes "
                                 "expected")
        if time.monotonic() - self.started > self.deadline:
            of = "" if expected is None else f" of {expected}"
            raise _MirrorFailure(f"not complete after {self.deadline:g} s (received "
                                 f"{received}{of} bytes): the server is too slow")


def _stream_to(url: str, target: Path, timeout: float, progress: Optional[bool],
               label: str, limits: _Limits) -> str:
    """Write the body of ``url`` into ``target``; return its SHA-256."""
    digest = hashlib.sha256()
    received = 0
    try:
        with _open_url(url, timeout) as response, open(target, "wb") as stream:
            expected = _expected_length(response)
            limits.check_announced(expected)
            # read1 returns what one read of the socket brings, so that a server
            # sending a byte at a time meets the deadline instead of filling a block.
            read = getattr(response, "read1", response.read)
            with _progress_bar(expected, label, progress) as bar:
                for block in iter(lambda: read(_CHUNK_SIZE), b""):
                    received += len(block)
                    limits.check_progress(received, expected)
                    stream.write(block)
                    digest.update(block)
                    if bar is not None:
                        bar.update(len(block))
    except urllib.error.HTTPError as error:
        raise _MirrorFailure(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise _MirrorFailure(f"cannot connect: {error.reason}") from error
    except (OSError, ValueError, http.client.HTTPException) as error:  # timeouts, resets...
        raise _MirrorFailure(f"{type(error).__name__}: {error}") from error
    if expected is not None and received != expected:
        raise _MirrorFailure(
            f"truncated response: received {received} of {expected} bytes")
    return digest.hexdigest()


def _mirror_url(mirror: str, filename: str) -> str:
    scheme = urllib.parse.urlsplit(mirror).scheme
    if scheme not in _ALLOWED_SCHEMES:
        raise ValueError(
            f"mirror {mirror!r} should be an URL with a scheme in {list(_ALLOWED_SCHEMES)}")
    return mirror.rstrip("/") + "/" + urllib.parse.quote(filename)


def _download_from(url: str, destination: Path, sha256: Optional[str],
                   timeout: float, progress: Optional[bool], limits: _Limits) -> None:
    """Download ``url`` to ``destination`` atomically, or raise _MirrorFailure."""
    with atomic_path(destination) as temporary:
        digest = _stream_to(url, temporary, timeout, progress, destination.name, limits)
        if sha256 is not None and digest != sha256.lower():
            raise _MirrorFailure(
                f"checksum mismatch: SHA-256 {digest}, expected {sha256.lower()}")


def download_file(filename: str, mirrors: Sequence[str], directory: PathLike,
                  sha256: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
                  progress: Optional[bool] = None, hint: str = "",
                  max_bytes: Optional[int] = None,
                  deadline: float = DEFAULT_DEADLINE) -> Path:
    """Download ``filename`` from the first mirror that serves it intact.

    Parameters
    ----------
    filename : str
        The file name, appended to each mirror's base URL and used in
        ``directory``.
    mirrors : sequence of str
        Base URLs (``http``, ``https`` or ``file``), tried in order.
    directory : str or path-like
        Where to write the file (created if needed).
    sha256 : str, optional
        The expected SHA-256 (hexadecimal). A mismatch is a failure of that
        mirror. None skips the check (a warning is logged).
    timeout : float, default 30
        Seconds allowed for connecting and for each read, per mirror.
    progress : bool, optional
        Show a progress bar; by default only when stderr is a terminal.
    hint : str, optional
        Text appended to the error message (e.g. how to provide the file by hand).
    max_bytes : int, optional
        The most bytes the file may have (e.g. the known size of the file with
        ``sha256``): a mirror that announces or sends more fails at once.
    deadline : float, default 1800
        Seconds the whole file may take from one mirror (at most ``timeout`` more
        pass before a stalled read notices it).

    Returns
    -------
    pathlib.Path
        The downloaded, verified file.

    Raises
    ------
    DownloadError
        If every mirror failed; the message names each URL and its failure.
    ValueError
        If ``mirrors`` is empty or holds an unsupported URL, or a bound is not
        positive.
    """
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if not mirrors:
        raise ValueError(f"no mirror given to download {filename!r}")
    for name, bound in (("max_bytes", max_bytes), ("deadline", deadline),
                        ("timeout", timeout)):
        if bound is not None and not bound > 0:
            raise ValueError(f"{name} must be > 0, got {bound!r}")
    urls = [_mirror_url(mirror, filename) for mirror in mirrors]
    destination = Path(directory) / filename
    for stale in remove_stale_temporaries(directory, filename):
        logger.info("removed %s, left by a download that was killed", stale)
    if sha256 is None:
        logger.warning("downloading %s without a checksum to verify it", filename)
    failures: List[Tuple[str, str]] = []
    for url in urls:
        logger.info("downloading %s", url)
        try:
            _download_from(url, destination, sha256, timeout, progress,
                           _Limits(max_bytes, deadline))
        except _MirrorFailure as failure:
            logger.info("mirror failed: %s: %s", url, failure)
            failures.append((url, str(failure)))
            continue
        return destination
    lines = [f"could not download {filename!r}; every mirror failed:"]
    lines += [f"  {url}: {reason}" for url, reason in failures]
    if hint:
        lines.append(hint)
    raise DownloadError("\n".join(lines), filename, failures)
