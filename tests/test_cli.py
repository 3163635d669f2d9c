import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from matplotlib.image import imread

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.plugins.cvae import CVAE, ConditionalCVAE, load_trained_model

from .threads import torch_threads

#: Small dense networks: the conditional recipe in seconds.
DENSE = ["--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
         "--model.hidden_dim", "32", "--quiet"]


def test_train_writes_checkpoints_histories_sample_grids_and_its_configuration(
        tmp_path, capsys):
    output = tmp_path / "run"
    status = main(["train", "--output", str(output), "--epochs", "3", "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "Trained on digits for 3 epochs" in printed
    assert "final validation: loss" in printed
    assert "recipe:           conditional (ConditionalCVAE)" in printed
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
    assert checkpoint["epoch"] == 2
    model, config = load_trained_model(str(output / "checkpoints" / "model_0_epoch_2.pth"))
    assert isinstance(model, ConditionalCVAE) and config["recipe"] == "conditional"
    assert config["dataset"] == "digits" and config["image_shape"] == [8, 8]
    assert model.config.encoder == "Conv2dTrunk"  # the recipe's default networks
    settings = json.loads((output / "run.json").read_text())
    assert settings["recipe"] == "conditional" and settings["epochs"] == 3
    assert settings["model"]["encoder"] == "Conv2dTrunk" and settings["learning_rate"] == 3e-3


def test_model_flags_reach_the_model_in_either_spelling(tmp_path):
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), "--epochs", "1", "--model.hidden-dim",
                 "16", "--model.latent_dim", "3", "--model.encoder", "DenseTrunk",
                 "--model.decoder", "DenseDecoder", "--batch-size", "32", "--quiet"]) == 0
    weights = load_checkpoint(str(output / "checkpoints" / "model_0_epoch_0.pth"))["model"]
    assert weights["encoder_head.mu.weight"].shape == torch.Size([3, 16])
    settings = json.loads((output / "run.json").read_text())
    assert settings["batch_size"] == 32 and settings["model"]["hidden_dim"] == 16


def test_a_gaussian_likelihood_trains_samples_and_evaluates(tmp_path, capsys):
    # the tutorial's VAELoss reads pixel probabilities: it has no meaning, and no place,
    # under Gaussian pixels, whose decoder gives unbounded means
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "1", "--model.likelihood",
                 "gaussian", *DENSE]) == 0
    history = json.loads((run / "validation.json").read_text())["values"]
    assert "VAELoss" not in history and "ClassifierAccuracy" in history
    assert {"reconstruction", "kl"} <= set(history)
    grid = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(run), "--out", str(grid), "--columns", "4"]) == 0
    assert imread(str(grid)).shape[0] > 0
    results = tmp_path / "results.json"
    with torch_threads(1):
        assert main(["evaluate", "--checkpoint", str(run), "--iw-samples", "5",
                     "--samples-per-class", "10", "--fidelity-samples", "0", "--json",
                     str(results), "--quiet"]) == 0
    values = json.loads(results.read_text())["run"]
    assert values["iw_nll"] <= values["neg_elbo"]


def test_the_tutorial_recipe_stays_available(tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["train", "--recipe", "tutorial", "--output", str(output), "--epochs", "2",
                 "--quiet"]) == 0
    assert "tutorial (CVAE)" in capsys.readouterr().out
    checkpoint = load_checkpoint(str(output / "checkpoints" / "model_0_epoch_1.pth"))
    model = CVAE(input_dim=64, hidden_dim=128, latent_dim=20, n_classes=10)
    model.load_state_dict(checkpoint["model"])
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--recipe", "tutorial", "--model.encoder", "Conv2dTrunk",
              "--output", str(tmp_path / "bad"), "--epochs", "1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "pynet-cvae train: error:" in error and "--model.encoder" in error
    assert len(error.strip().splitlines()) == 1


def test_sample_writes_a_grid_with_a_row_per_class(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "1", *DENSE]) == 0
    capsys.readouterr()
    out = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(run), "--out", str(out), "--columns", "5",
                 "--scale", "1"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert imread(str(out)).shape[:2] == (10 * 9 + 1, 5 * 9 + 1)
    chosen = tmp_path / "chosen.png"
    assert main(["sample", "--checkpoint", str(run), "--out", str(chosen), "--columns", "5",
                 "--scale", "1", "--acceptance-threshold", "0.2"]) == 0
    assert imread(str(chosen)).shape == imread(str(out)).shape
    assert main(["sample", "--checkpoint", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "no checkpoint file or directory" in capsys.readouterr().err


def test_evaluate_prints_the_table_and_writes_json(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "2", *DENSE]) == 0
    capsys.readouterr()
    results = tmp_path / "results.json"
    with torch_threads(1):  # the default judge trains in the call
        assert main(["evaluate", "--checkpoint", str(run), "--iw-samples", "5",
                     "--samples-per-class", "10", "--json", str(results), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "generation accuracy (judge)" in printed and "IW -log p(x)" in printed
    values = json.loads(results.read_text())["run"]
    assert values["test_images"] == 360 and values["recipe"] == "conditional"
    assert 0 <= values["generation_accuracy"] <= 1 and values["iw_nll"] > 0
    assert values["judge_test_accuracy"] > 0.9  # cached beside the digits for later runs
    assert values["acceptance_threshold"] == 0.0
    assert main(["evaluate", "--checkpoint", str(run), "--iw-samples", "0",
                 "--samples-per-class", "10", "--fidelity-samples", "0", "--json",
                 str(results), "--acceptance-threshold", "0.2", "--quiet"]) == 0
    assert json.loads(results.read_text())["run"]["acceptance_threshold"] == 0.2


def test_semi_supervised_training_hides_labels(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--recipe", "semi-supervised", "--output", str(run), "--epochs",
                 "1", "--labelled-per-class", "10", *DENSE]) == 0
    printed = capsys.readouterr().out
    assert "100 labelled training images" in printed
    assert "semi-supervised (SemiSupervisedCVAE)" in printed
    assert (run / "metadata_semi_supervised.tsv").exists()
    assert main(["train", "--output", str(tmp_path / "alone"), "--epochs", "1",
                 "--labelled-per-class", "10", "--labelled-only", "--classifier-only",
                 *DENSE]) == 0
    assert "(100 training /" in capsys.readouterr().out
    assert main(["train", "--output", str(tmp_path / "bad"), "--epochs", "1",
                 "--labelled-per-class", "10", *DENSE]) == 1
    assert "hidden labels need the semi-supervised recipe" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "tutorial", "--labelled-per-class", "10",
              "--output", str(tmp_path / "bad"), "--epochs", "1"])
    assert "--labelled_per_class" in capsys.readouterr().err


def test_semi_supervised_batches_mix_labels_and_pseudo_labels_train_the_classifier(
        tmp_path, capsys):
    run = tmp_path / "run"
    common = ["train", "--recipe", "semi-supervised", "--epochs", "1", "--batch-size", "30"]
    assert main([*common[:-2], "--output", str(run), "--epochs", "3",
                 "--labelled-per-class", "10", "--batch-size", "30", "--labelled-per-batch",
                 "10", "--lr-schedule", "cosine", "--learning-rate", "0.002",
                 "--model.pseudo_labels", "--model.pseudo_label_threshold", "0.3",
                 "--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
                 "--model.hidden_dim", "128", "--quiet"]) == 0
    assert "100 labelled training images" in capsys.readouterr().out
    history = json.loads((run / "train.json").read_text())["values"]
    assert history["pseudo_label"][-1] > 0  # confident guesses became targets
    checkpoint = load_checkpoint(str(run / "checkpoints" / "model_0_epoch_2.pth"))
    assert checkpoint["scheduler"]["T_max"] == 3 and checkpoint["scheduler"]["last_epoch"] == 3
    for extra, message, status in (  # 1: checked against the data; 2: when parsed
            (["--labelled-per-class", "10", "--labelled-per-batch", "30"],
             "--labelled_per_batch 30 must leave room for unlabelled images in batches of "
             "--batch_size 30", 1),
            (["--labelled-per-batch", "5"], "the semi-supervised recipe needs "
                                            "--labelled_per_class or --labelled_fraction", 2)):
        assert exit_status([*common, "--output", str(tmp_path / "bad"), *extra,
                            *DENSE]) == status
        assert message in capsys.readouterr().err


def test_resume_reads_the_run_configuration_before_writing_anything(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "1", *DENSE]) == 0
    saved = (run / "run.json").read_text()
    assert main(["train", "--output", str(run), "--epochs", "2", "--resume", *DENSE[:-3],
                 "--model.hidden_dim", "64", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "--resume would change the run" in error and "model.hidden_dim 32 -> 64" in error
    assert (run / "run.json").read_text() == saved
    assert not (run / "checkpoints" / "model_0_epoch_1.pth").exists()
    assert main(["train", "--output", str(run), "--epochs", "2", "--resume", *DENSE]) == 0
    assert (run / "checkpoints" / "model_0_epoch_1.pth").exists()


def exit_status(argv):
    """What ``pynet-cvae ARGV`` exits with (2 for a bad argument, 1 for a failure)."""
    try:
        return main(argv)
    except SystemExit as stopped:
        return stopped.code


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert exit_status(["train", "--epochs", "0", "--output", str(tmp_path / "a")]) == 2
    assert "--epochs: expected an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many"])
    assert exit_info.value.code == 2
    assert "epochs" in capsys.readouterr().err
    assert exit_status(["train", "--dataset", "cifar", "--output", str(tmp_path / "b")]) == 2
    assert "--dataset 'cifar' is neither one of" in capsys.readouterr().err
    assert main(["train", "--dataset", "mnist", "--output", str(tmp_path / "c")]) == 1
    assert "--dataset mnist needs --datasetdir" in capsys.readouterr().err
    assert main(["train", "--recipe", "big"]) == 1
    assert "--recipe 'big' is not a registered recipe" in capsys.readouterr().err
    assert main(["train", "--network", "Nothing"]) == 1
    assert "--network 'Nothing' is not a registered network" in capsys.readouterr().err


@pytest.mark.subprocess
def test_the_console_script_runs(tmp_path):
    executable = shutil.which("pynet-cvae", path=os.path.dirname(sys.executable))
    assert executable, "the pynet-cvae console script is not installed beside python"
    result = subprocess.run([executable, "train", "--output", str(tmp_path / "run"),
                             "--epochs", "1", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "sample grid:" in result.stdout


def test_one_fold_trains_on_every_image_and_reports_no_validation(tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), "--epochs", "1", "--folds", "1",
                 "--sample-size", "0.15", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "final validation: none (--folds 1: every image trains)" in printed
    assert not (output / "validation.json").exists()
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--output", str(tmp_path / "other"), "--folds", "1",
              "--early-stopping", "2", "--quiet"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--early-stopping watches the validation loss: it needs --folds 2" in error
    assert error.count("\n") == 1


@pytest.mark.subprocess
def test_the_console_script_prints_its_version():
    import pynet_cvae

    executable = shutil.which("pynet-cvae", path=os.path.dirname(sys.executable))
    result = subprocess.run([executable, "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"pynet-cvae {pynet_cvae.__version__}\n"
