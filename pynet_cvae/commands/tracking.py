"""``pynet-cvae train --logger``: where a run's curves, images and settings are tracked.

``--logger tensorboard`` writes TensorBoard event files under the run folder,
``<output>/tensorboard`` (``tensorboard --logdir <output>/tensorboard`` shows them);
``--logger mlflow`` tracks the run in a local MLflow store, ``<output>/mlruns`` (a
SQLite database and the artifacts: ``mlflow ui --backend-store-uri
sqlite:///<output>/mlruns/mlflow.db``), or wherever ``--mlflow-uri`` (or MLflow's own
``MLFLOW_TRACKING_URI`` variable) points: a lab's ``mlflow server``, a database;
``--mlflow-experiment`` (or ``MLFLOW_EXPERIMENT_NAME``) names the experiment. A
server that does not answer stops the command before the run starts. Several may be given (``--logger tensorboard
--logger mlflow``, or ``logger: [tensorboard, mlflow]`` in a ``--config`` file); each
holds the run's configuration as hyper-parameters, the scalars of every epoch, the
sample grids and the validation reconstructions (see :mod:`pynet_cvae.loggers`).

Only the process that writes the run (rank 0 under ``torchrun``) creates them. A
logger whose package is missing stops the command before the run starts, with one
line naming the extra that installs it. The loggers may change on ``--resume``: a
resumed MLflow logger goes on in the run of the checkpoint.
"""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

#: The loggers ``--logger`` knows, in the order they are attached. MLflow's logger
#: keeps a state in the checkpoints, found again by its position among the observers:
#: first, it stays where it was when ``--resume`` adds or drops the other.
LOGGERS: Tuple[str, ...] = ("mlflow", "tensorboard")

#: The folder of each logger in the run folder.
FOLDERS: Dict[str, str] = {"mlflow": "mlruns", "tensorboard": "tensorboard"}

#: The experiment of an MLflow run when neither the flag nor the environment names one.
DEFAULT_EXPERIMENT = "pynet-cvae"

#: How long an MLflow server has to answer its health check, in seconds.
SERVER_TIMEOUT_S = 10.0


def check_logger_names(names: Sequence[str]) -> List[str]:
    """The loggers of ``--logger``, each once, in attaching order.

    Parameters
    ----------
    names : sequence of str
        The names given.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        Naming an unknown logger and the known ones.
    """
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        raise ValueError(f"--logger {unknown[0]!r} is not a logger: expected some of "
                         f"{list(LOGGERS)} (several: --logger tensorboard --logger mlflow)")
    return [name for name in LOGGERS if name in names]


def check_mlflow_settings(names: Sequence[str], uri: Optional[str],
                          experiment: Optional[str]) -> None:
    """Refuse ``--mlflow-uri`` and ``--mlflow-experiment`` values MLflow cannot use.

    Parameters
    ----------
    names : sequence of str
        The loggers of ``--logger``.
    uri : str or None
        ``--mlflow-uri``.
    experiment : str or None
        ``--mlflow-experiment``.

    Raises
    ------
    ValueError
        For a flag given without ``--logger mlflow``, an empty value, a URI without
        a scheme, or one that holds credentials (the URI is saved in ``run.json``).
    """
    for flag, value in (("--mlflow-uri", uri), ("--mlflow-experiment", experiment)):
        if value is None:
            continue
        if "mlflow" not in names:
            raise ValueError(f"{flag} is for the MLflow logger: add --logger mlflow, or "
                             f"leave {flag} out")
        if not value.strip():
            raise ValueError(f"{flag}: expected a non-empty value, got {value!r}")
    if uri is None:
        return
    parts = urllib.parse.urlsplit(uri)
    if uri != "databricks" and not (parts.scheme and "://" in uri):
        raise ValueError(f"--mlflow-uri {uri!r} is not a tracking URI: expected one such "
                         f"as http://127.0.0.1:5000 (an mlflow server) or "
                         f"sqlite:///{os.path.abspath('mlflow.db')}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"--mlflow-uri holds credentials, and run.json would keep them: "
                         f"give the user and password in MLFLOW_TRACKING_USERNAME and "
                         f"MLFLOW_TRACKING_PASSWORD and the URI without them "
                         f"({parts.scheme}://{parts.hostname}"
                         f"{'' if parts.port is None else f':{parts.port}'}{parts.path})")


def mlflow_tracking(uri: Optional[str], experiment: Optional[str]) -> Tuple[Optional[str], str]:
    """The tracking URI and experiment of ``--logger mlflow``.

    Parameters
    ----------
    uri : str or None
        ``--mlflow-uri``; None falls back on ``MLFLOW_TRACKING_URI``.
    experiment : str or None
        ``--mlflow-experiment``; None falls back on ``MLFLOW_EXPERIMENT_NAME``.

    Returns
    -------
    uri : str or None
        None for the local store of the run folder.
    experiment : str
        :data:`DEFAULT_EXPERIMENT` when neither names one.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    return uri, experiment


def check_mlflow_server(uri: str, timeout: float = SERVER_TIMEOUT_S) -> None:
    """Ask an MLflow server (an ``http(s)`` tracking URI) whether it answers.

    MLflow's client retries a server that is down for minutes, in the middle of the
    first epoch; the run asks once, before it starts.

    Parameters
    ----------
    uri : str
        The tracking URI; other schemes than ``http`` and ``https`` are not checked.
    timeout : float, default :data:`SERVER_TIMEOUT_S`
        Seconds the server has to answer.

    Raises
    ------
    ValueError
        Naming the URI and what went wrong, when no MLflow server answers there.
    """
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        return
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:
            if response.status == 200:
                return
            reason = f"{health} answered HTTP {response.status}"
    except urllib.error.HTTPError as error:
        reason = f"{health} answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = str(getattr(error, "reason", error))
    raise ValueError(f"no MLflow server answers at {uri} ({reason}): start one (mlflow "
                     f"server --host 127.0.0.1 --port 5000) or leave --mlflow-uri out "
                     f"to track the run in the run folder")


def make_loggers(names: Sequence[str], output: str, image_shape: Sequence[int],
                 hyperparameters: Mapping[str, Any], mlflow_uri: Optional[str] = None,
                 mlflow_experiment: Optional[str] = None) -> List[Any]:
    """Build the loggers of ``--logger``, writing under the run folder.

    Parameters
    ----------
    names : sequence of str
        The loggers (:data:`LOGGERS`).
    output : str
        The run folder.
    image_shape : sequence of int
        The shape of an image, to show the validation reconstructions.
    hyperparameters : mapping
        The run's configuration (``run.json``).
    mlflow_uri, mlflow_experiment : str, optional
        ``--mlflow-uri`` and ``--mlflow-experiment`` (see :func:`mlflow_tracking`).

    Returns
    -------
    list of pynet_cvae.loggers.Logger
        In the order of :data:`LOGGERS`.

    Raises
    ------
    pynet_cvae.extras.MissingExtraError
        If a logger's package is not installed.
    ValueError
        If no MLflow server answers at an ``http(s)`` tracking URI.
    """
    from ..plotting.values import images_from_flat

    prepare_pred = functools.partial(images_from_flat, image_shape=tuple(image_shape))
    loggers = []
    for name in check_logger_names(names):
        folder = os.path.join(output, FOLDERS[name])
        if name == "tensorboard":
            from ..loggers.tensorboard import TensorBoardLogger

            loggers.append(TensorBoardLogger(folder, prepare_pred=prepare_pred,
                                             hyperparameters=hyperparameters))
        else:
            from ..loggers.mlflow import MLflowLogger

            uri, experiment = mlflow_tracking(mlflow_uri, mlflow_experiment)
            mlflow_logger = MLflowLogger(save_dir=folder, tracking_uri=uri,
                                         experiment_name=experiment,
                                         run_name=os.path.basename(os.path.abspath(output)),
                                         prepare_pred=prepare_pred,
                                         hyperparameters=hyperparameters)
            if uri is not None:
                check_mlflow_server(uri)
            loggers.append(mlflow_logger)
    return loggers


def logger_lines(names: Sequence[str], output: str, mlflow_uri: Optional[str] = None,
                 mlflow_experiment: Optional[str] = None,
                 mlflow_run: Optional[str] = None) -> List[str]:
    """The summary's lines: where each logger wrote, and how to look at it.

    Parameters
    ----------
    names : sequence of str
        The loggers.
    output : str
        The run folder.
    mlflow_uri, mlflow_experiment : str, optional
        The MLflow tracking URI and experiment (see :func:`mlflow_tracking`).
    mlflow_run : str, optional
        The run's page on an MLflow server
        (:meth:`~pynet_cvae.loggers.mlflow.MLflowLogger.run_url`).

    Returns
    -------
    list of str
    """
    lines = []
    for name in check_logger_names(names):
        folder = os.path.join(output, FOLDERS[name])
        uri, experiment = mlflow_tracking(mlflow_uri, mlflow_experiment)
        if name == "mlflow" and uri is not None:
            lines.append(f"  {name + ':':<18}{mlflow_run or uri} (experiment {experiment!r})")
            continue
        if name == "tensorboard":
            how = f"tensorboard --logdir {folder}"
        else:
            how = ("mlflow ui --backend-store-uri "
                   f"sqlite:///{os.path.abspath(os.path.join(folder, 'mlflow.db'))}")
        lines.append(f"  {name + ':':<18}{folder} ({how})")
    return lines
