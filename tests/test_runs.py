"""Run folders: one run per folder, one writer at a time, --resume with the same settings."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pynet_cvae.checkpoint import list_checkpoints, load_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.runs import CONFIG_FILE, RunFolder, RunFolderError, config_changes

from .histories import without_times

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_RUN = ["--sample-size", "0.15", "--folds", "4", "--quiet"]  # about 160 digits
SETTINGS = {"model": {"hidden": 512, "layers": [2, 3]}, "training": {"epochs": 3}}
OUTPUTS = ("checkpoints", "train.json")


def snapshot(folder):
    """Every file under ``folder`` with its bytes' hash and modification time."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as stream:
                digest = hashlib.sha256(stream.read()).hexdigest()
            files[os.path.relpath(path, folder)] = (digest, os.stat(path).st_mtime_ns)
    return files


def used_folder(tmp_path, settings=SETTINGS):
    """A folder holding a finished run: its settings, a checkpoint folder and a file of
    the user's."""
    path = tmp_path / "run"
    with RunFolder(str(path), settings, outputs=OUTPUTS):
        (path / "checkpoints").mkdir()
        (path / "checkpoints" / "model_0_epoch_0.pth").write_bytes(b"weights")
        (path / "train.json").write_text("{}")
    (path / "notes.txt").write_text("mine")
    return path


# ---------------------------------------------------------------- RunFolder
def test_a_fresh_folder_gets_the_settings_and_a_lock(tmp_path):
    path = tmp_path / "new" / "run"
    with RunFolder(str(path), SETTINGS, outputs=OUTPUTS) as folder:
        assert not folder.resumed and not folder.holds_run()
        assert json.loads((path / CONFIG_FILE).read_text()) == SETTINGS
    # settings alone (a run that failed before writing anything) are no run
    with RunFolder(str(path), {"model": {"hidden": 64}}, outputs=OUTPUTS):
        pass


def test_a_folder_holding_another_run_is_refused_in_one_line(tmp_path):
    path = used_folder(tmp_path)
    before = snapshot(path)
    with pytest.raises(RunFolderError) as error:
        RunFolder(str(path), SETTINGS, outputs=OUTPUTS).open()
    assert str(error.value) == (
        f"--output {str(path)!r} holds another run: pass --resume to continue it, "
        "--overwrite to replace it, or choose a new --output")
    assert snapshot(path) == before


def test_overwrite_removes_the_old_run_and_nothing_else(tmp_path):
    path = used_folder(tmp_path)
    with RunFolder(str(path), {"model": {"hidden": 64}}, overwrite=True, outputs=OUTPUTS):
        assert sorted(os.listdir(path)) == ["notes.txt", CONFIG_FILE, "run.lock"]
    assert json.loads((path / CONFIG_FILE).read_text()) == {"model": {"hidden": 64}}
    with pytest.raises(RunFolderError, match="--resume and --overwrite exclude each other"):
        RunFolder(str(path), SETTINGS, resume=True, overwrite=True)


def test_resume_refuses_a_changed_setting_and_changes_nothing(tmp_path):
    path = used_folder(tmp_path)
    before = snapshot(path)
    changed = {"model": {"hidden": 64, "layers": [2, 3], "dropout": 0.5},
               "training": {"epochs": 9}}
    with pytest.raises(RunFolderError) as error:
        RunFolder(str(path), changed, resume=True, outputs=OUTPUTS,
                  changeable=("training",)).open()
    assert str(error.value) == (
        f"--resume would change the run of {str(path)!r}: model.dropout (unset) -> 0.5, "
        "model.hidden 512 -> 64; keep its settings (in run.json), or pass --overwrite or "
        "a new --output to train another run")
    assert snapshot(path) == before
    longer = {"model": SETTINGS["model"], "training": {"epochs": 9}}
    with RunFolder(str(path), longer, resume=True, outputs=OUTPUTS,
                   changeable=("training.epochs",)) as folder:
        assert folder.resumed
    assert json.loads((path / CONFIG_FILE).read_text()) == longer


def test_a_path_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("data")
    with pytest.raises(RunFolderError, match=f"--output {str(path)!r} is a file, not a "
                                             "folder"):
        RunFolder(str(path), SETTINGS).open()
    with pytest.raises(NotADirectoryError) as raised:  # the CLI names it in one line
        RunFolder(str(path / "below"), SETTINGS, options={"path": "--path"}).open()
    assert raised.value.filename == str(path / "below")
    assert path.read_text() == "data"


def test_config_changes_name_nested_keys():
    assert config_changes({"a": {"b": 1, "c": [1]}, "d": "x"},
                          {"a": {"b": 2, "c": [1]}, "e": None}) == [
        ("a.b", 1, 2), ("d", "x", None)]


HOLDER = """
import sys
from pynet_cvae.runs import RunFolder
with RunFolder(sys.argv[1], {"model": 1}, outputs=("checkpoints",)):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.subprocess
def test_a_second_process_is_kept_out_while_a_run_writes(tmp_path):
    path = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=REPOSITORY,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(path)
        for resume in (False, True):
            with pytest.raises(RunFolderError) as error:
                RunFolder(str(path), {"model": 1}, resume=resume,
                          outputs=("checkpoints",)).open()
            assert str(error.value) == (
                f"another process is writing a run in {str(path)!r} (it holds run.lock): "
                "wait for it to end, or choose another --output")
        assert snapshot(path) == before
    finally:
        holder.communicate("\n", timeout=60)
    with RunFolder(str(path), {"model": 1}, resume=True, outputs=("checkpoints",)):
        pass  # the lock went with the process


# ---------------------------------------------------------------- pynet-cvae train
def _checkpoints(output):
    return [os.path.basename(path) for _, _, path in list_checkpoints(
        str(output / "checkpoints"))]


def test_training_into_a_used_folder_cannot_mix_runs(tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), "--epochs", "5", *SMALL_RUN]) == 0
    kept = _checkpoints(output)  # the 3 latest and the one of lowest validation loss
    assert kept[-3:] == [f"model_0_epoch_{epoch}.pth" for epoch in (2, 3, 4)]
    assert len(kept) in (3, 4)
    assert main(["export", "--checkpoint", str(output), "--format", "torchscript",
                 "--part", "generator"]) == 0  # the old model's export, inside the run
    assert (output / "export").is_dir()
    capsys.readouterr()
    assert main(["train", "--output", str(output), "--epochs", "2", *SMALL_RUN]) == 1
    assert capsys.readouterr().err == (
        f"pynet-cvae: error: --output {str(output)!r} holds another run: pass --resume to "
        "continue it, --overwrite to replace it, or choose a new --output\n")
    assert main(["train", "--output", str(output), "--epochs", "2", "--overwrite",
                 "--keep-last", "0", *SMALL_RUN]) == 0
    assert "checkpoint:       " + str(output / "checkpoints" / "model_0_epoch_1.pth") in \
        capsys.readouterr().out
    assert _checkpoints(output) == ["model_0_epoch_0.pth", "model_0_epoch_1.pth"]
    assert sorted(os.listdir(output / "samples")) == [
        "sampling_fold0_epoch0.png", "sampling_fold0_epoch1.png"]
    history = json.loads((output / "train.json").read_text())
    assert history["steps"] == [[0, 0], [0, 1]]
    assert not (output / "export").exists()  # no export of the replaced model is left


def test_a_refused_resume_changes_nothing(tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), "--epochs", "1", *SMALL_RUN]) == 0
    before = snapshot(output)
    capsys.readouterr()
    for change, named in ((["--model.hidden_dim", "64"], "model.hidden_dim 512 -> 64"),
                          (["--folds", "3"], "folds 4 -> 3"),
                          (["--seed", "7"], "seed 42 -> 7"),
                          (["--sample-size", "0.3"], "sample_size 0.15 -> 0.3"),
                          (["--batch-size", "16"], "batch_size 64 -> 16"),
                          (["--learning-rate", "0.1"], "learning_rate 0.003 -> 0.1"),
                          (["--lr-schedule", "cosine"], 'lr_schedule "constant" -> '
                                                        '"cosine"')):
        assert main(["train", "--output", str(output), "--epochs", "2", "--resume",
                     *SMALL_RUN, *change]) == 1
        error = capsys.readouterr().err
        assert named in error and error.count("\n") == 1, error
    assert snapshot(output) == before
    assert main(["sample", "--checkpoint", str(output), "--out", str(tmp_path / "grid.png")]) \
        == 0  # the run is still whole


@pytest.mark.subprocess
def test_a_second_train_into_a_folder_being_written_is_refused(tmp_path, capsys):
    output = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "pynet_cvae.cli", "train", "--output", str(output),
         "--epochs", "2", *SMALL_RUN], cwd=REPOSITORY, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        while not (output / CONFIG_FILE).exists() and first.poll() is None:
            time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)  # it holds the lock and cannot end meanwhile
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert main(["train", "--output", str(output), "--epochs", "2", *SMALL_RUN,
                         *extra]) == 1
            assert "another process is writing a run in" in capsys.readouterr().err
    finally:
        first.send_signal(signal.SIGCONT)
    printed, errors = first.communicate(timeout=600)
    assert first.returncode == 0, errors
    assert load_checkpoint(str(output / "checkpoints" / "model_0_epoch_1.pth"))["epoch"] == 1


@pytest.mark.subprocess
@pytest.mark.slow
def test_two_identical_commands_write_identical_files(tmp_path):
    def train(name):
        output = tmp_path / name
        completed = subprocess.run(
            [sys.executable, "-m", "pynet_cvae.cli", "train", "--output", str(output),
             "--epochs", "2", *SMALL_RUN], cwd=REPOSITORY, capture_output=True, text=True,
            timeout=600)
        assert completed.returncode == 0, completed.stderr
        return output

    first, second = train("first"), train("second")
    names = sorted(os.path.relpath(os.path.join(root, name), first)
                   for root, _, files in os.walk(first) for name in files)
    assert "checkpoints/model_0_epoch_1.pth" in names and "run.json" in names
    for name in names:
        if name == CONFIG_FILE:  # the same, but for the folder it names
            assert {**json.loads((first / name).read_text()), "output": None} == {
                **json.loads((second / name).read_text()), "output": None}
        elif name.endswith(".json") and "times" in json.loads((first / name).read_text()):
            assert without_times(json.loads((first / name).read_text())) == without_times(
                json.loads((second / name).read_text())), name  # the histories
        else:
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
