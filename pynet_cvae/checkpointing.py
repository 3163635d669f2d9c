"""The state of a training run: what a checkpoint holds and how a run resumes.

:class:`CheckpointingMixin` gives :class:`~pynet_cvae.training.TrainingLoop` its
``save_state`` and ``resume_from``. A checkpoint written after epoch ``e`` holds
everything the run's future depends on (see :mod:`pynet_cvae.checkpoint` for the
entries): resuming restores it and replays what the uninterrupted run did after that
save, so both end with the same weights and histories. In particular the signals
emitted after the save (``after_fold`` of a finished fold) are emitted again, while
``before_fold`` is not emitted for the fold being continued.

In a distributed run (:mod:`pynet_cvae.distributed`) only rank 0 writes files (the
checkpoints, the initial state and the histories); every process reads the checkpoint
to resume. With fp16 mixed precision the gradient scaler's state is saved too
(``grad_scaler``).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import re
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .checkpoint import (CheckpointWriteError, CorruptCheckpointError, checkpoint_path,
                         last_good_checkpoint, load_checkpoint, prune_checkpoints,
                         remove_partial_files, save_checkpoint)
from .history import History
from .seeding import rng_state, set_rng_state

logger = logging.getLogger("pynet_cvae")

INITIAL_STATE_FILE = "initial_state.pth"
"""The weights, optimizer and scheduler before training, beside the checkpoints."""


class RunStart(NamedTuple):
    """Where a resumed run continues.

    Attributes
    ----------
    fold : int
        The checkpoint's fold.
    epoch : int
        The first epoch to run (the checkpoint's epoch + 1).
    finished : bool
        True when the fold had ended (last epoch, or stopped by an observer).
    train_loader : dict or None
        The training loader's saved state.
    """

    fold: int
    epoch: int
    finished: bool
    train_loader: Optional[Dict[str, Any]]


def best_checkpoint(checkpointdir: str, validation_history: Optional[History],
                    fold: int = 0) -> Optional[str]:
    """The checkpoint of ``fold`` in ``checkpointdir`` of lowest validation loss.

    Parameters
    ----------
    checkpointdir : str
        The folder of the checkpoints.
    validation_history : History or None
        The run's validation history (its ``loss`` per ``(fold, epoch)``).
    fold : int, default 0
        The fold.

    Returns
    -------
    str or None
        The path, or None without validation losses or checkpoints of those epochs.
    """
    if validation_history is None or "loss" not in validation_history:
        return None
    best: Optional[Tuple[float, str]] = None
    for step, loss in zip(*validation_history["loss"]):
        if not isinstance(step, tuple) or step[0] != fold or not math.isfinite(loss):
            continue
        path = checkpoint_path(checkpointdir, fold, step[1])
        if (best is None or loss < best[0]) and os.path.isfile(path):
            best = (loss, path)
    return None if best is None else best[1]


class CheckpointingMixin:
    """Save and restore a run's state; mixed into the training loop.

    Uses the loop's ``model``, ``optimizer``, ``device``, ``stop_training``,
    ``precision``, ``is_main_process`` and its observers' states
    (:meth:`~pynet_cvae.observable.Observable.observer_states`).

    Attributes
    ----------
    last_checkpoint : str or None
        The last checkpoint written or resumed from.
    """

    def __init__(self) -> None:
        self._resume_state: Optional[Dict[str, Any]] = None
        self.last_checkpoint: Optional[str] = None

    # ------------------------------------------------------------------ saving
    def save_state(self, checkpointdir: str, fold: int, epoch: int, scheduler: Any,
                   train_history: History, validation_history: Optional[History],
                   train_loader: Any = None, keep_last: Optional[int] = None,
                   keep_best: bool = False) -> str:
        """Write the checkpoint of ``(fold, epoch)`` and the histories (JSON).

        The histories are written twice: ``<name>.json`` (the latest) and
        ``<name>_<fold>_epoch_<epoch>.json`` (pynet's per-checkpoint names, e.g.
        ``train_0_epoch_2.json``), each holding every step logged so far.

        Parameters
        ----------
        checkpointdir : str
            The folder of the checkpoints.
        fold, epoch : int
            The epoch just finished.
        scheduler : object or None
            The learning-rate scheduler.
        train_history, validation_history : History
            The histories so far.
        train_loader : object, optional
            The training loader, saved through its ``state_dict()`` when it has one.
        keep_last : int, optional
            Then remove all but the ``keep_last`` latest checkpoints.
        keep_best : bool, default False
            With ``keep_last``, also keep the fold's checkpoint of lowest validation
            loss (:func:`best_checkpoint`).

        Returns
        -------
        str
            The checkpoint's path (written by rank 0 only in a distributed run).

        Raises
        ------
        pynet_cvae.checkpoint.CheckpointWriteError
            If a file cannot be written; the previous checkpoints are kept.
        """
        if not self._writes_files():
            self.last_checkpoint = checkpoint_path(checkpointdir, fold, epoch)
            return self.last_checkpoint
        path = save_checkpoint(
            checkpoint_path(checkpointdir, fold, epoch),
            **self.run_state(fold, epoch, scheduler, train_history, validation_history,
                             train_loader))
        self.last_checkpoint = path
        try:
            for history in (train_history, validation_history):
                if history is not None:
                    history.save(checkpointdir)
                    history.save(checkpointdir, fold, epoch)  # pynet's per-checkpoint names
        except OSError as error:
            raise CheckpointWriteError(
                error.errno, f"cannot write the histories in {checkpointdir!r}: "
                f"{error.strerror or error}; the checkpoint {path!r} holds them") from error
        if keep_last is not None:
            best = best_checkpoint(checkpointdir, validation_history, fold) \
                if keep_best else None
            removed = prune_checkpoints(checkpointdir, keep_last,
                                        keep=() if best is None else (best,))
            _remove_epoch_histories(checkpointdir, removed)
        return path

    def run_state(self, fold: int, epoch: int, scheduler: Any, train_history: History,
                  validation_history: Optional[History], train_loader: Any = None
                  ) -> Dict[str, Any]:
        """The entries of the checkpoint of ``(fold, epoch)``."""
        loader_state = getattr(train_loader, "state_dict", None)
        scaler = self._scaler_state()
        return {
            **({} if scaler is None else {"grad_scaler": scaler}),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "fold": int(fold), "epoch": int(epoch), "stopped": bool(self.stop_training),
            # without the wall-clock times: identical runs write identical checkpoints
            "train_history": train_history.to_dict(),
            "validation_history": None if validation_history is None
            else validation_history.to_dict(),
            "rng": rng_state(),
            "observers": self.observer_states(),
            "train_loader": loader_state() if callable(loader_state) else None,
        }

    # ------------------------------------------------------------------ loading
    def resume_from(self, checkpointdir: Optional[str]) -> Optional[str]:
        """Prepare to continue from the last good checkpoint of ``checkpointdir``.

        Loads the weights and the optimizer now; the rest is restored when
        :meth:`training` starts. Temporary files left by a killed save are removed.

        Returns
        -------
        str or None
            The checkpoint used, or None when the folder holds none (training then
            starts from the beginning).

        Raises
        ------
        ValueError
            If ``checkpointdir`` is None or a checkpoint does not fit the model.
        pynet_cvae.checkpoint.UnsafeCheckpointError
            If a checkpoint would run code when unpickled.
        pynet_cvae.checkpoint.CorruptCheckpointError
            If the folder holds checkpoints but none is usable.
        """
        if checkpointdir is None:
            raise ValueError("resume=True needs checkpointdir: the folder whose last good "
                             "checkpoint the run continues from")
        if not os.path.isdir(checkpointdir):
            logger.info("no checkpoint folder %s: training starts from the beginning",
                        checkpointdir)
            return None
        if self._writes_files():
            remove_partial_files(checkpointdir)
        found = last_good_checkpoint(checkpointdir, map_location=self.device)
        if found is None:
            logger.info("no checkpoint in %s: training starts from the beginning",
                        checkpointdir)
            return None
        path, checkpoint = found
        self.load_run_state(path, checkpoint)
        return path

    def load_run_state(self, path: str, checkpoint: Dict[str, Any]) -> None:
        """Load the weights and optimizer of ``checkpoint`` (read from ``path``) and
        keep the rest for the next :meth:`training`.

        Raises
        ------
        ValueError
            If the checkpoint holds only weights, or does not fit the model or the
            optimizer.
        """
        missing = [key for key in ("optimizer", "fold", "epoch") if checkpoint.get(key) is None]
        if missing:
            raise ValueError(
                f"cannot resume from {path!r}: it holds no {missing} (only weights); "
                "use pretrained= without resume=True")
        self.load_weights(checkpoint["model"], path)
        try:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        except (ValueError, KeyError) as error:
            raise ValueError(f"the optimizer state in {path!r} does not fit the "
                             f"{type(self.optimizer).__name__} optimizer: {error}") from None
        precision = getattr(self, "precision", None)
        if precision is not None:
            precision.load_state_dict(checkpoint.get("grad_scaler"))
        checkpoint["initial"] = self._load_initial_state(path)
        self._resume_state = checkpoint
        self.last_checkpoint = path
        logger.info("resuming from %s (fold %s, epoch %s)", path, checkpoint["fold"],
                    checkpoint["epoch"])

    def load_weights(self, weights: Dict[str, Any], path: str) -> None:
        """Load a model state dict read from ``path``, with a clear error on mismatch."""
        try:
            self.model.load_state_dict(weights)
        except (RuntimeError, TypeError, AttributeError) as error:
            raise ValueError(f"the weights in {path!r} do not fit the model "
                             f"{type(self.model).__name__}: {error}") from None

    def _load_initial_state(self, path: str) -> Optional[Dict[str, Any]]:
        initial_path = os.path.join(os.path.dirname(os.path.abspath(path)), INITIAL_STATE_FILE)
        if not os.path.isfile(initial_path):
            return None
        try:
            return load_checkpoint(initial_path, map_location=self.device)
        except CorruptCheckpointError as error:
            logger.warning("the initial weights cannot be read: %s", error)
            return None

    # ------------------------------------------------------------------ during training
    def _initial_state(self, scheduler: Any, checkpointdir: Optional[str]
                       ) -> Optional[Dict[str, Any]]:
        """The state each fold starts from; written beside the checkpoints once."""
        if self._resume_state is not None:
            return self._resume_state.get("initial")
        state = {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        }
        if checkpointdir is not None and self._writes_files():
            save_checkpoint(os.path.join(checkpointdir, INITIAL_STATE_FILE), **state)
        return state

    def _writes_files(self) -> bool:
        """False on the processes other than rank 0 of a distributed run."""
        return bool(getattr(self, "is_main_process", True))

    def _scaler_state(self) -> Optional[Dict[str, Any]]:
        precision = getattr(self, "precision", None)
        return None if precision is None else precision.state_dict()

    def _restore_state(self, state: Optional[Dict[str, Any]], scheduler: Any) -> None:
        if state is None:
            raise ValueError(f"the initial weights ({INITIAL_STATE_FILE}) are missing or "
                             "unreadable: cannot start another fold")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])

    def _resume_needs_initial_state(self, number_of_folds: int) -> bool:
        state = self._resume_state
        return (state is not None and state.get("initial") is None
                and number_of_folds > int(state["fold"]) + 1)

    def _restore_run(self, run: Any, folds: Sequence[int]) -> Optional[RunStart]:
        """Restore the histories, scheduler, observers and random states to resume.

        The random states are restored last, so nothing draws from them before the
        resumed epoch does.
        """
        state, self._resume_state = self._resume_state, None
        if state is None:
            return None
        fold, epoch = int(state["fold"]), int(state["epoch"])
        if fold not in folds:
            raise ValueError(f"the checkpoint to resume from is at fold {fold}, which this "
                             f"call does not train (folds {list(folds)}); pass "
                             f"fold_index={fold} or None")
        if run.scheduler is not None and state.get("scheduler") is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        if state.get("train_history"):
            run.train_history = History.from_dict(state["train_history"])
        if run.with_validation and state.get("validation_history"):
            run.validation_history = History.from_dict(state["validation_history"])
        if state.get("observers"):
            self.load_observer_states(state["observers"])
        if state.get("rng"):
            set_rng_state(state["rng"])
        stopped = bool(state.get("stopped", False))
        return RunStart(fold, epoch + 1, stopped or epoch + 1 >= run.nb_epochs,
                        state.get("train_loader"))


def _remove_epoch_histories(checkpointdir: str, checkpoints: List[str]) -> None:
    """Remove the per-checkpoint histories (``train_<fold>_epoch_<epoch>.json``...) of
    pruned checkpoints, so that a bounded run keeps a bounded folder."""
    for path in checkpoints:
        match = re.fullmatch(r"model_(\d+)_epoch_(\d+)\.pth", os.path.basename(path))
        if match is None:
            continue
        for name in os.listdir(checkpointdir):
            if name.endswith(f"_{match[1]}_epoch_{match[2]}.json"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(checkpointdir, name))
