"""The board, against a real Visdom server: plots read back from the server."""

import types
import warnings

import numpy as np
import pytest
import torch

from pynet_cvae.plotting import Board, is_visdom_server, update_board

from ..servers import free_port, window_data, window_names


class Signal:
    """A signal object as the observable emits it."""

    def __init__(self, emitter, name, **values):
        self.object = emitter
        self.signal = name
        self.keys = list(values)
        for key, value in values.items():
            setattr(self, key, value)


def line_points(board, win):
    """Return the (x, y) points of a line window, read from the server."""
    trace = window_data(board.viewer, win, board.env)["content"]["data"][0]
    return trace["x"], trace["y"]


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
def test_val_pred_is_shown_after_prepare_pred(visdom_server, env_name):
    board = Board(port=visdom_server.port, env=env_name, display_pred=True,
                  prepare_pred=to_images)
    predictions = np.random.default_rng(0).random((5, 64))
    board.update_plots({"val_pred": predictions, "loss": 1.0}, 3)
    window = window_data(board.viewer, "val_pred", env_name)
    assert window["type"] == "image"
    assert window["title"] == "val_pred"
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
    assert window_names(board.viewer, board.env) == {"loss", "val_loss", "lr"}
    assert line_points(board, "loss") == ([0, 1], [2.0, 1.0])
    assert line_points(board, "val_loss") == ([0, 1], [3.0, 2.0])
    expected_lr = [0.1, 0.05] if scheduler_class == "StepLR" else [0.1, 0.1]
    assert line_points(board, "lr") == ([0, 1], pytest.approx(expected_lr))


def test_update_board_without_a_board_is_a_clear_error():
    signal = Signal(types.SimpleNamespace(), "after_epoch", epoch=0, loss=1.0)
    with pytest.raises(AttributeError, match="interface.board = Board"):
        update_board(signal)


def test_unreachable_remote_host_warns_once_and_goes_on(tmp_path):
    log = tmp_path / "board.log"
    with pytest.warns(RuntimeWarning, match="no Visdom server answers") as record:
        board = Board(port=free_port(), host="http://127.0.0.2", env="remote",
                      display_pred=True, timeout=1.0, offline_log=str(log))
        board.update_plots({"loss": 1.0, "val_pred": np.zeros((2, 1, 4, 4))}, 0)
        board.viewer.images(np.zeros((2, 1, 4, 4)), win="sampling")
        update_board(Signal(types.SimpleNamespace(board=board), "after_epoch",
                            epoch=1, fold=0, loss=0.5))
        board.close()
    assert len(record) == 1
    assert board.server is None and not board.online
    assert len(log.read_text().splitlines()) == 4


@pytest.mark.visdom
def test_losing_the_server_warns_once_and_goes_on(env_path, tmp_path):
    log = tmp_path / "board.log"
    board = Board(port=free_port(), env="lost", env_path=env_path,
                  offline_log=str(log))
    board.update_plots({"loss": 1.0}, 0)
    board.server.stop()
    with pytest.warns(RuntimeWarning, match="stopped answering") as record:
        board.update_plots({"loss": 0.5}, 1)
        board.viewer.images(np.zeros((2, 1, 4, 4)), win="sampling")
    assert len(record) == 1 and not board.online
    assert len(log.read_text().splitlines()) == 2
    board.close()


def test_closing_twice_and_updating_after_close_are_harmless():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        board = Board(port=free_port(), host="http://127.0.0.2", timeout=1.0)
        board.close()
        board.close()
        board.update_plots({"loss": 1.0}, 0)
    assert len(record) == 1
