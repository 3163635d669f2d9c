"""The board, against a real Visdom server: plots read back from the server."""

import json
import os
import signal
import time
import types
import warnings

import numpy as np
import pytest
import torch

from pynet_cvae.plotting import Board, BoardObserver, is_visdom_server, update_board

from ..servers import free_port, window_data, window_names


class Signal:
    """A signal object as the observable emits it."""

    def __init__(self, emitter, name, **values):
        self.object = emitter
        self.signal = name
        self.keys = list(values)
        for key, value in values.items():
            setattr(self, key, value)


def traces(board, win):
    """Return ``{trace name: (x, y)}`` of a line window, read from the server."""
    data = window_data(board.viewer, win, board.env)["content"]["data"]
    return {trace["name"]: (trace["x"], trace["y"]) for trace in data}


def line_points(board, win, trace=None):
    """Return the (x, y) points of a trace (by default the window's own)."""
    return traces(board, win)[trace or win]


@pytest.fixture
def board(visdom_server, env_name):
    """A board on the shared server, in an environment of the test's own."""
    board = Board(port=visdom_server.port, env=env_name)
    yield board
    board.close()


def to_images(predictions):
    """Turn flat 8 x 8 predictions into N x 1 x 8 x 8 images in [0, 255]."""
    return predictions[:3].reshape(-1, 1, 8, 8) * 255


@pytest.mark.visdom
def test_board_starts_a_server_when_none_answers_and_stops_it(env_path):
    port = free_port()
    assert not is_visdom_server("http://localhost", port)
    board = Board(port=port, env="started", env_path=env_path)
    try:
        assert board.server is not None and board.online
        assert is_visdom_server("http://localhost", port)
    finally:
        board.close()
    assert board.server.process.returncode is not None
    assert not is_visdom_server("http://localhost", port)


@pytest.mark.visdom
def test_board_leaves_a_server_it_did_not_start(visdom_server, env_name):
    board = Board(port=visdom_server.port, env=env_name)
    assert board.server is None
    board.close()
    assert visdom_server.running
    assert is_visdom_server("http://localhost", visdom_server.port)


@pytest.mark.visdom
def test_boards_on_one_port_share_the_server_they_started(env_path):
    port = free_port()
    first = Board(port=port, env="first", env_path=env_path)
    second = Board(port=port, env="second", env_path=env_path)
    try:
        assert second.server is first.server
        first.close()
        assert is_visdom_server("http://localhost", port)
        second.update_plots({"loss": 1.0}, 0)
        assert line_points(second, "loss") == ([0.0], [1.0])
    finally:
        first.close()
        second.close()
    assert not is_visdom_server("http://localhost", port)


@pytest.mark.visdom
def test_update_plots_appends_scalars_by_epoch(board):
    values = [1.0, np.float32(0.5), torch.tensor([0.25]), np.array([[0.125]])]
    for epoch, value in enumerate(values):
        board.update_plots({"loss": value, "accuracy": 0.5 + epoch}, epoch)
    assert line_points(board, "loss") == ([0, 1, 2, 3], [1.0, 0.5, 0.25, 0.125])
    assert line_points(board, "accuracy") == ([0, 1, 2, 3], [0.5, 1.5, 2.5, 3.5])
    window = window_data(board.viewer, "loss", board.env)
    assert window["title"] == "loss"
    assert window["content"]["layout"]["xaxis"]["title"] == "epoch"


@pytest.mark.visdom
def test_update_plots_skips_values_that_are_not_scalars(board):
    board.update_plots({"loss": 2.0, "weights": np.zeros(3), "name": "x",
                        "nothing": None, "val_pred": np.zeros((2, 1, 4, 4))}, 0)
    assert window_names(board.viewer, board.env) == {"loss"}


@pytest.mark.visdom
def test_a_new_board_clears_its_environment(board, visdom_server):
    board.update_plots({"loss": 2.0}, 0)
    again = Board(port=visdom_server.port, env=board.env)
    again.update_plots({"loss": 3.0}, 0)
    assert line_points(again, "loss") == ([0.0], [3.0])
    again.close()


@pytest.mark.visdom
def test_train_and_validation_values_share_a_plot(board):
    for epoch in range(3):
        board.update_plots({"loss": 3.0 - epoch, "val_loss": 4.0 - epoch,
                            "accuracy": 0.1 * epoch, "val_accuracy": 0.2 * epoch}, epoch)
    assert window_names(board.viewer, board.env) == {"loss", "accuracy"}
    assert traces(board, "loss") == {"loss": ([0, 1, 2], [3.0, 2.0, 1.0]),
                                     "val_loss": ([0, 1, 2], [4.0, 3.0, 2.0])}
    assert traces(board, "accuracy")["val_accuracy"] == ([0, 1, 2], [0.0, 0.2, 0.4])
    assert window_data(board.viewer, "loss", board.env)["content"]["layout"][
        "showlegend"] is True


@pytest.mark.visdom
def test_each_fold_has_its_own_traces(board):
    for fold in range(2):
        for epoch in range(2):
            board.update_plots({"loss": fold + epoch, "val_loss": 10.0 + fold}, epoch,
                               fold=fold)
    assert traces(board, "loss") == {
        "loss, fold 0": ([0, 1], [0.0, 1.0]), "val_loss, fold 0": ([0, 1], [10.0, 10.0]),
        "loss, fold 1": ([0, 1], [1.0, 2.0]), "val_loss, fold 1": ([0, 1], [11.0, 11.0])}


@pytest.mark.visdom
def test_a_non_finite_value_leaves_a_gap(board):
    board.update_plots({"loss": float("nan")}, 0)
    board.update_plots({"loss": 1.0}, 1)
    assert line_points(board, "loss") == ([0, 1], [None, 1.0])


@pytest.mark.visdom
def test_val_pred_is_shown_after_prepare_pred(visdom_server, env_name):
    board = Board(port=visdom_server.port, env=env_name, display_pred=True,
                  prepare_pred=to_images)
    predictions = np.random.default_rng(0).random((5, 64))
    board.update_plots({"val_pred": predictions, "loss": 1.0}, 3)
    window = window_data(board.viewer, "val_pred", env_name)
    assert window["type"] == "image"
    assert window["title"] == "validation predictions"
    assert window["content"]["caption"] == "validation, epoch 3"
    assert window_names(board.viewer, env_name) == {"loss", "val_pred"}
    board.close()


@pytest.mark.visdom
def test_val_pred_tensor_without_prepare_pred(visdom_server, env_name):
    board = Board(port=visdom_server.port, env=env_name, display_pred=True)
    board.update_plots({"val_pred": torch.rand(2, 3, 8, 8)}, 0)
    assert window_data(board.viewer, "val_pred", env_name)["type"] == "image"
    board.close()


@pytest.mark.visdom
@pytest.mark.parametrize("shape", [(4, 8, 8), (4, 2, 8, 8)])
def test_bad_prepare_pred_shape_is_a_clear_error(visdom_server, env_name, shape):
    board = Board(port=visdom_server.port, env=env_name, display_pred=True,
                  prepare_pred=lambda predictions: np.zeros(shape))
    with pytest.raises(ValueError, match=rf"prepare_pred .* got shape \({shape[0]}, "):
        board.update_plots({"val_pred": np.zeros((4, 64))}, 0)
    board.close()


@pytest.mark.visdom
def test_bad_val_pred_without_prepare_pred_names_its_shape(board):
    board.display_pred = True
    with pytest.raises(ValueError, match=r"val_pred .* got shape \(4, 64\)"):
        board.update_plots({"val_pred": np.zeros((4, 64))}, 0)


@pytest.mark.visdom
@pytest.mark.parametrize("scheduler_class", ["StepLR", "ReduceLROnPlateau"])
def test_update_board_sends_signal_values_and_learning_rate(board, scheduler_class):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    arguments = {"step_size": 1, "gamma": 0.5} if scheduler_class == "StepLR" else {}
    scheduler = getattr(torch.optim.lr_scheduler, scheduler_class)(optimizer, **arguments)
    interface = types.SimpleNamespace(board=board)
    for epoch in range(2):
        update_board(Signal(interface, "after_epoch", epoch=epoch, fold=0,
                            scheduler=scheduler, loss=torch.tensor(2.0 - epoch),
                            val_loss=3.0 - epoch, val_pred=np.zeros((2, 4))))
        optimizer.step()
        scheduler.step(*([1.0] if scheduler_class == "ReduceLROnPlateau" else []))
    assert window_names(board.viewer, board.env) == {"loss", "lr"}
    assert line_points(board, "loss", "loss, fold 0") == ([0, 1], [2.0, 1.0])
    assert line_points(board, "loss", "val_loss, fold 0") == ([0, 1], [3.0, 2.0])
    expected_lr = [0.1, 0.05] if scheduler_class == "StepLR" else [0.1, 0.1]
    assert line_points(board, "lr", "lr, fold 0") == ([0, 1], pytest.approx(expected_lr))
    assert window_data(board.viewer, "lr", board.env)["title"] == "learning rate"


@pytest.mark.visdom
def test_update_board_reads_the_learning_rate_of_the_optimizer(board):
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.002)
    interface = types.SimpleNamespace(board=board, optimizer=optimizer)
    update_board(Signal(interface, "after_epoch", epoch=0, fold=1, loss=1.0))
    assert line_points(board, "lr", "lr, fold 1") == ([0], [0.002])


@pytest.mark.visdom
def test_board_observer_sends_to_its_board_without_an_interface_attribute(board):
    interface = types.SimpleNamespace()
    observer = BoardObserver(board)
    observer(Signal(interface, "after_epoch", epoch=0, fold=0, loss=1.5))
    assert line_points(board, "loss", "loss, fold 0") == ([0], [1.5])
    with pytest.raises(AttributeError, match="BoardObserver\\(board\\)"):
        update_board(Signal(interface, "after_epoch", epoch=0, fold=0, loss=1.5))
    with pytest.raises(TypeError, match="BoardObserver needs a Board"):
        BoardObserver(object())


@pytest.mark.visdom
def test_every_window_has_a_distinct_title(board):
    board.show_config({"epochs": 3})
    board.update_plots({"loss": 1.0, "lr": 0.1, "learning rate": 2.0,
                        "configuration": 3.0}, 0)
    titles = [window_data(board.viewer, win, board.env)["title"]
              for win in window_names(board.viewer, board.env)]
    assert len(titles) == 5 and len(set(titles)) == 5
    assert {"loss", "learning rate", "configuration"} <= set(titles)
    assert traces(board, "metric configuration") == {"configuration": ([0], [3.0])}


@pytest.mark.visdom
def test_names_from_user_data_are_shown_as_text_not_markup(board):
    board.update_plots({"<lambda>": 1.0, "val_<lambda>": 2.0}, 0)
    window = window_data(board.viewer, "<lambda>", board.env)
    assert window["title"] == "<lambda>"  # a React text node: shown as is
    assert window["content"]["layout"]["title"] == "&lt;lambda&gt;"  # Plotly reads markup
    names = {trace["name"] for trace in window["content"]["data"]}
    assert names == {"&lt;lambda&gt;", "val_&lt;lambda&gt;"}
    board.show_config({"<b>key</b>": "<script>alert(1)</script>"})
    content = window_data(board.viewer, "configuration", board.env)["content"]
    assert "<script>" not in content and "<b>key" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


@pytest.mark.parametrize("env", ["", "../outside", "a/b", "<b>env</b>", ".hidden"])
def test_bad_environment_names_are_refused(env):
    with pytest.raises(ValueError, match="env must be"):
        Board(port=free_port(), env=env)


def test_update_board_without_a_board_is_a_clear_error():
    signal = Signal(types.SimpleNamespace(), "after_epoch", epoch=0, loss=1.0)
    with pytest.raises(AttributeError, match="interface.board = Board"):
        update_board(signal)


def test_a_remote_host_needs_allow_remote():
    with pytest.raises(ValueError, match="allow_remote=True"):
        Board(port=free_port(), host="http://127.0.0.2")


def test_login_needs_its_environment_variables(monkeypatch):
    monkeypatch.delenv("VISDOM_USERNAME", raising=False)
    monkeypatch.setenv("VISDOM_PASSWORD", "secret")
    with pytest.raises(ValueError, match="VISDOM_USERNAME"):
        Board(port=free_port(), host="http://127.0.0.2", allow_remote=True, login=True)


def test_unreachable_remote_host_warns_once_and_records_everything(tmp_path):
    log = tmp_path / "board.jsonl"
    with pytest.warns(RuntimeWarning, match="no Visdom server answers") as record:
        board = Board(port=free_port(), host="http://127.0.0.2", env="remote",
                      display_pred=True, timeout=1.0, replay_log=str(log),
                      allow_remote=True)
        board.update_plots({"loss": 1.0, "val_pred": np.zeros((2, 1, 4, 4))}, 0)
        board.viewer.images(np.zeros((2, 1, 4, 4)), win="sampling")
        update_board(Signal(types.SimpleNamespace(board=board), "after_epoch",
                            epoch=1, fold=0, loss=0.5))
        board.close()
    assert len(record) == 1
    assert board.server is None and not board.online
    assert [window for _, window in logged(log)] == ["loss", "val_pred", "sampling",
                                                     "loss"]


def logged(log):
    """Return the (endpoint, window) of each line of a replay log."""
    return [(endpoint, message["win"]) for endpoint, message in
            map(json.loads, log.read_text().splitlines())]


@pytest.mark.visdom
def test_losing_the_server_warns_once_and_records_everything(env_path, tmp_path):
    log = tmp_path / "board.jsonl"
    board = Board(port=free_port(), env="lost", env_path=env_path, replay_log=str(log))
    board.update_plots({"loss": 1.0}, 0)
    assert board.flush() and board.online
    board.server.process.kill()
    board.server.process.wait()
    with pytest.warns(RuntimeWarning, match="stopped answering") as record:
        board.update_plots({"loss": 0.5}, 1)
        board.viewer.images(np.zeros((2, 1, 4, 4)), win="sampling")
        board.flush()
        board.update_plots({"loss": 0.25}, 2)
        board.close()
    assert len(record) == 1 and not board.online
    assert logged(log) == [("events", "loss"), ("update", "loss"), ("events", "sampling"),
                           ("update", "loss")]


@pytest.mark.visdom
def test_a_frozen_server_does_not_block_the_training(env_path, tmp_path):
    board = Board(port=free_port(), env="frozen", env_path=env_path, timeout=1.0,
                  replay_log=str(tmp_path / "board.jsonl"))
    os.kill(board.server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.warns(RuntimeWarning, match="stopped answering") as record:
            for epoch in range(30):
                board.update_plots({"loss": 1.0 / (epoch + 1), "val_loss": 1.0}, epoch)
                board.viewer.images(np.zeros((2, 1, 8, 8)), win="sampling")
            board.flush()
        # one request waits its timeout, then the board stops sending: far less than
        # the 60 s of 60 requests each waiting it, even on a loaded machine
        assert time.monotonic() - started < 20 * board.timeout
        assert len(record) == 1 and not board.online
    finally:
        os.kill(board.server.process.pid, signal.SIGCONT)
        board.close()
    assert len(logged(tmp_path / "board.jsonl")) == 90


def test_closing_twice_and_updating_after_close_are_harmless():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        board = Board(port=free_port(), host="http://127.0.0.2", timeout=1.0,
                      allow_remote=True)
        board.close()
        board.close()
        board.update_plots({"loss": 1.0}, 0)
    assert len(record) == 1
