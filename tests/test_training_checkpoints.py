"""Checkpoints written by training: bounded, safe on a full disk, and never a way in."""

import contextlib
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import (CheckpointWriteError, UnsafeCheckpointError,
                                   list_checkpoints, load_checkpoint, save_checkpoint)
from pynet_cvae.checkpointing import best_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.commands import command_modules
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface

from .filesystems import mounted_tmpfs

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def manager():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:16],
                                  validation_labels=y[:16], batch_size=16)


def make_interface(model=None, **kwargs):
    torch.manual_seed(0)
    return DeepLearningInterface(model=model or torch.nn.Linear(6, 2), optimizer_name="Adam",
                                 loss_name="CrossEntropyLoss", progress=False, **kwargs)


def test_keep_last_bounds_the_checkpoints_on_disk(manager, tmp_path):
    make_interface().training(manager, nb_epochs=5, checkpointdir=str(tmp_path), keep_last=2)
    assert [(fold, epoch) for fold, epoch, _ in list_checkpoints(str(tmp_path))] == [
        (0, 3), (0, 4)]
    assert {"initial_state.pth", "initial_state.pth.sha256", "train.json",
            "validation.json"} <= set(os.listdir(tmp_path))
    # pynet's per-checkpoint histories go with their checkpoints
    assert sorted(name for name in os.listdir(tmp_path) if "_epoch_" in name
                  and name.endswith(".json")) == [
        "train_0_epoch_3.json", "train_0_epoch_4.json", "validation_0_epoch_3.json",
        "validation_0_epoch_4.json"]
    with pytest.raises(ValueError, match="keep_last must be an integer >= 1, got 0"):
        make_interface().training(manager, nb_epochs=1, checkpointdir=str(tmp_path),
                                  keep_last=0)


def test_keep_best_also_keeps_the_checkpoint_of_lowest_validation_loss(manager, tmp_path):
    # gradient ascent: every epoch raises the loss, so epoch 0 stays the best one
    ascending = dict(learning_rate=0.05, maximize=True)
    kept = {}
    for keep_best in (False, True):
        folder = tmp_path / str(keep_best)
        interface = make_interface(**ascending)
        _, validation = interface.training(manager, nb_epochs=5, checkpointdir=str(folder),
                                           keep_last=2, keep_best=keep_best)
        losses = validation["loss"][1]
        assert losses == sorted(losses)
        kept[keep_best] = [epoch for _, epoch, _ in list_checkpoints(str(folder))]
        if keep_best:
            assert best_checkpoint(str(folder), validation) == str(
                folder / "model_0_epoch_0.pth")
    assert kept == {False: [3, 4], True: [0, 3, 4]}


class Wide(torch.nn.Module):
    """About 400 kB of weights, so that a few checkpoints fill a small disk."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(6, 16000)
        self.out = torch.nn.Linear(16000, 2)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 2 MiB tmpfs (needs root and mount; skipped elsewhere)."""
    with mounted_tmpfs(str(tmp_path / "small"), size="2m") as mountpoint:
        yield mountpoint


def test_a_full_disk_stops_training_clearly_and_keeps_the_last_checkpoint(
        manager, small_tmpfs):
    interface = make_interface(model=Wide(), optimizer=None)
    interface.optimizer = torch.optim.SGD(interface.model.parameters(), lr=0.01)
    with pytest.raises(CheckpointWriteError, match="No space left on device; the previous "
                                                   "checkpoints are kept") as error:
        interface.training(manager, nb_epochs=5, checkpointdir=small_tmpfs)
    assert isinstance(error.value, RuntimeError)
    assert not [name for name in os.listdir(small_tmpfs) if name.endswith(".part")]
    left = list_checkpoints(small_tmpfs)
    assert left, "the disk filled before the first checkpoint"
    for _, _, path in left:
        load_checkpoint(path)  # every checkpoint left is complete and verified
    assert f"model_0_epoch_{left[-1][1] + 1}.pth" in str(error.value)


# ---------------------------------------------------------------- malicious files
class Payload:
    """Unpickling this runs code that writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def plant(path, marker):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"format_version": 2, "model": Payload(marker), "optimizer": {},
                "fold": 0, "epoch": 0}, path)
    return path


def load_pretrained(directory):
    make_interface(pretrained=os.path.join(directory, "model_0_epoch_0.pth"))


def load_pretrained_to_resume(directory):
    make_interface(pretrained=os.path.join(directory, "model_0_epoch_0.pth"), resume=True)


def load_folder_to_resume(directory):
    make_interface(pretrained=directory, resume=True)


def resume_training(directory):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    manager = DataManager.from_numpy(train_inputs=x, train_labels=(x[:, 0] > 0).astype(int))
    make_interface().training(manager, nb_epochs=2, checkpointdir=directory, resume=True)


def resume_with_a_planted_initial_state(directory):
    os.remove(os.path.join(directory, "model_0_epoch_0.pth"))
    os.rename(os.path.join(directory, "initial_state.pth"),
              os.path.join(directory, "model_0_epoch_0.pth"))
    good = make_interface()
    save_checkpoint(os.path.join(directory, "model_0_epoch_0.pth"),
                    model=good.model.state_dict(), optimizer=good.optimizer.state_dict(),
                    fold=0, epoch=0)
    plant(os.path.join(directory, "initial_state.pth"), os.path.join(directory, "..", "pwned"))
    load_pretrained_to_resume(directory)


def cli_train_resume(directory):
    """``pynet-cvae train --resume``; its error message is raised again to be checked."""
    output = os.path.dirname(directory)
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        status = main(["train", "--output", output, "--epochs", "2", "--resume", "--quiet"])
    assert status == 1 and stderr.getvalue().startswith("pynet-cvae: error: ")
    raise UnsafeCheckpointError(stderr.getvalue())


LOADING_PATHS = [load_checkpoint, load_pretrained, load_pretrained_to_resume,
                 load_folder_to_resume, resume_training, resume_with_a_planted_initial_state,
                 cli_train_resume]


@pytest.mark.parametrize("load", LOADING_PATHS, ids=lambda load: load.__name__)
def test_a_malicious_checkpoint_is_refused_by_every_loading_path(tmp_path, load):
    marker = str(tmp_path / "pwned")
    directory = str(tmp_path / "run" / "checkpoints")
    path = plant(os.path.join(directory, "model_0_epoch_0.pth"), marker)
    shutil.copy(path, os.path.join(directory, "initial_state.pth"))
    argument = path if load is load_checkpoint else directory
    with pytest.raises(UnsafeCheckpointError, match="refusing to load .*it refers to "
                                                    "(builtins.)?exec.*nothing in it was run"):
        load(argument)
    assert not os.path.exists(marker)
    assert not os.path.exists(os.path.join(str(tmp_path / "run"), "pwned"))


@pytest.mark.subprocess
def test_the_console_script_refuses_a_malicious_checkpoint(tmp_path):
    marker = tmp_path / "pwned"
    plant(str(tmp_path / "run" / "checkpoints" / "model_0_epoch_3.pth"), str(marker))
    executable = shutil.which("pynet-cvae", path=os.path.dirname(sys.executable))
    result = subprocess.run([executable, "train", "--output", str(tmp_path / "run"),
                             "--epochs", "5", "--resume", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "pynet-cvae: error: refusing to load" in result.stderr
    assert "model_0_epoch_3.pth" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.mark.skipif("pynet_cvae.plugins.cvae.commands.sample" not in command_modules(),
                    reason="no `pynet-cvae sample` command")
def test_the_sample_command_refuses_a_malicious_checkpoint(tmp_path, capsys):
    from pynet_cvae.plugins.cvae import save_model_config

    marker = tmp_path / "pwned"
    checkpoints = str(tmp_path / "run" / "checkpoints")
    path = plant(os.path.join(checkpoints, "model_0_epoch_0.pth"), str(marker))
    save_model_config(checkpoints, "CVAE", {"input_dim": 64, "hidden_dim": 8,
                                            "latent_dim": 2, "n_classes": 10})
    for checkpoint in (path, str(tmp_path / "run")):
        assert main(["sample", "--checkpoint", checkpoint,
                     "--out", str(tmp_path / "grid.png")]) == 1
        assert "pynet-cvae: error: refusing to load" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "grid.png").exists()
