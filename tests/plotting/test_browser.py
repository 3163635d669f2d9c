"""End to end: a real CVAE training on a real board, looked at in a real browser.

The page is loaded by Debian's headless Chromium with a fresh profile and a
virtual-time budget (without it the DOM is dumped before the websocket delivers
the windows). The test first waits until the server holds every window, and dumps
the page again, with a longer budget, until it shows them all (a loaded machine
may need more than one try). The page's JavaScript comes from Visdom's static folder, where
``pynet-cvae board install-assets`` put it (the fixture installs it if needed,
which needs npm and the npm registry); nothing is fetched from the internet.

Set ``PYNET_CVAE_SCREENSHOTS=DIR`` to keep a PNG screenshot of the dashboard.
"""

import functools
import html
import os
import re
import shutil
import subprocess
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plotting import Board, read_replay_log, replay_log, update_board
from pynet_cvae.plotting.assets import AssetsError, install_assets, missing_assets
from pynet_cvae.plotting.server import start_server
from pynet_cvae.plotting.values import images_from_flat
from pynet_cvae.plugins.cvae import (
    CVAE,
    ClassificationLoss,
    ConditionalSampler,
    DecodeLoss,
    VAELoss,
)

from ..servers import free_port, window_data, window_names

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]
IMAGE_SHAPE = (8, 8)
BOARD_WINDOWS = {"loss", "lr", "ClassificationLoss", "VAELoss", "configuration",
                 "val_pred", "sampling"}
PANE_TITLES = {"loss", "learning rate", "ClassificationLoss", "VAELoss", "configuration",
               "validation predictions", "sampling (epoch 2)"}


def chromium(url, tmp_path, *flags, budget_ms=10000):
    """Run headless Chromium on ``url`` with a fresh profile; return its stdout."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}",
               f"--user-data-dir={profile}", *flags, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def rendered_dom(url, tmp_path, attempts=4):
    """The page's DOM once it shows every pane and Plotly's curves: dumped again with a
    doubled virtual-time budget while it does not (the last dump otherwise)."""
    for attempt in range(attempts):
        dom = chromium(url, tmp_path, "--dump-dom", budget_ms=10000 * 2 ** attempt)
        if PANE_TITLES <= pane_titles(dom) and 'class="js-line"' in dom:
            break
    return dom


def wait_for_windows(viewer, env, names, attempts=600):
    """Wait (0.1 s a try, a minute at most) until the server holds the windows ``names``
    of ``env``; return the names it holds."""
    held = set()
    for _ in range(attempts):
        held = window_names(viewer, env)
        if names <= held:
            break
        time.sleep(0.1)
    return held


def pane_titles(dom):
    """The window titles the page shows (the bar of each pane)."""
    return {html.unescape(title) for title in
            re.findall(r'class="bar">.*?<div class="pull-right">([^<]*)</div>', dom)}


def legend_names(dom):
    """The names in the Plotly legends of the page."""
    return {html.unescape(name) for name in
            re.findall(r'class="legendtext"[^>]*>([^<]*)</text>', dom)}


@pytest.fixture(scope="module")
def page_assets():
    """Visdom's page files, installed in its static folder (idempotent)."""
    if missing_assets():
        try:
            install_assets()
        except AssetsError as error:
            pytest.fail(f"the page's files are missing and cannot be installed: {error}"
                        "\nrun `pynet-cvae board install-assets` first")


@pytest.fixture
def server(tmp_path):
    """A Visdom server of the test's own (stopped at the end, even if killed)."""
    server = start_server(free_port(), env_path=str(tmp_path / "visdom-env"), timeout=60)
    yield server
    server.stop()


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


def keep_screenshot(path):
    folder = os.environ.get("PYNET_CVAE_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copy(path, os.path.join(folder, os.path.basename(path)))


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
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
    dom = rendered_dom(url, tmp_path)
    screenshot = tmp_path / "dashboard.png"
    chromium(url, tmp_path, f"--screenshot={screenshot}", "--window-size=1600,1000",
             budget_ms=20000)
    keep_screenshot(screenshot)

    assert PANE_TITLES <= pane_titles(dom)
    assert {"loss, fold 0", "val_loss, fold 0", "lr, fold 0"} <= legend_names(dom)
    assert 'class="js-line"' in dom  # Plotly drew the curves
    sampling = re.search(r'<img class="content-image[^>]*alt="rows: classes; columns: '
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
