"""Downloads from a real HTTP server on 127.0.0.1: mirrors, SHA-256, atomic files."""

import hashlib
import logging
import os
import subprocess
import sys
import time

import pytest

from pynet_cvae.datasets import fetch_mnist
from pynet_cvae.datasets.download import DownloadError, download_file, sha256sum
from pynet_cvae.fileio import remove_stale_temporaries

from .conftest_http import HostileServer, MirrorServer, closed_port_url, corrupted

PAYLOAD = {"data.bin": os.urandom(300_000)}
DIGEST = hashlib.sha256(PAYLOAD["data.bin"]).hexdigest()


def test_sha256sum(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256sum(tmp_path / "f") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.http
def test_download_verifies_and_writes(tmp_path):
    with MirrorServer(PAYLOAD) as server:
        path = download_file("data.bin", [server.url], tmp_path, sha256=DIGEST,
                             progress=False)
    assert path == tmp_path / "data.bin"
    assert path.read_bytes() == PAYLOAD["data.bin"]
    assert os.listdir(tmp_path) == ["data.bin"]


@pytest.mark.http
def test_checksum_mismatch_moves_to_the_next_mirror(tmp_path):
    with MirrorServer(corrupted(PAYLOAD)) as bad, MirrorServer(PAYLOAD) as good:
        path = download_file("data.bin", [bad.url, good.url], tmp_path, sha256=DIGEST)
        assert bad.requests == ["data.bin"] and good.requests == ["data.bin"]
    assert path.read_bytes() == PAYLOAD["data.bin"]
    assert os.listdir(tmp_path) == ["data.bin"]


@pytest.mark.http
def test_every_mirror_corrupted_is_one_error_and_no_file(tmp_path):
    with MirrorServer(corrupted(PAYLOAD)) as first, \
            MirrorServer(corrupted(PAYLOAD)) as second:
        with pytest.raises(DownloadError) as caught:
            download_file("data.bin", [first.url, second.url], tmp_path, sha256=DIGEST,
                          hint="place data.bin by hand")
    message = str(caught.value)
    assert first.url + "data.bin" in message and second.url + "data.bin" in message
    assert message.count("checksum mismatch") == 2
    assert "place data.bin by hand" in message
    assert [url for url, _ in caught.value.failures] == [
        first.url + "data.bin", second.url + "data.bin"]
    assert os.listdir(tmp_path) == []


@pytest.mark.http
def test_truncated_response_is_an_error_even_without_checksum(tmp_path):
    with MirrorServer(PAYLOAD, truncated=["data.bin"]) as server:
        with pytest.raises(DownloadError, match="truncated"):
            download_file("data.bin", [server.url], tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.http
def test_missing_file_and_closed_port_are_reported(tmp_path):
    down = closed_port_url()
    with MirrorServer({}) as empty:
        with pytest.raises(DownloadError) as caught:
            download_file("data.bin", [down, empty.url], tmp_path, sha256=DIGEST)
    message = str(caught.value)
    assert f"{down}data.bin: cannot connect" in message
    assert f"{empty.url}data.bin: HTTP 404" in message
    assert os.listdir(tmp_path) == []


def test_file_mirror(tmp_path):
    source = tmp_path / "mirror"
    source.mkdir()
    (source / "data.bin").write_bytes(PAYLOAD["data.bin"])
    path = download_file("data.bin", [source.as_uri()], tmp_path / "out", sha256=DIGEST)
    assert path.read_bytes() == PAYLOAD["data.bin"]


def test_bad_mirrors_are_refused(tmp_path):
    with pytest.raises(ValueError, match="ftp://example.org.*scheme"):
        download_file("data.bin", ["ftp://example.org/"], tmp_path)
    with pytest.raises(ValueError, match="no mirror"):
        download_file("data.bin", [], tmp_path)


# ---------------------------------------------------------------- bounded downloads
@pytest.mark.http
def test_a_server_announcing_more_than_the_known_size_is_left_at_once(tmp_path):
    with HostileServer("oversized") as server:
        with pytest.raises(DownloadError,
                           match="the server announces 50000000 bytes, more than the 300000 "
                                 "expected"):
            download_file("data.bin", [server.url], tmp_path, sha256=DIGEST,
                          max_bytes=len(PAYLOAD["data.bin"]))
    assert os.listdir(tmp_path) == []


@pytest.mark.http
def test_a_server_sending_more_than_the_known_size_is_cut_off(tmp_path):
    with HostileServer("endless") as server:
        with pytest.raises(DownloadError) as caught:
            download_file("data.bin", [server.url], tmp_path, sha256=DIGEST,
                          max_bytes=len(PAYLOAD["data.bin"]), deadline=120)
    assert "the server sent more than the 300000 bytes expected" in str(caught.value)
    assert server.sent[0] < 50_000_000  # what reached the socket buffers, not the disk
    assert os.listdir(tmp_path) == []


@pytest.mark.http
def test_fetching_mnist_from_an_oversized_mirror_stops_at_the_first_header(tmp_path):
    with HostileServer("oversized") as server:
        with pytest.raises(DownloadError,
                           match="announces 50000000 bytes, more than the 9912422 expected"):
            fetch_mnist(tmp_path, mirrors=[server.url])
    assert len(server.sent) == 1  # the first file failed: nothing else was asked for
    assert [name for name in os.listdir(tmp_path) if name.endswith(".part")] == []


@pytest.mark.http
def test_a_server_dripping_bytes_meets_the_deadline(tmp_path):
    with HostileServer("drip", size=100_000, interval=0.05) as server:
        with pytest.raises(DownloadError,
                           match=r"not complete after 1 s \(received \d+ of 100000 bytes\): "
                                 "the server is too slow"):
            download_file("data.bin", [server.url], tmp_path, deadline=1.0, timeout=30)
    assert os.listdir(tmp_path) == []


DOWNLOADER = ("import sys; from pynet_cvae.datasets.download import download_file; "
              "download_file('data.bin', [sys.argv[1]], sys.argv[2], timeout=60, "
              "deadline=3600)")


def start_a_download(url, folder):
    """A child process downloading ``data.bin`` into ``folder``; once its file exists."""
    process = subprocess.Popen([sys.executable, "-c", DOWNLOADER, url, str(folder)],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not [name for name in os.listdir(folder) if name.endswith(".part")]:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the download did not start"
        time.sleep(0.05)
    return process


@pytest.mark.http
@pytest.mark.subprocess
def test_a_killed_download_leaves_a_file_that_the_next_download_removes(tmp_path, caplog):
    with HostileServer("drip", size=100_000) as slow:
        killed = start_a_download(slow.url, tmp_path)
        killed.kill()
        killed.wait()
    (left,) = os.listdir(tmp_path)
    assert left.startswith(".data.bin.") and left.endswith(".part")
    with MirrorServer(PAYLOAD) as server, caplog.at_level(logging.INFO, "pynet_cvae"):
        download_file("data.bin", [server.url], tmp_path, sha256=DIGEST)
    assert os.listdir(tmp_path) == ["data.bin"]
    assert f"removed {tmp_path / left}, left by a download that was killed" in caplog.text


@pytest.mark.http
@pytest.mark.subprocess
def test_a_download_in_progress_elsewhere_keeps_its_file(tmp_path):
    with HostileServer("drip", size=100_000) as slow:
        running = start_a_download(slow.url, tmp_path)
        try:
            (part,) = os.listdir(tmp_path)
            assert remove_stale_temporaries(tmp_path) == []
            assert os.listdir(tmp_path) == [part]
        finally:
            running.kill()
            running.wait()
    assert [path.name for path in remove_stale_temporaries(tmp_path)] == [part]
