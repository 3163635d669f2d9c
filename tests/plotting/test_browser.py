"""End to end: a real CVAE training on a real board, looked at in a real browser.

How the page is loaded: :mod:`tests.plotting.browser`.

Set ``PYNET_CVAE_SCREENSHOTS=DIR`` to keep a PNG screenshot of the dashboard.
"""

import functools
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plotting import Board, read_replay_log, replay_log, update_board
from pynet_cvae.plotting.values import images_from_flat
from pynet_cvae.plugins.cvae import (
    CVAE,
    ClassificationLoss,
    ConditionalSampler,
    DecodeLoss,
    VAELoss,
)

from ..servers import free_port, window_data
from .browser import (chromium, keep_screenshot, legend_names, needs_chromium, pane_titles,
                      rendered_dom, wait_for_windows)

IMAGE_SHAPE = (8, 8)
BOARD_WINDOWS = {"loss", "lr", "ClassificationLoss", "VAELoss", "configuration",
                 "val_pred", "sampling"}
PANE_TITLES = {"loss", "learning rate", "ClassificationLoss", "VAELoss", "configuration",
               "validation predictions", "sampling (epoch 2)"}


def digits_manager(tmp_path, n_train=400, n_validation=100):
    """A small manager over scikit-learn's digits, flattened, inputs as targets."""
    item = fetch_digits(str(tmp_path / "digits"))
    images = np.load(item.input_path)
    labels = pd.read_csv(item.metadata_path, sep="\t")["label"].to_numpy()
    end = n_train + n_validation
    return DataManager.from_numpy(
        train_inputs=images[:n_train], train_labels=labels[:n_train],
        validation_inputs=images[n_train:end], validation_labels=labels[n_train:end],
        batch_size=64, input_transforms=[Flatten()], add_input=True)


def cvae_interface(board, *observers):
    """The tutorial's CVAE on 8 x 8 digits, with the board and its observers."""
    model = CVAE(input_dim=64, hidden_dim=64, latent_dim=4, n_classes=10)
    interface = DeepLearningInterface(
        model=model, optimizer_name="Adam", learning_rate=3e-3,
        metrics=[ClassificationLoss(), VAELoss()], loss=DecodeLoss(), progress=False)
    interface.board = board
    interface.add_observer("after_epoch", update_board)
    interface.add_observer("after_epoch", ConditionalSampler(image_shape=IMAGE_SHAPE))
    for observer in observers:
        interface.add_observer("after_epoch", observer)
    return interface


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.slow
@needs_chromium
def test_a_cvae_run_renders_in_a_real_browser(tmp_path, page_assets, server):
    board = Board(port=server.port, env="cvae_e2e", display_pred=True,
                  prepare_pred=functools.partial(images_from_flat, image_shape=IMAGE_SHAPE),
                  replay_log=str(tmp_path / "board.jsonl"))
    board.show_config({"model": "CVAE", "epochs": 3,
                       "note": "<script>document.title = 'injected'</script>"})
    interface = cvae_interface(board)
    interface.training(digits_manager(tmp_path), nb_epochs=3, fold_index=0)
    assert board.flush()
    assert BOARD_WINDOWS <= wait_for_windows(board.viewer, "cvae_e2e", BOARD_WINDOWS)
    board.close()
    url = f"http://127.0.0.1:{server.port}/env/cvae_e2e"
    dom = rendered_dom(url, tmp_path, PANE_TITLES)
    screenshot = tmp_path / "dashboard.png"
    chromium(url, tmp_path, f"--screenshot={screenshot}", "--window-size=1600,1000",
             budget_ms=20000)
    keep_screenshot(screenshot)

    assert PANE_TITLES <= pane_titles(dom)
    assert {"loss, fold 0", "val_loss, fold 0", "lr, fold 0"} <= legend_names(dom)
    assert 'class="js-line"' in dom  # Plotly drew the curves
    sampling = re.search(r'<img class="content-image[^>]*alt="rows: conditions; columns: '
                         r'latent vectors"[^>]*src="data:image/png;base64,', dom)
    assert sampling is not None, "the sampling grid is not on the page"
    assert "&lt;script&gt;document.title" in dom and "<title>visdom</title>" in dom
    assert screenshot.stat().st_size > 10_000


def kill_at_epoch(server, epoch_to_kill):
    """An observer that kills the server (SIGKILL) after the given epoch."""
    def observer(signal):
        if signal.epoch == epoch_to_kill:
            server.process.kill()
            server.process.wait()
    return observer


@pytest.mark.visdom
@pytest.mark.slow
def test_training_survives_the_server_dying_and_the_log_keeps_every_epoch(tmp_path,
                                                                          server):
    log = tmp_path / "board.jsonl"
    board = Board(port=server.port, env="dying", replay_log=str(log), timeout=2.0)
    interface = cvae_interface(board, kill_at_epoch(server, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_history, validation_history = interface.training(
            digits_manager(tmp_path, 200, 50), nb_epochs=5, fold_index=0)
        board.close()
    assert len(train_history["loss"][0]) == len(validation_history["loss"][0]) == 5
    lost = [str(warning.message) for warning in caught
            if "Visdom server" in str(warning.message)]
    assert len(lost) == 1 and "no longer sent" in lost[0] and str(log) in lost[0]

    points = {}
    for endpoint, message in read_replay_log(str(log)):
        if message["win"] == "loss":
            trace = message["data"][0]
            points.setdefault(trace["name"], []).extend(trace["x"])
    assert points == {"loss, fold 0": [0, 1, 2, 3, 4], "val_loss, fold 0": [0, 1, 2, 3, 4]}
    samplings = [message for _, message in read_replay_log(str(log))
                 if message["win"] == "sampling"]
    assert len(samplings) == 5

    # Replayed into a new server, the dashboard shows the whole run.
    with Board(port=free_port(), env="replayed", env_path=str(tmp_path / "new")) as new:
        replay_log(str(log), port=new.port, env="replayed")
        loss = window_data(new.viewer, "loss", "replayed")["content"]["data"]
        assert {trace["name"]: trace["x"] for trace in loss} == {
            "loss, fold 0": [0, 1, 2, 3, 4], "val_loss, fold 0": [0, 1, 2, 3, 4]}
