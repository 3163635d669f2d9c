"""pynet-cvae train --logger: a real run tracked in TensorBoard and MLflow at once, under
its run folder, read back with the libraries themselves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

from pynet_cvae.cli import main  # noqa: E402

from .test_mlflow import artifacts, metric_history, store  # noqa: E402
from .test_tensorboard import events, hyperparameters, scalar_series  # noqa: E402

pytestmark = pytest.mark.slow  # real trainings, an MLflow database

REPOSITORY = Path(__file__).resolve().parents[2]

#: Small dense networks: the conditional recipe in seconds.
SMALL = ["--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
         "--model.hidden_dim", "32", "--threads", "1", "--quiet"]


def history(run, split):
    """``{metric: [values by epoch]}`` of the run's history file."""
    content = json.loads((run / f"{split}.json").read_text())
    return content["values"]


def test_one_run_in_tensorboard_and_mlflow_under_its_folder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "2", *SMALL,
                 "--logger", "tensorboard", "--logger", "mlflow"]) == 0
    printed = capsys.readouterr().out
    assert f"  tensorboard:      {run / 'tensorboard'} (tensorboard --logdir " \
           f"{run / 'tensorboard'})" in printed
    assert f"  mlflow:           {run / 'mlruns'} (mlflow ui --backend-store-uri " \
           f"sqlite:///{run / 'mlruns' / 'mlflow.db'})" in printed
    assert json.loads((run / "run.json").read_text())["logger"] == ["tensorboard", "mlflow"]
    train, validation = history(run, "train"), history(run, "validation")

    fold = run / "tensorboard" / "fold0"
    for split, values in (("train", train), ("validation", validation)):
        for metric in ("loss", "VAELoss", "ClassifierAccuracy"):
            assert scalar_series(fold / split, metric) == [
                (epoch, pytest.approx(value, rel=1e-6))
                for epoch, value in enumerate(values[metric])]
    assert {"sampling", "val_pred"} <= set(events(fold).Tags()["images"])
    params, _ = hyperparameters(fold)
    assert params["epochs"] == 2 and params["recipe"] == "conditional"
    assert params["model.hidden_dim"] == 32 and params["network"] == "ConditionalCVAE"

    client = mlflow.MlflowClient(store(run / "mlruns"))
    experiment = client.get_experiment_by_name("pynet-cvae")
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.info.run_name == "run" and tracked.info.status == "FINISHED"
    assert tracked.data.params["epochs"] == "2"
    assert tracked.data.params["model.encoder"] == "DenseTrunk"
    run_id = tracked.info.run_id
    assert metric_history(client, run_id, "loss") == [
        (epoch, pytest.approx(value, rel=1e-6)) for epoch, value in enumerate(train["loss"])]
    assert metric_history(client, run_id, "val_loss") == [
        (epoch, pytest.approx(value, rel=1e-6))
        for epoch, value in enumerate(validation["loss"])]
    assert artifacts(client, run_id, "checkpoints") == ["checkpoints/model_0_epoch_1.pth"]
    assert "config.json" in artifacts(client, run_id)


def test_the_config_file_names_the_loggers_and_resume_may_add_one(tmp_path, capsys):
    run, config = tmp_path / "run", tmp_path / "config.yaml"
    config.write_text("logger: [mlflow]\nepochs: 1\n")
    assert main(["train", "--config", str(config), "--output", str(run), *SMALL]) == 0
    assert not (run / "tensorboard").exists()
    assert main(["train", "--config", str(config), "--output", str(run), "--epochs", "2",
                 "--resume", "--logger", "mlflow", "--logger", "tensorboard", *SMALL]) == 0
    capsys.readouterr()
    client = mlflow.MlflowClient(store(run / "mlruns"))
    experiment = client.get_experiment_by_name("pynet-cvae")
    (tracked,) = client.search_runs([experiment.experiment_id])  # the same run goes on
    np.testing.assert_allclose([value for _, value in
                                metric_history(client, tracked.info.run_id, "loss")],
                               history(run, "train")["loss"], rtol=1e-6)
    # TensorBoard follows from the resumed epoch on
    assert [step for step, _ in scalar_series(run / "tensorboard" / "fold0" / "train",
                                              "loss")] == [1]
    # --overwrite removes the loggers' records with the rest of the run
    assert main(["train", "--output", str(run), "--epochs", "1", "--overwrite", *SMALL]) == 0
    assert not (run / "tensorboard").exists() and not (run / "mlruns").exists()


def test_a_missing_logger_package_stops_the_command_before_the_run(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what Python does when it is absent
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "1", *SMALL,
                 "--logger", "tensorboard", "--logger", "mlflow"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("pynet-cvae: error: MLflowLogger needs")
    assert "pip install 'pynet-cvae[mlflow]'" in error[0]
    assert not os.path.exists(run)


@pytest.mark.subprocess
def test_under_torchrun_only_rank_0_writes_the_loggers_records(tmp_path):
    run = tmp_path / "run"
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                  "MASTER_PORT")}
    environment["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "pynet_cvae.cli", "train", "--output", str(run),
               "--epochs", "2", "--sample-size", "0.2", *SMALL, "--logger", "tensorboard",
               "--logger", "mlflow"]
    completed = subprocess.run(command, cwd=REPOSITORY, env=environment, text=True,
                               capture_output=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("  tensorboard:      ") == 1  # rank 0's summary
    tensorboard = run / "tensorboard"
    assert os.listdir(tensorboard) == ["fold0"]  # a second writer would make fold0-2
    for split in ("train", "validation"):
        assert len(os.listdir(tensorboard / "fold0" / split)) == 1  # one event file
        assert [step for step, _ in scalar_series(tensorboard / "fold0" / split,
                                                  "loss")] == [0, 1]
    client = mlflow.MlflowClient(store(run / "mlruns"))
    experiment = client.get_experiment_by_name("pynet-cvae")
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert [step for step, _ in metric_history(client, tracked.info.run_id, "loss")] == [0, 1]
