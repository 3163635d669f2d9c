"""``pynet-cvae board ...`` and ``pynet-cvae train --board``, with real servers."""

import signal
import subprocess
import sys

import pytest

from pynet_cvae.cli import main
from pynet_cvae.plotting import Board, is_visdom_server, read_replay_log

from ..servers import free_port, window_data, window_names


@pytest.mark.visdom
@pytest.mark.slow
def test_train_with_board_shows_and_records_the_run(visdom_server, tmp_path, capsys):
    output = tmp_path / "run"
    code = main(["train", "--epochs", "2", "--board", "--port", str(visdom_server.port),
                 "--env", "train_board", "--output", str(output), "--quiet"])
    assert code == 0
    board = Board(port=visdom_server.port, env="train_board", clear_env=False)
    windows = window_names(board.viewer, "train_board")
    assert {"configuration", "loss", "lr", "val_pred", "sampling"} <= windows
    assert "val_loss" not in windows  # it is a trace of the loss plot
    loss = window_data(board.viewer, "loss", "train_board")["content"]["data"]
    assert {trace["name"]: trace["x"] for trace in loss} == {
        "loss, fold 0": [0, 1], "val_loss, fold 0": [0, 1]}
    config = window_data(board.viewer, "configuration", "train_board")["content"]
    assert "<th>epochs</th><td>2</td>" in config
    board.close()
    logged = {message["win"] for _, message in read_replay_log(str(output / "board.jsonl"))}
    assert logged == windows


def test_train_refuses_a_remote_board_without_allow_remote(tmp_path, capsys):
    code = main(["train", "--epochs", "1", "--board", "--host", "http://127.0.0.2",
                 "--output", str(tmp_path), "--quiet"])
    assert code == 1
    assert "allow_remote" in capsys.readouterr().err


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.visdom
@pytest.mark.subprocess
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_a_local_server_until_interrupted(tmp_path, stop_signal):
    port = free_port()
    command = [sys.executable, "-m", "pynet_cvae.cli", "board", "serve", "--port",
               str(port), "--env-path", str(tmp_path / "envs")]
    # A shell's background job ignores SIGINT, and children inherit it: restore it.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=_default_sigint)
    try:
        announced = process.stdout.readline()  # printed once the server answers
        assert f"http://localhost:{port}" in announced, process.communicate()[1]
        assert is_visdom_server("http://127.0.0.1", port)
        process.send_signal(stop_signal)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert not is_visdom_server("http://127.0.0.1", port)


def test_serve_refuses_to_listen_beyond_localhost_without_login(capsys):
    assert main(["board", "serve", "--port", str(free_port()), "--allow-remote"]) == 1
    assert "needs the login" in capsys.readouterr().err


@pytest.mark.visdom
def test_check_tells_whether_a_server_answers(visdom_server, capsys):
    main(["board", "check", "--port", str(visdom_server.port)])
    assert f"localhost:{visdom_server.port}: answers" in capsys.readouterr().out
    assert main(["board", "check", "--port", str(free_port())]) == 1
    assert "does not answer" in capsys.readouterr().out


def test_board_help_lists_its_actions(capsys):
    with pytest.raises(SystemExit):
        main(["board", "--help"])
    out = capsys.readouterr().out
    for action in ("install-assets", "serve", "replay", "check"):
        assert action in out
