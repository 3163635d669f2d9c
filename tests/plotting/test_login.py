"""Visdom's login: a real server started with login (still on 127.0.0.1 only)."""

import pytest

from pynet_cvae.plotting import Board, VisdomLoginError, VisdomServerError, start_server
from pynet_cvae.plotting.probe import is_visdom_server, requires_login
from pynet_cvae.plotting.server import server_command

from ..servers import free_port, window_data

USER, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture
def login_server(tmp_path, monkeypatch):
    """A server with login; its cookie secret lives in a temporary HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VISDOM_USERNAME", USER)
    monkeypatch.setenv("VISDOM_PASSWORD", PASSWORD)
    monkeypatch.delenv("VISDOM_COOKIE", raising=False)
    server = start_server(free_port(), env_path=str(tmp_path / "envs"), login=True,
                          timeout=60)
    yield server
    server.stop()


def test_listening_beyond_localhost_needs_the_login():
    with pytest.raises(ValueError, match="needs the login"):
        server_command(8097, listen_all=True)
    argv = server_command(8097, login=True, listen_all=True)
    assert "-enable_login" in argv and "-bind_local" not in argv
    assert "-bind_local" in server_command(8097, login=True)


def test_the_password_is_never_in_the_command(monkeypatch):
    monkeypatch.setenv("VISDOM_USERNAME", USER)
    monkeypatch.setenv("VISDOM_PASSWORD", PASSWORD)
    assert not any(PASSWORD in argument for argument in server_command(8097, login=True))


@pytest.mark.visdom
def test_a_board_logs_in_with_the_environment_credentials(login_server):
    credentials = (USER, PASSWORD)
    assert "-bind_local" in login_server.argv
    assert requires_login("http://127.0.0.1", login_server.port)
    assert not is_visdom_server("http://127.0.0.1", login_server.port)
    assert is_visdom_server("http://127.0.0.1", login_server.port, credentials=credentials)
    board = Board(port=login_server.port, env="private", login=True)
    board.update_plots({"loss": 1.0}, 0)
    assert window_data(board.viewer, "loss", "private")["title"] == "loss"
    assert PASSWORD not in repr(board) and PASSWORD not in repr(login_server)
    board.close()


@pytest.mark.visdom
def test_a_board_without_login_is_told_the_server_needs_one(login_server):
    with pytest.raises(VisdomServerError, match="with login answers .* VISDOM_USERNAME"):
        Board(port=login_server.port, env="private")


@pytest.mark.visdom
def test_a_wrong_password_is_a_clear_error_that_does_not_show_it(login_server, monkeypatch):
    assert requires_login("http://127.0.0.1", login_server.port)
    monkeypatch.setenv("VISDOM_PASSWORD", "wrong password")
    with pytest.raises(VisdomServerError, match="refused the login of user 'alice'"
                       ) as error:
        Board(port=login_server.port, env="private", login=True)
    assert "wrong password" not in str(error.value)
    assert "VISDOM_PASSWORD" in str(error.value)


@pytest.mark.visdom
def test_a_remote_board_is_told_about_the_login(login_server, monkeypatch):
    # 127.1 is 127.0.0.1 in short form: this machine, under a name the board
    # does not take for local.
    host = "http://127.1"
    with pytest.raises(VisdomLoginError, match="needs a login: pass login=True"):
        Board(port=login_server.port, host=host, allow_remote=True, timeout=2.0)
    monkeypatch.setenv("VISDOM_PASSWORD", "wrong password")
    with pytest.raises(VisdomLoginError, match="refused the login"):
        Board(port=login_server.port, host=host, allow_remote=True, login=True,
              timeout=2.0)
