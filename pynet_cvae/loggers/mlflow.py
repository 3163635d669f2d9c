"""MLflow: one tracked run per fold, with params, metrics by step and artifacts.

Each fold of a training is an MLflow run of the experiment ``experiment_name``,
tagged ``fold``. It holds:

- params: the hyper-parameters, flattened (``optimizer.lr``...), and the same
  configuration as the artifact ``config.json``;
- metrics: every scalar of each epoch at ``step = epoch`` under its signal name
  (``loss``, ``val_loss``, ``lr``, ``val_<metric>``...), and per-step scalars as
  ``step/<name>`` at their optimizer step;
- images, by key and step (the sampling grid as ``sampling``, the validation
  predictions as ``val_pred``), which the MLflow UI shows with a step slider;
- artifacts: the fold's last checkpoint under ``checkpoints/`` when the fold ends,
  and any file given to :meth:`~pynet_cvae.loggers.base.Logger.log_artifact`.

By default the store is local: a SQLite database ``<save_dir>/mlflow.db`` with the
artifacts in ``<save_dir>/artifacts`` (``mlflow ui --backend-store-uri
sqlite:///<save_dir>/mlflow.db`` shows it). MLflow keeps its older plain-file
store (``file:`` URIs) in maintenance mode and refuses it unless the environment
variable ``MLFLOW_ALLOW_FILE_STORE=true`` is set; any ``tracking_uri``, a
``file:`` one included, is passed to MLflow as it is.

The logger is a stateful observer: the checkpoints of a run hold the ids of its
MLflow runs, so a resumed training goes on logging into the same runs.

Needs the ``mlflow`` extra: ``pip install 'pynet-cvae[mlflow]'``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from ..extras import quiet_loggers
from .base import Logger, import_extra
from .images import tile_images
from .params import Params

logger = logging.getLogger("pynet_cvae")

_INVALID_KEY_CHARACTERS = re.compile(r"[^\w\-. /]")
_PARAM_LENGTH = 6000
_CONFIG_ARTIFACT = "config.json"
#: MLflow's loggers of the local store: a note for each table it creates.
_STORE_LOGGERS = ("mlflow.store.db.utils", "alembic")


class MLflowLogger(Logger):
    """Track a run's params, metrics, images and files in MLflow.

    Parameters
    ----------
    save_dir : str or path-like, default "mlruns"
        The folder of the local store, used when ``tracking_uri`` is None.
    tracking_uri : str, optional
        An MLflow tracking URI (``http://host:5000``, ``sqlite:///path.db``,
        ``file:///path``...) instead of the local store.
    experiment_name : str, default "pynet-cvae"
        The experiment, created when missing.
    run_name : str, optional
        The name of the runs (MLflow makes one up when None); folds are told apart
        by their ``fold`` tag.
    tags : mapping, optional
        More tags of every run.
    log_checkpoint : bool, default True
        Keep each fold's last checkpoint (``interface.last_checkpoint``) as an
        artifact when the fold ends.
    prepare_pred : callable, optional
        Turns the validation predictions into images (see :class:`Logger`).
    hyperparameters : mapping, optional
        The run's configuration (see :class:`Logger`).
    max_images : int, default 16
        How many predictions to show per epoch.

    Attributes
    ----------
    run_ids : dict
        The MLflow run id of each fold started so far.

    Raises
    ------
    MissingExtraError
        If the ``mlflow`` package is not installed.

    Examples
    --------
    ::

        from pynet_cvae.loggers import MLflowLogger

        interface.add_logger(MLflowLogger(save_dir="runs/mlflow", run_name="cvae"))
        interface.training(manager, nb_epochs=20, fold_index=0,
                           checkpointdir="runs/cvae/checkpoints")
    """

    def __init__(self, save_dir: "str | os.PathLike[str]" = "mlruns",
                 tracking_uri: Optional[str] = None, experiment_name: str = "pynet-cvae",
                 run_name: Optional[str] = None, tags: Optional[Mapping[str, Any]] = None,
                 log_checkpoint: bool = True,
                 prepare_pred: Optional[Callable[[Any], Any]] = None,
                 hyperparameters: Optional[Mapping[str, Any]] = None,
                 max_images: int = 16) -> None:
        super().__init__(prepare_pred=prepare_pred, hyperparameters=hyperparameters,
                         max_images=max_images)
        self._mlflow = import_extra("mlflow", "mlflow", "MLflowLogger")
        self._entities = import_extra("mlflow.entities", "mlflow", "MLflowLogger")
        if not isinstance(experiment_name, str) or not experiment_name.strip():
            raise ValueError(f"experiment_name must be a non-empty string, got "
                             f"{experiment_name!r}")
        self.save_dir = os.path.abspath(os.fspath(save_dir))
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = {str(key): str(value) for key, value in (tags or {}).items()}
        self.log_checkpoint = log_checkpoint
        self.run_ids: Dict[int, str] = {}
        self._client: Any = None
        self._experiment_id: Optional[str] = None
        self._warned_keys: set = set()

    @property
    def client(self) -> Any:
        """mlflow.MlflowClient: the client of the tracking store (made at first use)."""
        if self._client is None:
            if self.tracking_uri is None:
                os.makedirs(self.save_dir, exist_ok=True)
            with quiet_loggers(*_STORE_LOGGERS):
                self._client = self._mlflow.MlflowClient(tracking_uri=self._store_uri())
        return self._client

    @property
    def experiment_id(self) -> str:
        """str: the id of the experiment, created when it does not exist."""
        if self._experiment_id is None:
            with quiet_loggers(*_STORE_LOGGERS):  # the store is made at first use
                experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is not None:
                self._experiment_id = experiment.experiment_id
            else:
                location = None
                if self.tracking_uri is None:
                    location = Path(self.save_dir, "artifacts").as_uri()
                self._experiment_id = self.client.create_experiment(
                    self.experiment_name, artifact_location=location)
        return self._experiment_id

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        """The ids of the runs, saved in the training's checkpoints.

        Returns
        -------
        dict
            ``{"tracking_uri", "experiment_name", "runs": {fold: run id}}``.
        """
        return {"tracking_uri": self._store_uri(), "experiment_name": self.experiment_name,
                "runs": {str(fold): run_id for fold, run_id in self.run_ids.items()}}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Go on logging into the runs of a checkpoint (given by :meth:`state_dict`).

        Parameters
        ----------
        state : dict
            The saved state. Runs of another store are not reused: the resumed
            folds then start new runs, with a warning.
        """
        if state.get("tracking_uri") != self._store_uri():
            logger.warning("the checkpoint's MLflow runs are in %s, not in %s: the "
                           "resumed folds start new runs", state.get("tracking_uri"),
                           self._store_uri())
            return
        self.run_ids = {int(fold): str(run_id)
                        for fold, run_id in state.get("runs", {}).items()}

    # ------------------------------------------------------------------ backend
    def _start_fold(self, fold: int, resumed_at: Optional[int]) -> None:
        if resumed_at is not None and fold in self.run_ids:
            self.client.update_run(self.run_ids[fold], status="RUNNING")
            return
        if resumed_at is not None:
            logger.warning("no MLflow run to continue for fold %d (resumed at epoch %d): "
                           "a new run is started", fold, resumed_at)
        tags = {**self.tags, "fold": str(fold)}
        run = self.client.create_run(self.experiment_id, run_name=self.run_name, tags=tags)
        self.run_ids[fold] = run.info.run_id

    def _finish_fold(self, fold: int, emitter: Any) -> None:
        run_id = self.run_ids[fold]
        checkpoint = getattr(emitter, "last_checkpoint", None)
        if self.log_checkpoint and checkpoint and os.path.isfile(checkpoint):
            self.client.log_artifact(run_id, checkpoint, artifact_path="checkpoints")
        # MLflow prints the run's links on a server's runs: run_url gives them instead
        with contextlib.redirect_stdout(io.StringIO()):
            self.client.set_terminated(run_id,
                                       "FINISHED" if emitter is not None else "KILLED")

    def run_url(self, fold: int) -> Optional[str]:
        """The page of a fold's run in the MLflow UI of a tracking server.

        Parameters
        ----------
        fold : int
            A fold started by this logger.

        Returns
        -------
        str or None
            ``<server>/#/experiments/<id>/runs/<id>``; None for a store that is not
            an ``http(s)`` server (``mlflow ui`` shows it) or a fold not started.
        """
        if fold not in self.run_ids or not self._store_uri().startswith(("http://",
                                                                          "https://")):
            return None
        return (f"{self._store_uri().rstrip('/')}/#/experiments/{self.experiment_id}"
                f"/runs/{self.run_ids[fold]}")

    def _write_scalars(self, scalars: Dict[str, float], step: int, axis: str,
                       fold: int) -> None:
        timestamp = int(time.time() * 1000)
        prefix = "step/" if axis == "step" else ""
        metrics = [self._entities.Metric(self._key(prefix + name), value, timestamp, step)
                   for name, value in scalars.items()]
        self.client.log_batch(self.run_ids[fold], metrics=metrics)

    def _write_images(self, name: str, images: np.ndarray, step: int, fold: int) -> None:
        self.client.log_image(self.run_ids[fold], tile_images(images), key=self._key(name),
                              step=step)

    def _write_text(self, name: str, text: str, step: int, fold: int) -> None:
        self.client.log_text(self.run_ids[fold], text,
                             f"text/{self._key(name)}_epoch{step}.txt")

    def _write_hyperparameters(self, params: Params, fold: int) -> None:
        run_id = self.run_ids[fold]
        logged = self.client.get_run(run_id).data.params
        fresh: List[Any] = []
        for name, value in params.items():
            key, text = self._key(name), str(value)[:_PARAM_LENGTH]
            if key not in logged:
                fresh.append(self._entities.Param(key, text))
            elif logged[key] != text:
                logger.warning("MLflow param %r of run %s is %r; it stays (a run's params "
                               "cannot change), not %r", key, run_id, logged[key], text)
        if fresh:
            self.client.log_batch(run_id, params=fresh)
        self.client.log_dict(run_id, dict(params), _CONFIG_ARTIFACT)

    def _write_artifact(self, path: str, artifact_path: Optional[str], fold: int) -> None:
        self.client.log_artifact(self.run_ids[fold], path, artifact_path=artifact_path)

    # ------------------------------------------------------------------ helpers
    def _store_uri(self) -> str:
        if self.tracking_uri is not None:
            return self.tracking_uri
        return f"sqlite:///{os.path.join(self.save_dir, 'mlflow.db')}"

    def _key(self, name: str) -> str:
        """``name`` with the characters MLflow refuses in keys replaced by ``_``."""
        key = _INVALID_KEY_CHARACTERS.sub("_", name)
        if key != name and name not in self._warned_keys:
            self._warned_keys.add(name)
            logger.warning("MLflow keys allow letters, digits and _-. /: %r is logged as "
                           "%r", name, key)
        return key

    def __repr__(self) -> str:
        return (f"MLflowLogger(tracking_uri={self._store_uri()!r}, "
                f"experiment_name={self.experiment_name!r})")
