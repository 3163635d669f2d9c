"""A real small filesystem for the full-disk tests."""

import contextlib
import os
import shutil
import subprocess
from typing import Iterator

import pytest


@contextlib.contextmanager
def mounted_tmpfs(mountpoint: str, size: str = "256k") -> Iterator[str]:
    """Mount a tmpfs of ``size`` at ``mountpoint`` (skip the test without root/mount)."""
    os.makedirs(mountpoint, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             mountpoint], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", mountpoint], check=True)


def fill_up(mountpoint: str) -> str:
    """Fill the file system of ``mountpoint`` with one file until no byte is left."""
    path = os.path.join(mountpoint, "filler")
    block = b"\0" * 65536
    with open(path, "wb", buffering=0) as stream:
        with contextlib.suppress(OSError):
            while True:
                stream.write(block)
        with contextlib.suppress(OSError):
            while True:
                stream.write(b"\0")
    return path


def remount_read_only(mountpoint: str) -> None:
    """Make a tmpfs of :func:`mounted_tmpfs` read-only (it is unmounted as usual)."""
    subprocess.run(["mount", "-o", "remount,ro", mountpoint], check=True)
