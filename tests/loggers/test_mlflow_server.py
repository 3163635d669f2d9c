"""pynet-cvae train --logger mlflow --mlflow-uri: a run tracked on a real ``mlflow
server`` started on 127.0.0.1, read back through the server's REST API."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

from pynet_cvae.cli import main  # noqa: E402
from pynet_cvae.commands.tracking import check_mlflow_settings  # noqa: E402

from ..servers import free_port  # noqa: E402
from .test_mlflow import artifacts, metric_history  # noqa: E402
from .test_train_command import SMALL, history  # noqa: E402

MLFLOW = Path(sys.executable).with_name("mlflow")


class MLflowServer:
    """A real ``mlflow server`` on 127.0.0.1: a SQLite store, artifacts served by it."""

    def __init__(self, folder: Path, timeout: float = 180.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(folder / "server.log", "w")
        self.process = subprocess.Popen(
            [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            stdout=self._log, stderr=subprocess.STDOUT)
        self._wait(folder, timeout)

    def _wait(self, folder: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mlflow server exited: {(folder / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.close()
        pytest.fail(f"mlflow server did not answer in {timeout} s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = MLflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield started
    started.close()


def only_run(client, experiment_name):
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None, f"no experiment {experiment_name!r} on the server"
    (tracked,) = client.search_runs([experiment.experiment_id])
    return tracked


@pytest.mark.http
@pytest.mark.slow
def test_a_run_is_tracked_on_the_server_the_flag_names(server, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "2", *SMALL,
                 "--logger", "mlflow", "--mlflow-uri", server.url,
                 "--mlflow-experiment", "lab"]) == 0
    printed = capsys.readouterr().out
    client = mlflow.MlflowClient(server.url)
    tracked = only_run(client, "lab")
    run_id = tracked.info.run_id
    assert tracked.info.run_name == "run" and tracked.info.status == "FINISHED"
    assert tracked.data.params["epochs"] == "2"
    assert tracked.data.params["mlflow_uri"] == server.url
    train, validation = history(run, "train"), history(run, "validation")
    assert metric_history(client, run_id, "loss") == [
        (epoch, pytest.approx(value, rel=1e-6)) for epoch, value in enumerate(train["loss"])]
    assert metric_history(client, run_id, "val_loss") == [
        (epoch, pytest.approx(value, rel=1e-6))
        for epoch, value in enumerate(validation["loss"])]
    # the artifacts went through the server into its artifact store
    assert artifacts(client, run_id, "checkpoints") == ["checkpoints/model_0_epoch_1.pth"]
    downloaded = client.download_artifacts(run_id, "config.json", str(tmp_path))
    assert json.loads(Path(downloaded).read_text())["epochs"] == 2
    # nothing in the run folder: the server holds the run
    assert not (run / "mlruns").exists()
    # the summary gives the run's page, and MLflow's own links are not printed
    experiment_id = tracked.info.experiment_id
    assert (f"  mlflow:           {server.url}/#/experiments/{experiment_id}/runs/{run_id} "
            f"(experiment 'lab')") in printed.splitlines()
    assert "View run" not in printed and "View experiment" not in printed


@pytest.mark.http
@pytest.mark.slow
def test_mlflow_s_own_variables_name_the_server_and_resume_goes_on_there(
        server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-the-environment")
    run = tmp_path / "run"
    assert main(["train", "--output", str(run), "--epochs", "1", *SMALL,
                 "--logger", "mlflow"]) == 0
    assert main(["train", "--output", str(run), "--epochs", "3", "--resume", *SMALL,
                 "--logger", "mlflow"]) == 0
    capsys.readouterr()
    client = mlflow.MlflowClient(server.url)
    tracked = only_run(client, "from-the-environment")  # one run, gone on
    assert [step for step, _ in metric_history(client, tracked.info.run_id, "loss")] == \
        [0, 1, 2]
    assert tracked.info.status == "FINISHED"
    assert not (run / "mlruns").exists()


@pytest.mark.http
def test_a_server_that_does_not_answer_stops_the_command_before_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    silent = f"http://127.0.0.1:{free_port()}"
    assert main(["train", "--output", str(run), "--epochs", "1", *SMALL,
                 "--logger", "mlflow", "--mlflow-uri", silent]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert error[0].startswith(f"pynet-cvae: error: no MLflow server answers at {silent} (")
    assert "leave --mlflow-uri out" in error[0]
    assert not run.exists()


@pytest.mark.http
def test_a_server_that_is_not_mlflow_is_named(tmp_path, capsys):
    import http.server
    import threading

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server naming)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        assert main(["train", "--output", str(tmp_path / "run"), "--epochs", "1", *SMALL,
                     "--logger", "mlflow", "--mlflow-uri", url]) == 1
    finally:
        other.shutdown()
        other.server_close()
    error = capsys.readouterr().err.strip()
    assert f"no MLflow server answers at {url} ({url}/health answered HTTP 404)" in error


@pytest.mark.parametrize("names, uri, experiment, expected", [
    ([], "http://127.0.0.1:5000", None,
     "--mlflow-uri is for the MLflow logger: add --logger mlflow"),
    (["tensorboard"], None, "lab",
     "--mlflow-experiment is for the MLflow logger: add --logger mlflow"),
    (["mlflow"], " ", None, "--mlflow-uri: expected a non-empty value, got ' '"),
    (["mlflow"], None, "", "--mlflow-experiment: expected a non-empty value, got ''"),
    (["mlflow"], "runs/mlflow.db", None,
     "--mlflow-uri 'runs/mlflow.db' is not a tracking URI: expected one such as "
     "http://127.0.0.1:5000"),
    (["mlflow"], "https://me:secret@mlflow.lab.org:443/x", None,
     "give the user and password in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
     "and the URI without them (https://mlflow.lab.org:443/x)"),
])
def test_mlflow_flags_mlflow_cannot_use_are_refused(names, uri, experiment, expected):
    with pytest.raises(ValueError) as refused:
        check_mlflow_settings(names, uri, experiment)
    assert expected in str(refused.value)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "sqlite:////tmp/m.db",
                                 "databricks", "file:///tmp/mlruns"])
def test_tracking_uris_mlflow_knows_are_accepted(uri):
    check_mlflow_settings(["mlflow"], uri, "lab")


def test_a_refused_flag_is_one_line_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--output", str(run), "--epochs", "1", *SMALL,
              "--mlflow-uri", "http://127.0.0.1:5000"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--mlflow-uri is for the MLflow logger" in error[0]
    assert not run.exists()
