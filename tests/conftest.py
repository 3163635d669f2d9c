"""Fixtures shared by the whole suite."""

from typing import Iterator

import pytest

from pynet_cvae.plotting.server import VisdomServer, start_server

from .servers import free_port


@pytest.fixture(scope="session")
def visdom_server(tmp_path_factory) -> Iterator[VisdomServer]:
    """A real Visdom server on a free port, shared by the session's tests."""
    env_path = tmp_path_factory.mktemp("visdom-env")
    server = start_server(free_port(), env_path=str(env_path), timeout=60)
    yield server
    server.stop()
