import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.plugins.cvae import CVAE


def test_train_writes_checkpoints_histories_and_sample_grids(tmp_path, capsys):
    output = tmp_path / "run"
    status = main(["train", "--output", str(output), "--epochs", "3", "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "Trained the CVAE on digits for 3 epochs" in printed
    assert "final validation: loss" in printed
    for epoch in range(3):
        assert (output / "samples" / f"sampling_fold0_epoch{epoch}.png").exists()
    history = json.loads((output / "validation.json").read_text())
    assert len(history["steps"]) == 3 and "VAELoss" in history["values"]
    with open(output / "history.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["split"], row["epoch"]) for row in rows] == [
        ("train", "0"), ("train", "1"), ("train", "2"),
        ("validation", "0"), ("validation", "1"), ("validation", "2")]
    checkpoint = load_checkpoint(str(output / "checkpoints" / "model_0_epoch_2.pth"))
    model = CVAE(input_dim=64, hidden_dim=128, latent_dim=20, n_classes=10)
    model.load_state_dict(checkpoint["model"])
    assert checkpoint["epoch"] == 2


def test_train_options_reach_the_model(tmp_path):
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), "--epochs", "1", "--hidden-dim", "16",
                 "--latent-dim", "3", "--quiet"]) == 0
    weights = load_checkpoint(str(output / "checkpoints" / "model_0_epoch_0.pth"))["model"]
    assert weights["encoder.mu.weight"].shape == torch.Size([3, 16])


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "expected an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "cifar"])
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
    assert main(["train", "--dataset", "mnist", "--output", str(tmp_path)]) == 1
    assert "--dataset mnist needs --datasetdir" in capsys.readouterr().err


@pytest.mark.subprocess
def test_the_console_script_runs(tmp_path):
    executable = shutil.which("pynet-cvae", path=os.path.dirname(sys.executable))
    assert executable, "the pynet-cvae console script is not installed beside python"
    result = subprocess.run([executable, "train", "--output", str(tmp_path / "run"),
                             "--epochs", "1", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "sample grid:" in result.stdout
