"""The logger interface, and how a logger follows a training as an observer.

Every logger writes the same records, each for a fold:

- scalars at a step of an explicit axis, ``"epoch"`` or ``"step"``
  (:meth:`Logger.log_scalars`), named as the training signals name them: ``m`` for
  a training value, ``val_m`` for the validation value of the same metric, ``lr``
  for the learning rate;
- images (:meth:`Logger.log_images`): the sampling grid of the CVAE plugin, the
  validation predictions turned into pictures;
- text (:meth:`Logger.log_text`) and hyper-parameters
  (:meth:`Logger.log_hyperparameters`);
- files (:meth:`Logger.log_artifact`), for the loggers that keep files.

As an observer (:func:`~pynet_cvae.loggers.attach_logger`, or
``interface.add_logger(logger)``), a logger writes the run's hyper-parameters when a
fold starts, every scalar of ``after_epoch`` at the epoch, the predictions as images
when it has a ``prepare_pred``, and the values of a per-step signal at their step
(:meth:`Logger.after_step`). Observers that make pictures hand them to every
attached logger with :func:`~pynet_cvae.loggers.send_images`.

Only the main process writes: in a run over several processes, every method of a
logger does nothing on ranks other than 0, whichever signal or call reaches it.

Writing a logger of your own: subclass :class:`Logger` and implement
``_write_scalars(scalars, step, axis, fold)`` and, as the backend can show them,
``_write_images(name, images, step, fold)``, ``_write_text(name, text, step,
fold)``, ``_write_hyperparameters(params, fold)``, ``_write_artifact(path,
artifact_path, fold)``, ``_start_fold(fold, resumed_at)``, ``_finish_fold(fold,
emitter)``, ``_flush()`` and ``_close()``. They are called on rank 0 only, with
checked values.
"""

from __future__ import annotations

import logging
import numbers
import os
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np
import torch.distributed as dist

from ..extras import MissingExtraError, import_extra  # noqa: F401  (the loggers use them)
from ..plotting.values import as_scalar, epoch_values
from .images import as_images
from .params import Params, describe_run, flatten_mapping, flatten_params

logger = logging.getLogger("pynet_cvae")

AXES = ("epoch", "step")
"""The step axes of scalars: the epoch, or the optimizer step of a per-step signal."""

PREDICTIONS = "val_pred"
"""The name of the validation predictions, as a signal value and as images."""

# The per-step signal's coordinates and bookkeeping, not values to plot.
_NOT_STEP_VALUES = ("step", "epoch", "fold", "batch_size", "skipped")


def is_main_process() -> bool:
    """Whether this process writes logs: rank 0 of a distributed run, or the only one.

    Before the process group is initialised, the ``RANK`` environment variable
    that ``torchrun`` sets decides.

    Returns
    -------
    bool
        True on rank 0, or outside a distributed run.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


class Logger:
    """The interface every logger shares; also the observer that feeds it.

    Parameters
    ----------
    prepare_pred : callable, optional
        Turns the validation predictions of ``after_epoch`` (``val_pred``) into
        images (anything :func:`~pynet_cvae.loggers.images.as_images` takes, e.g.
        :func:`~pynet_cvae.plotting.values.images_from_flat` with an
        ``image_shape``), logged as ``"val_pred"`` at each epoch. Without it the
        predictions are not logged.
    hyperparameters : mapping, optional
        The run's configuration (nested mappings are flattened with dots),
        logged when each fold starts, after a description of the interface
        (model, number of parameters, optimizer and its settings, loss,
        metrics, device, precision) that these values complete or override.
    max_images : int, default 16
        How many predictions to log per epoch.

    Examples
    --------
    A logger attached to an interface follows its training::

        interface.add_logger(TensorBoardLogger("runs/tensorboard"))
        interface.training(manager, nb_epochs=20)

    Called directly, it writes what it is given::

        with CSVLogger("history.csv") as csv_logger:
            csv_logger.log_scalars({"loss": 0.5, "val_loss": 0.7}, step=0)
    """

    def __init__(self, prepare_pred: Optional[Callable[[Any], Any]] = None,
                 hyperparameters: Optional[Mapping[str, Any]] = None,
                 max_images: int = 16) -> None:
        if prepare_pred is not None and not callable(prepare_pred):
            raise TypeError(f"prepare_pred must be callable, got {prepare_pred!r}")
        if isinstance(max_images, bool) or not isinstance(max_images, int) \
                or max_images < 1:
            raise ValueError(f"max_images must be an integer >= 1, got {max_images!r}")
        self.prepare_pred = prepare_pred
        self.hyperparameters: Params = dict(hyperparameters or {})
        self.max_images = max_images
        self._active_folds: set = set()
        self._announced_folds: set = set()
        self._finished_folds: set = set()
        self._step_signal: Optional[str] = None  # set by attach_logger

    # ------------------------------------------------------------------ observers
    def __call__(self, signal: Any) -> None:
        """The ``after_epoch`` observer: see :meth:`after_epoch`."""
        self.after_epoch(signal)

    def before_fold(self, signal: Any) -> None:
        """``before_fold`` observer: the fold starts from its first epoch.

        Parameters
        ----------
        signal : signal object
            Carries ``fold``.
        """
        fold = _fold_of(signal)
        self._announced_folds.add(fold)
        self._enter_fold(fold, None, signal.object)

    def before_epoch(self, signal: Any) -> None:
        """``before_epoch`` observer: start the fold, or continue it after a resume.

        Parameters
        ----------
        signal : signal object
            Carries ``epoch`` and ``fold``; a fold first seen at an epoch other than
            0 is a resumed one, whose records go on after the earlier ones.
        """
        self._enter_fold(_fold_of(signal), _resumed_at(signal), signal.object)

    def after_epoch(self, signal: Any) -> None:
        """``after_epoch`` observer: log the epoch's scalars and predictions.

        Parameters
        ----------
        signal : signal object
            The values of the epoch (see :func:`~pynet_cvae.plotting.values.epoch_values`):
            every scalar is logged at ``signal.epoch``; ``val_pred`` is logged as
            images when the logger has a ``prepare_pred``.
        """
        if not is_main_process():
            return
        fold, epoch = _fold_of(signal), int(signal.epoch)
        self._enter_fold(fold, _resumed_at(signal), signal.object)
        self._log_epoch(epoch_values(signal), epoch, fold)
        self._flush()

    def after_step(self, signal: Any) -> None:
        """Per-step observer: log the numbers a per-step signal carries at its step.

        Attach it to the loop's per-step signal (``attach_logger(interface, logger,
        step_signal=NAME)``).

        Parameters
        ----------
        signal : signal object
            Carries ``step`` (the optimizer step's index, the x coordinate),
            optionally ``fold``, and values: every number, one-element tensor or
            mapping of them (flattened with dots) is logged, on the ``"step"`` axis,
            except ``epoch``, ``batch_size`` and ``skipped`` (the loop's bookkeeping).

        Raises
        ------
        ValueError
            If the signal carries no ``step``.
        """
        if not is_main_process():
            return
        if "step" not in getattr(signal, "keys", ()):
            raise ValueError(f"a per-step logger needs a signal that carries 'step'; the "
                             f"{signal.signal} signal carries {list(signal.keys)}")
        values = {key: getattr(signal, key) for key in signal.keys
                  if key not in _NOT_STEP_VALUES}
        scalars = {name: scalar for name, scalar in
                   ((name, as_scalar(value)) for name, value in flatten_mapping(values).items())
                   if scalar is not None}
        self.log_scalars(scalars, step=signal.step, axis="step", fold=_fold_of(signal))

    def after_fold(self, signal: Any) -> None:
        """``after_fold`` observer: close the fold's records.

        Parameters
        ----------
        signal : signal object
            Carries ``fold``; ``signal.object`` is the interface.
        """
        fold = _fold_of(signal)
        self._announced_folds.discard(fold)
        if fold not in self._active_folds or not is_main_process():
            return
        self._active_folds.discard(fold)
        self._finished_folds.add(fold)
        self._finish_fold(fold, signal.object)
        self._flush()

    # ------------------------------------------------------------------ writing
    def log_scalars(self, values: Mapping[str, Any], step: int, axis: str = "epoch",
                    fold: int = 0) -> None:
        """Log scalars at ``step`` of ``axis``.

        Parameters
        ----------
        values : mapping
            Numbers (or one-element arrays or tensors) by name; ``val_m`` is the
            validation value of ``m``.
        step : int
            The position on the axis (>= 0).
        axis : {"epoch", "step"}, default "epoch"
            Epochs, or optimizer steps.
        fold : int, default 0
            The fold the values belong to.

        Raises
        ------
        ValueError
            For an unknown axis or a negative step or fold.
        TypeError
            If a value is not a number.
        """
        if not is_main_process():
            return
        if axis not in AXES:
            raise ValueError(f"axis {axis!r} unknown; expected one of {list(AXES)}")
        step, fold = _check_index("step", step), _check_index("fold", fold)
        scalars = {}
        for name, value in values.items():
            scalar = as_scalar(value)
            if scalar is None:
                raise TypeError(f"scalar {name!r} must be a number (or hold one element), "
                                f"got {type(value).__name__}")
            scalars[str(name)] = scalar
        if scalars:
            self._enter_fold(fold, None, None)
            self._write_scalars(scalars, step, axis, fold)

    def log_images(self, name: str, images: Any, step: int, fold: int = 0) -> None:
        """Log images under ``name`` at epoch ``step``.

        Parameters
        ----------
        name : str
            What the images show (``"sampling"``, ``"val_pred"``...).
        images : array-like or torch.Tensor
            ``H x W``, ``N x H x W`` or ``N x 1|3 x H x W`` values in [0, 1] (or
            [0, 255]); see :func:`~pynet_cvae.loggers.images.as_images`.
        step : int
            The epoch.
        fold : int, default 0
            The fold.

        Raises
        ------
        ValueError
            If the images have another shape.
        """
        if not is_main_process():
            return
        name = _check_name(name)
        step, fold = _check_index("step", step), _check_index("fold", fold)
        pictures = as_images(images)
        self._enter_fold(fold, None, None)
        self._write_images(name, pictures, step, fold)

    def log_text(self, name: str, text: str, step: int = 0, fold: int = 0) -> None:
        """Log a text under ``name``.

        Parameters
        ----------
        name : str
            The text's title.
        text : str
            The text (Markdown where the backend renders it).
        step : int, default 0
            The epoch it belongs to.
        fold : int, default 0
            The fold.
        """
        if not is_main_process():
            return
        name = _check_name(name)
        step, fold = _check_index("step", step), _check_index("fold", fold)
        self._enter_fold(fold, None, None)
        self._write_text(name, str(text), step, fold)

    def log_hyperparameters(self, params: Mapping[str, Any], fold: int = 0) -> None:
        """Log the run's configuration.

        Parameters
        ----------
        params : mapping
            Settings by name; nested mappings are flattened with dots
            (``{"optimizer": {"lr": 0.1}}`` becomes ``optimizer.lr``), values that
            are not numbers, booleans or strings are written as text.
        fold : int, default 0
            The fold they apply to.
        """
        if not is_main_process():
            return
        fold = _check_index("fold", fold)
        self._enter_fold(fold, None, None)
        self._write_hyperparameters(flatten_params(params), fold)

    def log_artifact(self, path: str, artifact_path: Optional[str] = None,
                     fold: int = 0) -> None:
        """Keep a file with the run, where the backend keeps files.

        Parameters
        ----------
        path : str
            An existing file.
        artifact_path : str, optional
            The folder among the run's files (e.g. ``"checkpoints"``).
        fold : int, default 0
            The fold.

        Raises
        ------
        FileNotFoundError
            If ``path`` is not a file.
        """
        if not is_main_process():
            return
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no file at {path!r} to log as an artifact")
        fold = _check_index("fold", fold)
        self._enter_fold(fold, None, None)
        self._write_artifact(str(path), artifact_path, fold)

    def flush(self) -> None:
        """Write what is buffered, so that a viewer shows it now."""
        if is_main_process():
            self._flush()

    def close(self) -> None:
        """Close the records of every fold still open, then the backend."""
        if not is_main_process():
            return
        for fold in sorted(self._active_folds):
            self._finish_fold(fold, None)
        self._active_folds.clear()
        self._close()

    def __enter__(self) -> "Logger":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ backend
    def _enter_fold(self, fold: int, resumed_at: Optional[int], emitter: Any) -> None:
        """Start the records of ``fold`` once, and log the hyper-parameters there.

        A direct call (no ``emitter``) about a fold that has ended writes into that
        fold's records (e.g. test scores after training); a training signal about it
        starts it again.
        """
        if fold in self._active_folds or not is_main_process():
            return
        if emitter is None and fold in self._finished_folds \
                and fold not in self._announced_folds:
            return
        if fold in self._announced_folds:
            resumed_at = None
        self._finished_folds.discard(fold)
        self._active_folds.add(fold)
        self._start_fold(fold, resumed_at)
        params = {**describe_run(emitter), **self.hyperparameters}
        if params:
            self._write_hyperparameters(flatten_params(params), fold)

    def _log_epoch(self, values: Dict[str, Any], epoch: int, fold: int) -> None:
        """Log the values of an epoch: the scalars, and the predictions as images."""
        scalars = {name: scalar for name, scalar in
                   ((name, as_scalar(value)) for name, value in values.items())
                   if scalar is not None}
        self.log_scalars(scalars, step=epoch, axis="epoch", fold=fold)
        predictions = values.get(PREDICTIONS)
        if self.prepare_pred is not None and predictions is not None:
            images = self.prepare_pred(predictions[:self.max_images])
            self.log_images(PREDICTIONS, images, step=epoch, fold=fold)

    def _start_fold(self, fold: int, resumed_at: Optional[int]) -> None:
        """Open the records of ``fold``; ``resumed_at``: the epoch a resumed fold
        continues from (None: the fold starts afresh)."""

    def _finish_fold(self, fold: int, emitter: Any) -> None:
        """Close the records of ``fold``; ``emitter`` is None when the logger closes."""

    def _write_scalars(self, scalars: Dict[str, float], step: int, axis: str,
                       fold: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not write scalars")

    def _write_images(self, name: str, images: np.ndarray, step: int, fold: int) -> None:
        """Write ``N x C x H x W`` images in [0, 1]; a backend without images ignores them."""

    def _write_text(self, name: str, text: str, step: int, fold: int) -> None:
        """Write a text; a backend without texts ignores it."""

    def _write_hyperparameters(self, params: Params, fold: int) -> None:
        """Write flat hyper-parameters; a backend without them ignores them."""

    def _write_artifact(self, path: str, artifact_path: Optional[str], fold: int) -> None:
        """Keep a file; a backend without files ignores it."""

    def _flush(self) -> None:
        """Write what is buffered."""

    def _close(self) -> None:
        """Release the backend."""


def _fold_of(signal: Any) -> int:
    return int(getattr(signal, "fold", 0) or 0)


def _resumed_at(signal: Any) -> Optional[int]:
    epoch = int(getattr(signal, "epoch", 0))
    return epoch if epoch > 0 else None


def _check_index(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) \
            or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a logged name must be a non-empty string, got {name!r}")
    return name

