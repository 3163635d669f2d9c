"""pynet-style scripts run as a user runs them: ``python script.py`` with CI_MODE set.

The scripts (``pynet_style/``) are written the way pynet's examples are: module-level
code, pynet's names and arguments, ``History.load`` of a ``.pkl`` path, matplotlib
figures. Each runs in a fresh folder holding small CIFAR-10 binary files.
"""

import ast
import os
import re
import subprocess
import sys

import pytest

from .. import cifar_data

HERE = os.path.join(os.path.dirname(__file__), "pynet_style")


def run_script(name, folder, per_file):
    cifar_data.write_folder(folder / "cifar", cifar_data.batches(per_file, separable=True))
    environment = dict(os.environ, CI_MODE="ON", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, os.path.join(HERE, name)], cwd=folder,
                            env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, result.stderr


@pytest.mark.subprocess
def test_an_optim_style_script_trains_reloads_its_history_and_predicts(tmp_path):
    output, log = run_script("optim_script.py", tmp_path, per_file=50)
    assert "Package version:" in output and "torch" in output
    epochs = ast.literal_eval(re.search(r"epochs: (\[.*\])", output).group(1))
    assert [epoch for epoch, _, _ in epochs] == [0, 1, 2]
    assert all(scheduler is None for _, scheduler, _ in epochs)
    table = output[output.index("step"):].splitlines()
    assert table[0].split() == ["step", "loss", "accuracy"] and len(table) >= 5
    assert "train (0, 2): loss=" in log  # setup_logging shows each epoch's summary
    accuracy = float(re.search(r"accuracy\s+([0-9.]+)\s+\d+\n", output).group(1))
    assert accuracy > 0.3  # ten separable classes, three short epochs
    assert "figures: 2" in output
    saved = sorted(os.listdir(tmp_path / "checkpoints"))
    assert "train_0_epoch_2.json" in saved and "model_0_epoch_2.pth" in saved
    assert not [name for name in saved if name.endswith(".pkl")]


@pytest.mark.subprocess
def test_a_dataset_style_script_configures_loads_and_plots(tmp_path):
    output, _ = run_script("dataset_script.py", tmp_path, per_file=20)
    assert "Dependencies:" in output and "Nb folds: 4" in output
    assert "Inputs: (8, 3, 32, 32)" in output and "Outputs: None" in output
    assert "Labels: (8,)" in output and "figures: 2" in output
    assert re.search(r"Rows: 81 27 120", output)
