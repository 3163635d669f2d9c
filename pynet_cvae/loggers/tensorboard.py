"""TensorBoard: event files that ``tensorboard --logdir`` shows.

Each fold of a run is a folder of ``logdir`` holding three TensorBoard runs::

    logdir/fold0/             hyper-parameters, the configuration as text, images
    logdir/fold0/train/       training scalars at each epoch: loss, metrics, lr
    logdir/fold0/validation/  validation scalars at each epoch (val_m is written as m)
    logdir/fold0/steps/       per-step scalars, as step/<name>

so that a metric's chart shows its training and validation curves together
(``fold0/train`` and ``fold0/validation``), the HParams dashboard lists the
hyper-parameters of each fold beside its final values, and the images dashboard
holds the sampling grid and the validation predictions of every epoch.

A fold that starts afresh never writes into a folder that holds events already:
a second run into the same ``logdir`` gets ``fold0-2``, then ``fold0-3``..., shown
beside the first. A resumed fold continues its latest folder and hides the
events that the interrupted run wrote from the resumed epoch on (TensorBoard's
``purge_step``), so the curves are those of an uninterrupted run.

Needs the ``tensorboard`` extra: ``pip install 'pynet-cvae[tensorboard]'``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from .base import Logger, import_extra
from .params import Params, split_of

_FOLD_LEVEL = ""
_STEPS = "steps"
_CONFIG_TAG = "config"
_EVENTS_PREFIX = "events.out.tfevents"


class TensorBoardLogger(Logger):
    """Write a run's scalars, images and hyper-parameters for TensorBoard.

    Parameters
    ----------
    logdir : str or path-like
        The folder of the run's event files (created when the first record is
        written); ``tensorboard --logdir`` on it, or on a folder above it.
    prepare_pred : callable, optional
        Turns the validation predictions into images (see :class:`Logger`).
    hyperparameters : mapping, optional
        The run's configuration (see :class:`Logger`).
    max_images : int, default 16
        How many predictions to show per epoch.
    flush_secs : float, default 30
        The longest time a record waits in memory; every epoch is flushed at its
        end anyway.

    Raises
    ------
    MissingExtraError
        If the ``tensorboard`` package is not installed.
    ValueError
        If ``logdir`` is a file.

    Examples
    --------
    ::

        from pynet_cvae.loggers import TensorBoardLogger

        interface.add_logger(TensorBoardLogger("runs/cvae/tensorboard"))
        interface.training(manager, nb_epochs=20, fold_index=0)

    then ``tensorboard --logdir runs`` and open http://localhost:6006.
    """

    def __init__(self, logdir: "str | os.PathLike[str]",
                 prepare_pred: Optional[Callable[[Any], Any]] = None,
                 hyperparameters: Optional[Mapping[str, Any]] = None,
                 max_images: int = 16, flush_secs: float = 30) -> None:
        super().__init__(prepare_pred=prepare_pred, hyperparameters=hyperparameters,
                         max_images=max_images)
        self._board = import_extra("torch.utils.tensorboard", "tensorboard",
                                   "TensorBoardLogger")
        self._summaries = import_extra("torch.utils.tensorboard.summary", "tensorboard",
                                       "TensorBoardLogger")
        self.logdir = os.fspath(logdir)
        if os.path.isfile(self.logdir):
            raise ValueError(f"logdir {self.logdir!r} is a file; expected a folder")
        self.flush_secs = flush_secs
        self._fold_dirs: Dict[int, str] = {}
        self._resumed_at: Dict[int, Optional[int]] = {}
        self._writers: Dict[Tuple[int, str], Any] = {}

    def fold_dir(self, fold: int) -> Optional[str]:
        """The folder of ``fold``'s records in this run (None before the fold starts).

        Parameters
        ----------
        fold : int
            The fold.

        Returns
        -------
        str or None
            ``<logdir>/fold<k>`` or, when the logdir held a run already,
            ``<logdir>/fold<k>-<n>``.
        """
        name = self._fold_dirs.get(fold)
        return None if name is None else os.path.join(self.logdir, name)

    # ------------------------------------------------------------------ backend
    def _start_fold(self, fold: int, resumed_at: Optional[int]) -> None:
        self._close_writers(fold)
        used = _used_fold_dirs(self.logdir, fold)
        if resumed_at is not None:
            name = used[-1] if used else f"fold{fold}"
        else:
            name = _next_fold_dir(fold, used)
        self._fold_dirs[fold] = name
        self._resumed_at[fold] = resumed_at

    def _finish_fold(self, fold: int, emitter: Any) -> None:
        status = "STATUS_SUCCESS" if emitter is not None else "STATUS_UNKNOWN"
        if (fold, _FOLD_LEVEL) in self._writers:
            self._writer(fold, _FOLD_LEVEL, 0).file_writer.add_summary(
                _session_end(status))
        self._close_writers(fold)
        self._resumed_at[fold] = None  # records written after the end purge nothing

    def _write_scalars(self, scalars: Dict[str, float], step: int, axis: str,
                       fold: int) -> None:
        for name, value in scalars.items():
            if axis == "step":
                self._writer(fold, _STEPS, step).add_scalar(f"step/{name}", value, step)
            else:
                split, metric = split_of(name)
                self._writer(fold, split, step).add_scalar(metric, value, step)

    def _write_images(self, name: str, images: np.ndarray, step: int, fold: int) -> None:
        writer = self._writer(fold, _FOLD_LEVEL, step)
        writer.add_images(name, images, step, dataformats="NCHW")
        writer.flush()

    def _write_text(self, name: str, text: str, step: int, fold: int) -> None:
        self._writer(fold, _FOLD_LEVEL, step).add_text(name, text, step)

    def _write_hyperparameters(self, params: Params, fold: int) -> None:
        writer = self._writer(fold, _FOLD_LEVEL, 0)
        # The session start alone: TensorBoard then lists every scalar of the fold's
        # runs (train/<m>, validation/<m>) as the metrics of these hyper-parameters.
        _, session_start, _ = self._summaries.hparams(params, {})
        writer.file_writer.add_summary(session_start)
        writer.add_text(_CONFIG_TAG, _markdown_table(params), 0)

    def _flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def _close(self) -> None:
        for fold in list(self._fold_dirs):
            self._close_writers(fold)

    # ------------------------------------------------------------------ writers
    def _writer(self, fold: int, run: str, step: int) -> Any:
        """The writer of ``run`` in ``fold``'s folder, created at its first record."""
        key = (fold, run)
        if key not in self._writers:
            resumed_at = self._resumed_at.get(fold)
            purge_step = None
            if resumed_at is not None:
                purge_step = step if run == _STEPS else resumed_at
            self._writers[key] = self._board.SummaryWriter(
                log_dir=os.path.join(self.logdir, self._fold_dirs[fold], run),
                purge_step=purge_step, flush_secs=self.flush_secs)
        return self._writers[key]

    def _close_writers(self, fold: int) -> None:
        for key in [key for key in self._writers if key[0] == fold]:
            self._writers.pop(key).close()

    def __repr__(self) -> str:
        return f"TensorBoardLogger(logdir={self.logdir!r})"


def _used_fold_dirs(logdir: str, fold: int) -> list:
    """The folders of ``fold`` in ``logdir`` that hold events, in the order of their runs."""
    pattern = re.compile(rf"fold{fold}(?:-(\d+))?")
    found = []
    if os.path.isdir(logdir):
        for name in os.listdir(logdir):
            match = pattern.fullmatch(name)
            if match and _holds_events(os.path.join(logdir, name)):
                found.append((int(match.group(1) or 1), name))
    return [name for _, name in sorted(found)]


def _next_fold_dir(fold: int, used: list) -> str:
    if not used:
        return f"fold{fold}"
    last = used[-1].partition("-")[2]
    return f"fold{fold}-{int(last or 1) + 1}"


def _holds_events(folder: str) -> bool:
    return any(name.startswith(_EVENTS_PREFIX)
               for _, _, files in os.walk(folder) for name in files)


def _session_end(status: str) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.metadata import (PLUGIN_DATA_VERSION, PLUGIN_NAME,
                                                      SESSION_END_INFO_TAG)
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo

    content = HParamsPluginData(session_end_info=SessionEndInfo(status=Status.Value(status)),
                                version=PLUGIN_DATA_VERSION)
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name=PLUGIN_NAME, content=content.SerializeToString()))
    return Summary(value=[Summary.Value(tag=SESSION_END_INFO_TAG, metadata=metadata)])


def _markdown_table(params: Params) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    rows = [f"| {cell(key)} | {cell(value)} |" for key, value in params.items()]
    return "\n".join(["| setting | value |", "| --- | --- |", *rows])
