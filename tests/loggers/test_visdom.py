"""VisdomLogger against a real Visdom server: the board as update_board draws it."""

import functools

import numpy as np
import pytest

from pynet_cvae.loggers import VisdomLogger
from pynet_cvae.plotting import Board, update_board
from pynet_cvae.plotting.values import images_from_flat

from ..servers import window_data, window_names
from .conftest import IMAGE_SHAPE, cvae_interface

pytestmark = pytest.mark.visdom


def board(server, env):
    return Board(port=server.port, env=env, display_pred=True,
                 prepare_pred=functools.partial(images_from_flat, image_shape=IMAGE_SHAPE))


def lines(board_, window):
    data = window_data(board_.viewer, window, board_.env)["content"]["data"]
    return {trace["name"]: (trace["x"], trace["y"]) for trace in data}


@pytest.mark.slow
def test_the_logger_draws_what_update_board_draws(visdom_server, manager, request):
    name = request.node.name
    with board(visdom_server, f"{name}-observer") as reference:
        interface = cvae_interface(seed=1)
        interface.board = reference
        interface.add_observer("after_epoch", update_board)
        interface.training(manager, nb_epochs=2, fold_index=0)
        reference.flush()
        expected = {window: lines(reference, window)
                    for window in ("loss", "ClassificationLoss", "VAELoss", "lr")}

    logger = VisdomLogger(board(visdom_server, f"{name}-logger"),
                          hyperparameters={"epochs": 2})
    interface = cvae_interface(logger, seed=1)
    interface.training(manager, nb_epochs=2, fold_index=0)
    logger.flush()
    shown = logger.board
    for window, traces in expected.items():
        assert lines(shown, window) == traces
    assert lines(shown, "loss")["val_loss, fold 0"][0] == [0, 1]
    assert {"val_pred", "sampling", "configuration"} <= window_names(shown.viewer, shown.env)
    sampling = window_data(shown.viewer, "sampling", shown.env)
    assert sampling["title"] == "sampling (epoch 1)"
    configuration = window_data(shown.viewer, "configuration", shown.env)["content"]
    assert "<th>epochs</th><td>2</td>" in configuration
    assert "<th>model</th><td>CVAE</td>" in configuration
    logger.close()


def test_per_step_scalars_text_and_images(visdom_server, request):
    with VisdomLogger(board(visdom_server, request.node.name)) as logger:
        for step in range(3):
            logger.log_scalars({"loss": float(step)}, step=step, axis="step")
        logger.log_text("notes", "<b>not markup</b>")
        logger.log_images("grid", np.ones((2, 4, 4)), step=5)
        logger.flush()
        shown = logger.board
        assert lines(shown, "loss per step") == {"loss, fold 0": ([0, 1, 2], [0, 1, 2])}
        notes = window_data(shown.viewer, "notes", shown.env)["content"]
        assert "&lt;b&gt;not markup&lt;/b&gt;" in notes
        assert window_data(shown.viewer, "grid", shown.env)["title"] == "grid (epoch 5)"


def test_a_logger_needs_a_board():
    with pytest.raises(TypeError, match="expected a pynet_cvae.plotting.Board"):
        VisdomLogger("http://localhost:8097")
