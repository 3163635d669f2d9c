"""Fixtures shared by the whole suite."""

from typing import Iterator

import pytest

from pynet_cvae.plotting.server import VisdomServer, start_server

from .servers import free_port


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Iterator[None]:
    """Keep the suite out of the user's cache and tracking server: data sets (the
    digits) and judges go to a fresh folder, and no MLflow run goes to a server an
    ``MLFLOW_*`` variable names, so a fresh machine and a used one run the same suite;
    child processes inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        for name in ("PYNET_CVAE_DATA", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def visdom_server(tmp_path_factory) -> Iterator[VisdomServer]:
    """A real Visdom server on a free port, shared by the session's tests."""
    env_path = tmp_path_factory.mktemp("visdom-env")
    server = start_server(free_port(), env_path=str(env_path), timeout=60)
    yield server
    server.stop()
