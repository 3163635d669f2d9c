"""Replay logs: written by a board whatever the server does, replayed into a real server."""

import pytest

from pynet_cvae.cli import main
from pynet_cvae.plotting import Board, read_replay_log, replay_log

from ..servers import free_port, window_data, window_names


def offline_run(log, epochs=3):
    """Record a run of ``epochs`` epochs with no server to send it to."""
    with pytest.warns(RuntimeWarning, match="no Visdom server answers"):
        board = Board(port=free_port(), host="http://127.0.0.2", env="recorded",
                      timeout=1.0, replay_log=str(log), allow_remote=True)
    board.show_config({"epochs": epochs})
    for epoch in range(epochs):
        board.update_plots({"loss": 10.0 - epoch, "val_loss": 11.0 - epoch}, epoch, fold=0)
    board.close()


def loss_traces(viewer, env):
    data = window_data(viewer, "loss", env)["content"]["data"]
    return {trace["name"]: (trace["x"], trace["y"]) for trace in data}


def test_a_log_is_read_back_in_order(tmp_path):
    log = tmp_path / "board.jsonl"
    offline_run(log)
    messages = read_replay_log(str(log))
    assert [message["win"] for _, message in messages] == ["configuration"] + ["loss"] * 6
    assert messages[1][0] == "events" and all(endpoint == "update"
                                              for endpoint, _ in messages[2:])


def test_a_cut_short_last_line_is_skipped_with_a_warning(tmp_path):
    log = tmp_path / "board.jsonl"
    offline_run(log)
    complete = log.read_text()
    log.write_text(complete + '["update", {"data": [{"x": [3.0')
    with pytest.warns(RuntimeWarning, match="last line .* cut short"):
        messages = read_replay_log(str(log))
    assert len(messages) == 7


def test_a_bad_line_inside_the_log_names_its_number(tmp_path):
    log = tmp_path / "board.jsonl"
    log.write_text('["events", {"win": "a"}]\nnot json\n["events", {"win": "b"}]\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_replay_log(str(log))
    log.write_text('["delete_env", {"win": "a"}]\n')
    with pytest.raises(ValueError, match="line 1: expected"):
        read_replay_log(str(log))


@pytest.mark.visdom
def test_an_offline_run_is_replayed_into_a_server(tmp_path, visdom_server, env_name):
    log = tmp_path / "board.jsonl"
    offline_run(log)
    assert replay_log(str(log), port=visdom_server.port, env=env_name) == 7
    board = Board(port=visdom_server.port, env=env_name, clear_env=False)
    assert window_names(board.viewer, env_name) == {"configuration", "loss"}
    assert loss_traces(board.viewer, env_name) == {
        "loss, fold 0": ([0, 1, 2], [10.0, 9.0, 8.0]),
        "val_loss, fold 0": ([0, 1, 2], [11.0, 10.0, 9.0])}
    # Replaying again shows the same run, not the points twice.
    replay_log(str(log), port=visdom_server.port, env=env_name)
    assert loss_traces(board.viewer, env_name)["loss, fold 0"] == ([0, 1, 2],
                                                                   [10.0, 9.0, 8.0])
    board.close()


@pytest.mark.visdom
def test_the_replay_command_sends_a_log(tmp_path, visdom_server, env_name, capsys):
    log = tmp_path / "board.jsonl"
    offline_run(log, epochs=2)
    code = main(["board", "replay", str(log), "--port", str(visdom_server.port),
                 "--env", env_name])
    assert code == 0
    assert "Replayed 5 updates" in capsys.readouterr().out
    board = Board(port=visdom_server.port, env=env_name, clear_env=False)
    assert loss_traces(board.viewer, env_name)["loss, fold 0"] == ([0, 1], [10.0, 9.0])
    board.close()


def test_replaying_without_a_server_is_a_clear_error(tmp_path, capsys):
    log = tmp_path / "board.jsonl"
    offline_run(log, epochs=1)
    port = free_port()
    with pytest.raises(ConnectionError, match="no Visdom server answers"):
        replay_log(str(log), port=port)
    assert main(["board", "replay", str(log), "--port", str(port)]) == 1
    assert "pynet-cvae board serve" in capsys.readouterr().err


def test_replaying_to_a_remote_host_needs_allow_remote(tmp_path):
    log = tmp_path / "board.jsonl"
    log.write_text("")
    with pytest.raises(ValueError, match="allow_remote"):
        replay_log(str(log), host="http://127.0.0.2")
