"""A real ``tensorboard --logdir`` server on 127.0.0.1 shows a run's logs.

Its HTTP API serves every scalar of every epoch and the hyper-parameters with their
final values, and headless Chromium draws the training and validation curves of the
loss on one chart. Set ``PYNET_CVAE_SCREENSHOTS=DIR`` to keep the screenshot.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")

from pynet_cvae.loggers import TensorBoardLogger  # noqa: E402

from ..plotting.browser import chromium, keep_screenshot, needs_chromium  # noqa: E402
from ..servers import free_port  # noqa: E402
from .conftest import METRICS, cvae_interface, prepare_pred  # noqa: E402

TENSORBOARD = Path(sys.executable).with_name("tensorboard")
EPOCHS = 4
# TensorBoard's colours of the first two runs with scalars (fold0/train, fold0/validation)
TRAIN_BLUE, VALIDATION_RED = (0, 119, 187), (204, 51, 17)


def get(url, data=None):
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode())


def scalars(url, run, tag):
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    return get(f"{url}/data/plugin/scalars/scalars?{query}")


def wait_for_scalars(url, process, attempts=240):
    """Poll until the server has loaded every epoch (it loads in the background)."""
    for _ in range(attempts):
        assert process.poll() is None, process.stderr.read()
        try:
            if len(scalars(url, "fold0/validation", "loss")) == EPOCHS:
                return
        except (urllib.error.URLError, ConnectionError, ValueError):
            pass
        time.sleep(0.5)
    pytest.fail("the TensorBoard server did not serve the run's scalars")


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, digits):
    """A CVAE run of 4 epochs logged for TensorBoard; its histories."""
    from pynet_cvae.datasets import DataManager
    from pynet_cvae.datasets.transforms import Flatten

    images, labels = digits
    manager = DataManager.from_numpy(
        train_inputs=images[:160], train_labels=labels[:160],
        validation_inputs=images[160:200], validation_labels=labels[160:200],
        batch_size=32, input_transforms=[Flatten()], add_input=True)
    logdir = tmp_path_factory.mktemp("runs") / "cvae"
    interface = cvae_interface(TensorBoardLogger(logdir, prepare_pred=prepare_pred))
    train, validation = interface.training(manager, nb_epochs=EPOCHS, fold_index=0)
    return logdir, train, validation


@pytest.fixture(scope="module")
def server(logged_run, tmp_path_factory):
    """``tensorboard --logdir`` on the run, on 127.0.0.1 (its files kept in tmp)."""
    home = tmp_path_factory.mktemp("tensorboard-home")
    environment = {**os.environ, "HOME": str(home), "TMPDIR": str(home)}
    port = free_port()
    process = subprocess.Popen(
        [str(TENSORBOARD), "--logdir", str(logged_run[0]), "--host", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_scalars(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


@pytest.mark.http
@pytest.mark.subprocess
@pytest.mark.slow
def test_the_server_serves_every_scalar_and_the_hyperparameters(logged_run, server):
    _, train, validation = logged_run
    assert set(get(f"{server}/data/runs")) == {"fold0", "fold0/train", "fold0/validation"}
    tags = get(f"{server}/data/plugin/scalars/tags")
    assert set(tags["fold0/train"]) == {*METRICS, "lr"}
    assert set(tags["fold0/validation"]) == set(METRICS)
    for run, history in (("fold0/train", train), ("fold0/validation", validation)):
        for metric in METRICS:
            points = scalars(server, run, metric)  # [wall time, step, value]
            assert [step for _, step, _ in points] == list(range(EPOCHS))
            np.testing.assert_allclose([value for _, _, value in points],
                                       history[metric][1], rtol=1e-6)
    images = get(f"{server}/data/plugin/images/tags")
    assert set(images["fold0"]) == {"sampling", "val_pred"}

    groups = get(f"{server}/data/plugin/hparams/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 10,
        "allowedStatuses": ["STATUS_SUCCESS"], "colParams": []})["sessionGroups"]
    assert [group["name"] for group in groups] == ["fold0"]
    assert groups[0]["hparams"]["model"] == "CVAE"
    assert groups[0]["hparams"]["optimizer.lr"] == pytest.approx(3e-3)
    final = {(value["name"]["group"], value["name"]["tag"]): value["value"]
             for value in groups[0]["metricValues"]}
    assert final[("validation", "loss")] == pytest.approx(validation["loss"][1][-1], rel=1e-6)
    assert final[("train", "loss")] == pytest.approx(train["loss"][1][-1], rel=1e-6)


@pytest.mark.http
@pytest.mark.subprocess
@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_chromium_shows_the_training_and_validation_curves_on_one_chart(server, tmp_path):
    from matplotlib.image import imread

    page = f"{server}/#scalars&tagFilter=%5Eloss%24&_smoothingWeight=0"
    screenshot = tmp_path / "tensorboard.png"
    chromium(page, tmp_path, "--disable-quic", f"--screenshot={screenshot}",
             "--window-size=1600,1000")
    keep_screenshot(screenshot)
    pixels = np.round(imread(screenshot)[..., :3] * 255).astype(int)
    # The first chart (the loss, the only tag matching ^loss$) sits right of the
    # runs' sidebar, whose checkboxes also have the runs' colours: look there only.
    chart = pixels[150:450, 380:760]
    for colour in (TRAIN_BLUE, VALIDATION_RED):
        close = np.abs(chart - np.array(colour)).max(axis=-1) <= 40
        assert close.sum() >= 100, f"no curve of colour {colour} on the loss chart"
