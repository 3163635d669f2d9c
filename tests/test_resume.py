"""Exact resume: a run interrupted anywhere and resumed ends as the uninterrupted one."""

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import (CorruptCheckpointError, checksum_path, list_checkpoints,
                                   load_checkpoint)
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.observers import EarlyStopping
from pynet_cvae.seeding import seed_everything

from . import resume_worker as worker
from .histories import without_times
from .threads import torch_threads

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, with every checkpoint kept."""
    directory = str(tmp_path_factory.mktemp("reference"))
    with torch_threads(1):
        interface, train_history, validation_history, observers = worker.train(
            directory, resume=False)
    worker.write_final(directory, interface, train_history, validation_history, observers)
    return directory


def final_state(directory):
    weights = torch.load(os.path.join(directory, "final", "weights.pth"), weights_only=True)
    with open(os.path.join(directory, "final", "state.json")) as stream:
        return weights, json.load(stream)


def assert_same_run(directory, reference):
    weights, state = final_state(directory)
    expected_weights, expected_state = final_state(reference)
    assert weights.keys() == expected_weights.keys()
    for name, tensor in expected_weights.items():
        assert torch.equal(weights[name], tensor), f"weights {name!r} differ"
    assert state == expected_state  # histories, observer states and learning rate


def copy_run_until(reference, target, last):
    """A checkpoint folder as a run killed just after checkpoint ``last`` leaves it."""
    checkpoints = os.path.join(target, "checkpoints")
    os.makedirs(checkpoints)
    shutil.copytree(os.path.join(reference, "data"), os.path.join(target, "data"))
    source = os.path.join(reference, "checkpoints")
    shutil.copy(os.path.join(source, "initial_state.pth"), checkpoints)
    for fold, epoch, path in list_checkpoints(source):
        if (fold, epoch) <= last:
            shutil.copy(path, checkpoints)
            shutil.copy(checksum_path(path), checkpoints)
    return checkpoints


def resume_in_process(directory):
    with torch_threads(1):
        interface, train_history, validation_history, observers = worker.train(
            directory, resume=True)
    worker.write_final(directory, interface, train_history, validation_history, observers)
    return interface


@pytest.mark.parametrize("last", [(0, 0), (0, 3), (0, 5), (1, 4)],
                         ids=["first-epoch", "mid-fold", "end-of-fold", "last-fold"])
def test_resuming_after_any_checkpoint_ends_like_the_uninterrupted_run(
        reference, tmp_path, last):
    copy_run_until(reference, str(tmp_path), last)
    resume_in_process(str(tmp_path))
    assert_same_run(str(tmp_path), reference)


def test_a_corrupted_last_checkpoint_is_reported_and_the_previous_one_used(
        reference, tmp_path, caplog):
    checkpoints = copy_run_until(reference, str(tmp_path), (1, 2))
    damaged = os.path.join(checkpoints, "model_1_epoch_2.pth")
    data = bytearray(open(damaged, "rb").read())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the tensor data
    open(damaged, "wb").write(bytes(data))
    truncated = os.path.join(checkpoints, "model_1_epoch_1.pth")
    data = open(truncated, "rb").read()
    open(truncated, "wb").write(data[: len(data) // 3])
    with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
        interface = resume_in_process(str(tmp_path))
    warnings = " ".join(record.getMessage() for record in caplog.records)
    assert "model_1_epoch_2.pth' is truncated or corrupted: its SHA-256 is" in warnings
    assert "model_1_epoch_1.pth' is truncated or corrupted" in warnings
    assert "using the previous good checkpoint" in warnings
    assert interface.last_checkpoint.endswith("model_1_epoch_7.pth")
    assert_same_run(str(tmp_path), reference)


def test_resume_with_no_checkpoint_starts_from_the_beginning(reference, tmp_path):
    os.makedirs(tmp_path / "checkpoints")
    shutil.copytree(os.path.join(reference, "data"), tmp_path / "data")
    resume_in_process(str(tmp_path))
    assert_same_run(str(tmp_path), reference)


def test_only_unusable_checkpoints_is_a_clear_error(reference, tmp_path):
    checkpoints = copy_run_until(reference, str(tmp_path), (0, 1))
    for name in ("model_0_epoch_0.pth", "model_0_epoch_1.pth"):
        with open(os.path.join(checkpoints, name), "r+b") as stream:
            stream.truncate(100)
    with pytest.raises(CorruptCheckpointError, match="no usable checkpoint in .*checkpoints"):
        worker.train(str(tmp_path), resume=True)


def test_resume_needs_a_checkpoint_folder(reference):
    interface, manager, _, _ = worker.build(reference)
    with pytest.raises(ValueError, match="resume=True needs checkpointdir"):
        interface.training(manager, nb_epochs=1, resume=True)


def test_resuming_another_fold_is_a_clear_error(reference, tmp_path):
    copy_run_until(reference, str(tmp_path), (1, 1))
    interface, manager, _, _ = worker.build(str(tmp_path))
    with pytest.raises(ValueError, match="checkpoint to resume from is at fold 1.*"
                                         "fold_index=1 or None"):
        interface.training(manager, nb_epochs=2, fold_index=0, resume=True,
                           checkpointdir=str(tmp_path / "checkpoints"))


def test_the_interface_resumes_from_a_folder(reference, tmp_path):
    checkpoints = copy_run_until(reference, str(tmp_path), (0, 5))
    interface, manager, scheduler, _ = worker.build(str(tmp_path))
    resumed = type(interface)(model=interface.model, loss_name="CrossEntropyLoss",
                              optimizer=interface.optimizer, pretrained=checkpoints,
                              resume=True, progress=False)
    assert resumed.last_checkpoint.endswith("model_0_epoch_5.pth")
    expected = load_checkpoint(os.path.join(checkpoints, "model_0_epoch_5.pth"))["model"]
    assert all(torch.equal(value, expected[name])
               for name, value in resumed.model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        type(interface)(model=interface.model, pretrained=str(tmp_path / "data"),
                        resume=True)


def test_a_fold_stopped_early_stays_stopped_after_resume(tmp_path):
    interface, manager, scheduler, _ = worker.build(str(tmp_path))
    stopper = EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    interface.add_observer("after_epoch", stopper)
    checkpoints = str(tmp_path / "checkpoints")
    train, _ = interface.training(manager, nb_epochs=6, checkpointdir=checkpoints,
                                  fold_index=0, save_after_epochs=5)
    assert train.steps == [(0, 0), (0, 1)] and stopper.stopped_epoch == 1
    assert load_checkpoint(os.path.join(checkpoints, "model_0_epoch_1.pth"))["stopped"]
    resumed, manager, _, _ = worker.build(str(tmp_path))
    resumed_stopper = EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    resumed.add_observer("after_epoch", resumed_stopper)
    train, _ = resumed.training(manager, nb_epochs=6, checkpointdir=checkpoints,
                                fold_index=0, resume=True)
    assert train.steps == [(0, 0), (0, 1)]
    assert resumed_stopper.state_dict() == stopper.state_dict()


def test_observers_attached_differently_are_a_clear_error(reference, tmp_path):
    copy_run_until(reference, str(tmp_path), (0, 2))
    interface, manager, scheduler, observers = worker.build(str(tmp_path))
    interface.remove_observer("after_epoch", observers["stopper"])
    interface.add_observer("after_epoch", observers["stopper"])  # now after "noisy"
    with pytest.raises(ValueError, match="observer after_epoch\\[0\\] is a .*NoisyObserver "
                                         "but the checkpoint holds the state of a .*"
                                         "EarlyStopping"):
        interface.training(manager, nb_epochs=6, scheduler=scheduler, resume=True,
                           checkpointdir=str(tmp_path / "checkpoints"))


# ---------------------------------------------------------------- a real SIGKILL
def start_worker(directory):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.resume_worker", directory, "--resume"],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def run_and_kill(directory, epochs, delay):
    """Start a resuming worker; SIGKILL it ``delay`` s after its ``epochs``-th epoch.

    Returns True if it was killed, False if it finished first.
    """
    process = start_worker(directory)
    for _ in range(epochs):
        if not process.stdout.readline():
            break
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return True
    assert process.returncode == 0, process.stderr.read()
    return False


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_run_killed_at_random_moments_resumes_exactly(reference, tmp_path):
    """SIGKILL the training process at random moments, resume each time, compare.

    The first kill lands anywhere in the start-up or the first epochs; the next ones a
    random time after a random number of further epochs: in training, validation, the
    observers or the writing of a checkpoint. The plan is seeded (the same every run);
    its delays are short enough that the first two kills land before the 16 epochs end
    even where an epoch takes 0.05 s (a slower machine only makes them land earlier).
    """
    seed = 20240612
    chooser = random.Random(seed)
    directory = str(tmp_path)
    plan = [(0, chooser.uniform(0.0, 0.3))]
    plan += [(chooser.randint(1, 2), chooser.uniform(0.0, 0.1)) for _ in range(3)]
    kills = []
    for epochs, delay in plan:
        if not run_and_kill(directory, epochs, delay):
            break
        kills.append((epochs, round(delay, 3),
                      len(list_checkpoints(os.path.join(directory, "checkpoints")))))
    context = (f"seed {seed}; kills (epochs seen, delay, checkpoints left): "
               f"{kills}")
    assert len(kills) >= 2, f"the run finished before the kills ({context})"
    process = start_worker(directory)
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, f"{errors} ({context})"
    leftovers = [name for name in os.listdir(os.path.join(directory, "checkpoints"))
                 if name.endswith(".part")]
    assert not leftovers, context
    try:
        assert_same_run(directory, reference)
    except AssertionError as error:
        raise AssertionError(f"{error} ({context})") from None


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]


@pytest.mark.parametrize("device", DEVICES)
def test_a_finished_run_resumed_with_more_epochs_matches_a_longer_run(tmp_path, device):
    """Also restores the GPU's random state (dropout draws from it on CUDA)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    manager = DataManager.from_numpy(train_inputs=x, train_labels=(x[:, 0] > 0).astype(int),
                                     validation_inputs=x[:16],
                                     validation_labels=(x[:16, 0] > 0).astype(int),
                                     batch_size=16)

    def run(directory, nb_epochs, resume=False):
        seed_everything(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Dropout(0.5),
                                    torch.nn.Linear(32, 2))
        interface = DeepLearningInterface(model=model, optimizer_name="Adam",
                                          loss_name="CrossEntropyLoss", device=device,
                                          progress=False)
        train, validation = interface.training(manager, nb_epochs, checkpointdir=directory,
                                               resume=resume, seed=1)
        return interface, train.to_dict(), validation.to_dict()

    longer = run(str(tmp_path / "longer"), 4)
    run(str(tmp_path / "shorter"), 2)
    extended = run(str(tmp_path / "shorter"), 4, resume=True)
    assert extended[1:] == longer[1:]
    for name, value in longer[0].model.state_dict().items():
        assert torch.equal(extended[0].model.state_dict()[name], value), name
    if device == "cuda":
        state = load_checkpoint(str(tmp_path / "shorter" / "model_0_epoch_3.pth"))
        assert len(state["rng"]["cuda"]) == torch.cuda.device_count()


def test_the_train_command_resumes_a_run_as_if_uninterrupted(tmp_path, capsys):
    from pynet_cvae.cli import main

    options = ["--quiet", "--sample-size", "0.3", "--folds", "3"]
    assert main(["train", "--output", str(tmp_path / "straight"), "--epochs", "3"]
                + options) == 0
    assert main(["train", "--output", str(tmp_path / "resumed"), "--epochs", "1"]
                + options) == 0
    assert main(["train", "--output", str(tmp_path / "resumed"), "--epochs", "3",
                 "--resume"] + options) == 0
    capsys.readouterr()
    for name in ("train.json", "validation.json"):
        assert (without_times(json.loads((tmp_path / "resumed" / name).read_text()))
                == without_times(json.loads((tmp_path / "straight" / name).read_text()))), name
    straight, resumed = (load_checkpoint(str(tmp_path / run / "checkpoints" /
                                             "model_0_epoch_2.pth"))["model"]
                         for run in ("straight", "resumed"))
    assert all(torch.equal(resumed[name], value) for name, value in straight.items())
