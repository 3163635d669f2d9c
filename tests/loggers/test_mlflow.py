"""MLflowLogger: a real training tracked in a local MLflow store, read back with MLflow."""

import json
import logging

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

from pynet_cvae.loggers import MLflowLogger  # noqa: E402

from .conftest import METRICS, Interrupt, cvae_interface, interrupt_before, prepare_pred  # noqa: E402

pytestmark = pytest.mark.slow  # each test creates an MLflow database (a few seconds)


def store(save_dir):
    return f"sqlite:///{save_dir / 'mlflow.db'}"


def metric_history(client, run_id, key):
    return [(metric.step, metric.value) for metric in client.get_metric_history(run_id, key)]


def artifacts(client, run_id, folder=None):
    return sorted(item.path for item in client.list_artifacts(run_id, folder))


def test_a_run_holds_params_metrics_by_step_and_artifacts(tmp_path, manager, monkeypatch):
    save_dir = tmp_path / "mlruns"
    logger = MLflowLogger(save_dir=save_dir, experiment_name="digits", run_name="cvae",
                          tags={"purpose": "test"}, prepare_pred=prepare_pred,
                          hyperparameters={"data": {"batch_size": 32}})
    interface = cvae_interface(logger)
    checkpoints = tmp_path / "checkpoints"
    train, validation = interface.training(manager, nb_epochs=3, fold_index=0,
                                           checkpointdir=str(checkpoints))

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store(save_dir))
    runs = mlflow.search_runs(experiment_names=["digits"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.mlflow.runName"] == "cvae"
    assert run["tags.fold"] == "0" and run["tags.purpose"] == "test"
    assert run["params.model"] == "CVAE" and run["params.optimizer"] == "Adam"
    assert float(run["params.optimizer.lr"]) == pytest.approx(3e-3)
    assert run["params.data.batch_size"] == "32"
    assert run["metrics.val_loss"] == pytest.approx(validation["loss"][1][-1], rel=1e-6)

    client = mlflow.MlflowClient(store(save_dir))
    run_id = run["run_id"]
    assert logger.run_ids == {0: run_id}
    for metric in METRICS:
        for key, history in ((metric, train), (f"val_{metric}", validation)):
            steps, values = history[metric]
            assert metric_history(client, run_id, key) == [
                (epoch, pytest.approx(value, rel=1e-6))
                for (_, epoch), value in zip(steps, values)]
    assert metric_history(client, run_id, "lr") == [(epoch, pytest.approx(3e-3))
                                                    for epoch in range(3)]

    assert artifacts(client, run_id) == ["checkpoints", "config.json", "images"]
    assert artifacts(client, run_id, "checkpoints") == ["checkpoints/model_0_epoch_2.pth"]
    config = json.loads((save_dir / "artifacts" / run_id / "artifacts" / "config.json")
                        .read_text())
    assert config["model"] == "CVAE" and config["data.batch_size"] == 32
    images = artifacts(client, run_id, "images")
    for name in ("sampling", "val_pred"):
        steps = sorted(int(path.split("+step+")[1].split("+")[0]) for path in images
                       if path.startswith(f"images/{name}+") and path.endswith(".png")
                       and "compressed" not in path)
        assert steps == [0, 1, 2], images
    local = client.download_artifacts(run_id, "checkpoints/model_0_epoch_2.pth",
                                      str(tmp_path / "downloaded"))
    assert open(local, "rb").read() == (checkpoints / "model_0_epoch_2.pth").read_bytes()


def test_a_resumed_training_goes_on_in_the_same_run(tmp_path, manager):
    save_dir, checkpoints = tmp_path / "mlruns", str(tmp_path / "checkpoints")
    first = cvae_interface(MLflowLogger(save_dir=save_dir), seed=5)
    first.add_observer("before_epoch", interrupt_before(3))
    with pytest.raises(Interrupt):
        first.training(manager, nb_epochs=4, fold_index=0, checkpointdir=checkpoints)
    resumed_logger = MLflowLogger(save_dir=save_dir)
    resumed = cvae_interface(resumed_logger, seed=5)
    train, _ = resumed.training(manager, nb_epochs=4, fold_index=0,
                                checkpointdir=checkpoints, resume=True)

    client = mlflow.MlflowClient(store(save_dir))
    runs = client.search_runs([resumed_logger.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    history = metric_history(client, runs[0].info.run_id, "loss")
    assert [step for step, _ in history] == [0, 1, 2, 3]
    np.testing.assert_allclose([value for _, value in history], train["loss"][1], rtol=1e-6)


def test_per_step_scalars_folds_and_awkward_names(tmp_path, caplog):
    save_dir = tmp_path / "mlruns"
    with MLflowLogger(save_dir=save_dir) as logger:
        for step in range(3):
            logger.log_scalars({"loss": float(step)}, step=step * 7, axis="step", fold=1)
        with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
            logger.log_scalars({"accuracy <top-5>": 0.5}, step=0, fold=1)
            logger.log_scalars({"accuracy <top-5>": 0.75}, step=1, fold=1)
        logger.log_text("notes", "a first try", step=1, fold=1)
    client = mlflow.MlflowClient(store(save_dir))
    run_id = logger.run_ids[1]
    assert metric_history(client, run_id, "step/loss") == [(0, 0.0), (7, 1.0), (14, 2.0)]
    assert metric_history(client, run_id, "accuracy _top-5_") == [(0, 0.5), (1, 0.75)]
    assert caplog.text.count("'accuracy <top-5>' is logged as 'accuracy _top-5_'") == 1
    assert client.get_run(run_id).data.tags["fold"] == "1"
    assert client.get_run(run_id).info.status == "KILLED"  # closed before its fold ended
    assert artifacts(client, run_id, "text") == ["text/notes_epoch1.txt"]


def test_a_tracking_uri_is_used_as_given(tmp_path):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    with MLflowLogger(save_dir=tmp_path / "unused", tracking_uri=uri,
                      experiment_name="given") as logger:
        logger.log_scalars({"loss": 1.0}, step=0)
    assert not (tmp_path / "unused").exists()
    client = mlflow.MlflowClient(uri)
    assert client.get_experiment_by_name("given") is not None
    assert metric_history(client, logger.run_ids[0], "loss") == [(0, 1.0)]
