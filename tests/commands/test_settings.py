"""The typed configuration of ``pynet-cvae train``: flags, files, printing, reproducing."""

import json

import pytest
import torch
import yaml

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.commands.settings import (build_train_parser, normalise_arguments,
                                          parse_train_arguments)

DENSE = ["--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
         "--model.hidden_dim", "32", "--model.consistency_samples", "8", "--quiet"]


def test_flags_come_from_the_config_fields_and_their_docstrings():
    text = build_train_parser("conditional").format_help()
    # a common setting, a recipe option and a model field, each with its docstring
    assert "--epochs EPOCHS" in text and "Training epochs." in text
    assert "--kl_warmup KL_WARMUP" in text and "Raise the KL weight's scale" in text
    assert "--model.latent_dim LATENT_DIM" in text and "The latent dimension." in text
    assert "--model.input_dim" not in text  # set from the data
    prior = build_train_parser("prior").format_help()
    assert "--model.prior_hidden_dim" in prior and "prior network" in prior
    assert "--model.prior_hidden_dim" not in text
    tutorial = build_train_parser("tutorial").format_help()
    assert "--model.hidden_dim" in tutorial and "--model.encoder" not in tutorial
    assert "default: 0.001)" in tutorial  # the recipe's learning rate


def test_argument_spellings_and_boolean_flags():
    assert normalise_arguments(["--batch-size", "3", "--model.hidden-dim=8", "--quiet",
                                "--epochs", "2"], ["--quiet"]) == [
        "--batch_size", "3", "--model.hidden_dim=8", "--quiet", "true", "--epochs", "2"]
    assert normalise_arguments(["--quiet", "false", "--output", "my-run",
                                "--config", "a.yaml"], ["--quiet"]) == [
        "--config", "a.yaml", "--quiet", "false", "--output", "my-run"]


def test_loggers_repeat_the_flag_or_list_them_in_the_config_file(tmp_path, capsys):
    assert normalise_arguments(["--logger", "tensorboard", "--epochs", "2",
                                "--logger=mlflow"], [], ["--logger"]) == [
        "--logger", "[tensorboard, mlflow]", "--epochs", "2"]
    _, namespace = parse_train_arguments(["--logger", "tensorboard", "--logger", "mlflow"])
    assert namespace.logger == ["tensorboard", "mlflow"]
    assert parse_train_arguments([])[1].logger == []
    path = tmp_path / "run.yaml"
    path.write_text("logger: [tensorboard, mlflow]\n")
    assert parse_train_arguments(["--config", str(path)])[1].logger == ["tensorboard",
                                                                       "mlflow"]
    # the flags replace the file's list, as any flag overrides the file
    assert parse_train_arguments(["--config", str(path), "--logger", "mlflow"])[1].logger \
        == ["mlflow"]
    with pytest.raises(SystemExit) as exit_info:
        parse_train_arguments(["--logger", "wandb"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["pynet-cvae train: error: --logger 'wandb' is not a logger: expected "
                     "some of ['mlflow', 'tensorboard'] (several: --logger tensorboard "
                     "--logger mlflow) (see pynet-cvae train --help)"]


def test_a_config_file_and_flags_that_override_it(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("recipe: prior\nepochs: 7\nbatch_size: 16\nmodel:\n  latent_dim: 3\n")
    parser, namespace = parse_train_arguments(["--epochs", "2", "--config", str(path)])
    assert namespace.recipe == "prior" and namespace.network == "LearnedPriorCVAE"
    assert namespace.epochs == 2 and namespace.batch_size == 16  # the flag wins
    assert namespace.model.latent_dim == 3 and namespace.model.prior_hidden_dim == 64
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps({"recipe": "tutorial", "epochs": 4}))
    _, namespace = parse_train_arguments(["--config", str(json_path)])
    assert namespace.network == "CVAE" and namespace.learning_rate == 1e-3
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nmodel:\n  wings: 2\n")
    with pytest.raises(SystemExit):
        parse_train_arguments(["--config", str(bad)])
    with pytest.raises(ValueError, match="bad.txt'.*No such file"):
        parse_train_arguments(["--config", str(tmp_path / "bad.txt")])


def test_print_config_reruns_the_same_training_bit_for_bit(tmp_path, capsys):
    flags = ["--epochs", "2", "--kl-warmup", "1", "--seed", "3", *DENSE]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--print-config", *flags])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    config = yaml.safe_load(printed)
    assert config["epochs"] == 2 and config["kl_warmup"] == 1 and config["seed"] == 3
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    assert main(["train", *flags, "--output", str(tmp_path / "flags")]) == 0
    assert main(["train", "--config", str(path), "--output", str(tmp_path / "file")]) == 0
    first, second = (load_checkpoint(str(tmp_path / run / "checkpoints" /
                                         "model_0_epoch_1.pth"))["model"]
                     for run in ("flags", "file"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    histories = [json.loads((tmp_path / run / "train.json").read_text())["values"]
                 for run in ("flags", "file")]
    assert histories[0] == histories[1]
    saved = json.loads((tmp_path / "file" / "run.json").read_text())
    assert {key: value for key, value in saved.items() if key != "output"} == {
        key: value for key, value in config.items() if key != "output"}
