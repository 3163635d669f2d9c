"""Downloads from a real HTTP server on 127.0.0.1: mirrors, SHA-256, atomic files."""

import hashlib
import os

import pytest

from pynet_cvae.datasets.download import DownloadError, download_file, sha256sum

from .conftest_http import MirrorServer, closed_port_url, corrupted

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
