"""The progress bar only watches: with or without it, a run trains the same."""

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import list_checkpoints, load_checkpoint
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.progress import progress_bar

from .histories import without_times
from .terminals import run_in_terminal

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_RUN = ["--sample-size", "0.15", "--folds", "4"]  # about 160 training digits


class CountedIterations:
    """An iterable that counts the iterations started on it."""

    def __init__(self, items):
        self.items, self.started = list(items), 0

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        self.started += 1
        return iter(self.items)


@pytest.mark.parametrize("enabled", [True, None, False])
def test_the_bar_starts_one_iteration_and_yields_every_item(enabled, capsys):
    iterable = CountedIterations(range(5))
    assert list(progress_bar(iterable, "epoch 0", enabled)) == [0, 1, 2, 3, 4]
    assert iterable.started == 1
    shown = capsys.readouterr().err
    assert ("epoch 0" in shown) is (enabled is True)  # None: not a terminal here


def _record_worker_start(folder, worker_id):
    with open(os.path.join(folder, f"{os.getpid()}-{worker_id}"), "w"):
        pass


def _workers_run(tmp_path, progress):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    folder = tmp_path / f"workers-{progress}"
    folder.mkdir()
    manager = DataManager.from_numpy(
        train_inputs=x[:32], train_labels=y[:32], validation_inputs=x[32:],
        validation_labels=y[32:], batch_size=8, num_workers=2,
        worker_init_fn=functools.partial(_record_worker_start, str(folder)))
    torch.manual_seed(0)
    interface = DeepLearningInterface(model=torch.nn.Linear(4, 2), loss_name="CrossEntropyLoss",
                                      optimizer_name="SGD", learning_rate=0.1,
                                      progress=progress)
    history, _ = interface.training(manager, nb_epochs=3)
    return interface.model.state_dict(), history.to_dict(), len(os.listdir(folder))


@pytest.mark.subprocess
def test_a_bar_starts_no_extra_worker_pool_and_changes_no_result(tmp_path):
    weights, history, started = _workers_run(tmp_path, progress=True)
    plain_weights, plain_history, plain_started = _workers_run(tmp_path, progress=False)
    # one pool of 2 workers per loader and epoch: 3 epochs x (training, validation)
    assert started == plain_started == 3 * 2 * 2
    assert history == plain_history
    assert all(torch.equal(weights[name], plain_weights[name]) for name in weights)


# ---------------------------------------------------------------- the command line
def _train_command(output, *options):
    return [sys.executable, "-m", "pynet_cvae.cli", "train", "--output", str(output),
            *SMALL_RUN, *options]


def _run_state(output):
    """The final weights (every checkpoint kept) and the histories of a run."""
    last = list_checkpoints(str(output / "checkpoints"))[-1][2]
    weights = load_checkpoint(last)["model"]
    histories = {name: without_times(json.loads((output / name).read_text()))
                 for name in ("train.json", "validation.json")}
    return os.path.basename(last), weights, histories


def _assert_same_run(output, expected_output):
    name, weights, histories = _run_state(output)
    expected_name, expected_weights, expected_histories = _run_state(expected_output)
    assert name == expected_name
    assert histories == expected_histories
    for key, value in expected_weights.items():
        assert torch.equal(weights[key], value), f"weights {key!r} differ"


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory):
    """The default command (3 epochs on a few digits) with --quiet."""
    output = tmp_path_factory.mktemp("quiet") / "run"
    completed = subprocess.run(_train_command(output, "--epochs", "3", "--quiet"),
                               cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return output


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_command_in_a_terminal_trains_as_the_quiet_one(quiet_run, tmp_path):
    output = tmp_path / "terminal"
    status, shown = run_in_terminal(_train_command(output, "--epochs", "3"), cwd=REPOSITORY)
    assert status == 0, shown[-3000:]
    assert "fold 0, epoch 3/3" in shown and "it/s" in shown  # the bar was drawn
    assert "fold 0, epoch 3/3, validation: loss=" in shown
    lines = shown[:shown.index("Trained on")].replace("\r", "\n").splitlines()
    # the bar's lines hold "%|" (its rate reads "it/s" or, on a loaded machine, "s/it")
    epoch_lines = [line for line in lines if line.strip() and "%|" not in line]
    assert len(epoch_lines) >= 6 and max(map(len, epoch_lines)) <= 100  # 3 x 2 splits
    assert "Trained on digits for 3 epochs" in shown
    _assert_same_run(output, quiet_run)


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_quiet_run_killed_then_resumed_in_a_terminal_ends_as_the_straight_one(
        quiet_run, tmp_path):
    output = tmp_path / "killed"
    command = _train_command(output, "--epochs", "3", "--quiet", "--keep-last", "0")
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    first = output / "checkpoints" / "model_0_epoch_0.pth.sha256"  # epoch 0 saved
    while not first.exists() and process.poll() is None:
        time.sleep(0.02)
    time.sleep(random.Random(3).uniform(0.0, 0.05))  # a seeded moment in epoch 1
    process.send_signal(signal.SIGKILL)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, errors
    assert len(list_checkpoints(str(output / "checkpoints"))) < 3  # it had not ended
    status, shown = run_in_terminal(
        _train_command(output, "--epochs", "3", "--resume"), cwd=REPOSITORY)
    assert status == 0, shown[-3000:]
    assert "resuming from" in shown and "it/s" in shown
    _assert_same_run(output, quiet_run)
