"""The training loop: folds, epochs and small overridable steps.

A mini-batch travels through the steps of :class:`~pynet_cvae.steps.BatchSteps`
(``move_batch``, ``infer``, ``compute_loss``, ``compute_metrics``,
``backward_and_step``, ``train_step``, ``evaluation_step``), each of which a subclass
of :class:`TrainingLoop` may override; :mod:`pynet_cvae.steps` documents each one.

``train_epoch`` and ``evaluate`` run the steps over a loader and average the values;
the per-batch path makes no host synchronisation (the loss and the metrics are summed
on the device and read once per epoch). ``training`` runs the folds and epochs, emits
the signals of :mod:`pynet_cvae.observable`, steps the scheduler and writes
checkpoints, from which ``training(..., resume=True)`` continues exactly
(:mod:`pynet_cvae.checkpointing`). Non-finite losses are handled as
:mod:`pynet_cvae.numerics` describes; mixed precision is :mod:`pynet_cvae.precision`;
a run over several processes (``torchrun``) is :mod:`pynet_cvae.distributed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .checkpointing import INITIAL_STATE_FILE, CheckpointingMixin, RunStart
from .distributed import (DistributedContext, global_validation_batches,
                          shard_training_loader, sharded_steps)
from .history import History
from .numerics import (SKIPPED_COUNT, NonFiniteGuard, check_clip_norm, check_epoch_values,
                       check_policy)
from .observable import SIGNALS, Observable
from .outputs import (RunningMeans, append_layer_outputs, apply_logit, split_loss,
                      split_model_output, stack_targets)
from .progress import progress_bar
from .reporting import epoch_label, epoch_lines
from .seeding import seed_everything
from .steps import BatchSteps, StepOutput

__all__ = ["TrainingLoop", "StepOutput", "INITIAL_STATE_FILE", "split_model_output"]

logger = logging.getLogger("pynet_cvae")


@dataclass
class Run:
    """The settings and histories of one call to :meth:`TrainingLoop.training`."""

    manager: Any
    nb_epochs: int
    checkpointdir: Optional[str]
    scheduler: Any
    with_validation: bool
    save_after_epochs: int
    keep_last: Optional[int]
    keep_best: bool
    train_history: History
    validation_history: Optional[History]


class TrainingLoop(BatchSteps, CheckpointingMixin, Observable):
    """The fold / epoch / batch loop of :class:`~pynet_cvae.interfaces.DeepLearningInterface`.

    Subclasses set ``model``, ``optimizer``, ``loss``, ``metrics`` (a dict name ->
    callable), ``device`` and ``add_labels`` before training, and optionally
    ``precision`` (a :class:`~pynet_cvae.precision.MixedPrecision`), ``distributed``
    (a :class:`~pynet_cvae.distributed.DistributedContext`) and ``parallel_model``
    (the ``DistributedDataParallel`` wrapper of ``model``, used by training steps);
    see :class:`~pynet_cvae.steps.BatchSteps`. The progress bar names each epoch
    1-based (``fold 0, epoch 3/20``); the logged line of an epoch is pynet's
    ``History.summary()`` unless ``named_epochs`` is set (as ``pynet-cvae train``
    does: :func:`~pynet_cvae.reporting.epoch_lines`).
    """

    progress: Optional[bool] = None
    named_epochs: bool = False
    _nb_epochs: Optional[int] = None  # of the run being trained, for what users read
    distributed: Optional[DistributedContext] = None
    validation_predictions: Union[str, int] = "batch"

    def __init__(self) -> None:
        Observable.__init__(self, SIGNALS)
        CheckpointingMixin.__init__(self)
        self.stop_training = False

    # ------------------------------------------------------------------ epochs
    def train_epoch(self, loader: Iterable, fold: int = 0, epoch: int = 0
                    ) -> Tuple[float, Dict[str, float]]:
        """Train on every batch of ``loader``; return the mean loss and values.

        In a distributed run the means are over every process's samples.

        Raises
        ------
        pynet_cvae.numerics.NonFiniteLossError
            With ``on_nonfinite="raise"``, if a batch loss was not finite (on any
            process).
        """
        self.model.train()
        means = RunningMeans()
        guard = NonFiniteGuard(self.on_nonfinite)
        first_step = epoch * len(loader) if hasattr(loader, "__len__") else 0
        before, after = self.has_observers("before_step"), self.has_observers("after_step")
        with sharded_steps(self.distributed):
            for index, batch in enumerate(self._progress(
                    loader, epoch_label(fold, epoch, self._nb_epochs))):
                if before:
                    self.notify_observers("before_step", step=first_step + index,
                                          epoch=epoch, fold=fold)
                step = self.train_step(batch)
                if after:
                    self.notify_observers("after_step", step=first_step + index,
                                          epoch=epoch, fold=fold, loss=step.loss,
                                          values=step.values, batch_size=step.batch_size,
                                          skipped=step.skipped)
                if guard.record(step.loss, step.skipped, step.values):
                    means.add({"loss": step.loss, **step.values}, step.batch_size)
        skipped, counted, elsewhere = guard.skipped, guard.batches, False
        if self.distributed is not None:
            found = guard.found()
            counts = means.sum_over_processes(
                self.distributed.sum_, self.device,
                {"skipped": skipped, "counted": counted,
                 "nonfinite": 0 if found is None else found})
            skipped, counted = counts["skipped"], counts["counted"]
            elsewhere = counts["nonfinite"] > 0
        guard.check(fold, epoch, self.last_checkpoint, elsewhere)
        guard.check_counted("training", fold, epoch, self.last_checkpoint, counted, skipped)
        loss, values = split_loss(means.means())
        check_epoch_values("training", loss, values, fold, epoch, self.last_checkpoint)
        if self.on_nonfinite == "skip":
            values[SKIPPED_COUNT] = skipped
        return loss, values

    def evaluate(self, loader: Iterable, collect_inputs: bool = False,
                 with_logit: bool = False, logit_function: str = "softmax",
                 predict: bool = False, concat_layer_outputs: Optional[Sequence[str]] = None,
                 keep_predictions: Optional[int] = None
                 ) -> Tuple[np.ndarray, Optional[np.ndarray], Any, float, Dict[str, float]]:
        """Evaluate on every batch of ``loader`` (a loader with ``set_epoch`` runs its
        epoch 0: the same batches at every evaluation).

        With ``on_nonfinite="skip"``, batches whose loss or a value is not finite
        are left out of the means (counted as ``nonfinite_batches``).

        Parameters
        ----------
        keep_predictions : int, optional
            Keep the predictions of the first ``keep_predictions`` samples only, so
            that memory does not grow with the data set (all by default).

        Returns
        -------
        y_pred, X, y_true, loss, values
            The predictions, the inputs and targets (None unless
            ``collect_inputs``), the mean loss and the mean metric values.

        Raises
        ------
        pynet_cvae.numerics.NonFiniteLossError
            With ``on_nonfinite="skip"``, if every batch was left out.
        """
        self.model.eval()
        _set_loader_epoch(loader, 0)  # an evaluation reads the same batches every time
        means = RunningMeans()
        guard = NonFiniteGuard(self.on_nonfinite) if self.on_nonfinite == "skip" else None
        predictions: List[torch.Tensor] = []
        room = keep_predictions
        inputs_seen: List[torch.Tensor] = []
        targets_seen: List[List[torch.Tensor]] = []
        for batch in self._progress(loader, "evaluation"):
            step = self.evaluation_step(batch)
            if guard is None or guard.record(step.loss, False, step.values):
                means.add({"loss": step.loss, **step.values}, step.batch_size)
            if room is None or room > 0:
                prediction = append_layer_outputs(step.prediction, step.layer_outputs,
                                                  concat_layer_outputs)
                prediction = apply_logit(prediction, with_logit, logit_function, predict)
                if room is not None:
                    prediction = prediction[:room]
                    room -= len(prediction)
                predictions.append(prediction.cpu())
            if collect_inputs:
                inputs_seen.append(batch[0])
                targets_seen.append([target for target in batch[1:] if target is not None])
        loss, values = split_loss(means.means())
        if guard is not None:
            guard.check_counted("evaluation", None, None)
            values[SKIPPED_COUNT] = guard.skipped
        y_pred = torch.cat(predictions).numpy() if predictions else np.empty((0,))
        if not collect_inputs:
            return y_pred, None, None, loss, values
        X = torch.cat(inputs_seen).numpy() if inputs_seen else np.empty((0,))
        return y_pred, X, stack_targets(targets_seen), loss, values

    # ------------------------------------------------------------------ folds
    def training(self, manager: Any, nb_epochs: int, checkpointdir: Optional[str] = None,
                 fold_index: Optional[int] = None, scheduler: Any = None,
                 with_validation: bool = True, save_after_epochs: int = 1,
                 add_labels: Optional[bool] = None,
                 resume: bool = False, keep_last: Optional[int] = None,
                 seed: Optional[int] = None, on_nonfinite: str = "raise",
                 clip_grad_norm: Optional[float] = None, keep_best: bool = False
                 ) -> Tuple[History, Optional[History]]:
        """Train the model.

        Parameters
        ----------
        manager : DataManager
            Gives the train and validation loaders of each fold.
        nb_epochs : int
            The number of epochs per fold.
        checkpointdir : str, optional
            Where to write checkpoints (``model_<fold>_epoch_<epoch>.pth`` and their
            SHA-256) and the histories (JSON) every ``save_after_epochs`` epochs, at
            the last one and when a fold is stopped early.
        fold_index : int, optional
            Train on this fold only; all folds when None, each restarting from the
            initial weights, optimizer and scheduler.
        scheduler : torch.optim.lr_scheduler.LRScheduler or ReduceLROnPlateau, optional
            Stepped once per epoch; ``ReduceLROnPlateau`` on the validation loss (the
            training loss without validation).
        with_validation : bool, default True
            Evaluate on the fold's validation set after each epoch.
        save_after_epochs : int, default 1
            The checkpoint period, in epochs.
        add_labels : bool, optional
            Call the model as ``model(inputs, labels)`` (True) or ``model(inputs)``
            (False) from now on; None keeps the interface's ``add_labels``.
        resume : bool, default False
            Continue from the last complete checkpoint in ``checkpointdir`` (a
            corrupted one is skipped with a warning); start afresh when there is
            none. The weights, optimizer, scheduler, histories, random states and
            observer states are restored, so the run ends as the uninterrupted one.
        keep_last : int, optional
            Keep only the latest ``keep_last`` checkpoints (all by default).
        keep_best : bool, default False
            With ``keep_last``, also keep the fold's checkpoint of lowest validation
            loss (:func:`~pynet_cvae.checkpointing.best_checkpoint`).
        seed : int, optional
            Seed Python, NumPy and torch first (:func:`pynet_cvae.seeding.seed_everything`).
        on_nonfinite : {"raise", "skip"}, default "raise"
            What a NaN or infinite batch loss does: stop with a
            :class:`~pynet_cvae.numerics.NonFiniteLossError` (so does a non-finite
            epoch mean of a metric, or of the validation loss), or skip the batch
            (batches with a non-finite loss or value are left out of the means and
            counted as ``nonfinite_batches``; an epoch of skipped batches stops too).
            See :mod:`pynet_cvae.numerics`.
        clip_grad_norm : float, optional
            Clip the gradients' total norm to this value before each optimizer step.

        Returns
        -------
        train_history, validation_history : History
            ``validation_history`` is empty without validation.
        """
        if add_labels is not None:
            self.add_labels = bool(add_labels)
        run = self._new_run(manager, nb_epochs, checkpointdir, scheduler, with_validation,
                            save_after_epochs, keep_last, keep_best)
        self.on_nonfinite = check_policy(on_nonfinite)
        self.clip_grad_norm = check_clip_norm(clip_grad_norm)
        if seed is not None:
            seed_everything(seed)
        if resume:
            self.resume_from(checkpointdir)
        folds = self._folds_to_run(manager, fold_index)
        initial_state = self._initial_state(scheduler, checkpointdir)
        start = self._restore_run(run, folds)
        for fold in folds:
            if start is not None and fold < start.fold:
                continue
            if start is not None and fold == start.fold:
                self._continue_fold(run, start)
                continue
            self._restore_state(initial_state, scheduler)
            self._train_fold(run, fold, first_epoch=0)
        if self.distributed is not None:
            self.distributed.barrier()  # rank 0's files are written when any rank returns
        validation_history = run.validation_history
        if validation_history is None:  # pynet returns an empty history, not None
            validation_history = History(name="validation")
        return run.train_history, validation_history

    @property
    def is_main_process(self) -> bool:
        """True unless this is a process other than rank 0 of a distributed run: the
        process that writes files and calls the rank-zero-only observers."""
        return self.distributed is None or self.distributed.is_main

    def _new_run(self, manager: Any, nb_epochs: int, checkpointdir: Optional[str],
                 scheduler: Any, with_validation: bool, save_after_epochs: int,
                 keep_last: Optional[int], keep_best: bool) -> Run:
        _check_int("nb_epochs", nb_epochs, minimum=0)
        _check_int("save_after_epochs", save_after_epochs, minimum=1)
        if keep_last is not None:
            _check_int("keep_last", keep_last, minimum=1)
        return Run(manager, nb_epochs, checkpointdir, scheduler, with_validation,
                   save_after_epochs, keep_last, bool(keep_best), History(name="train"),
                   History(name="validation") if with_validation else None)

    def _continue_fold(self, run: Run, start: RunStart) -> None:
        """Finish the fold a resumed run stopped in (or only close it, if it ended)."""
        if start.finished:
            self.notify_observers("after_fold", fold=start.fold,
                                  train_history=run.train_history,
                                  validation_history=run.validation_history)
            return
        self._train_fold(run, start.fold, start.epoch, start.train_loader)

    def _train_fold(self, run: Run, fold: int, first_epoch: int,
                    loader_state: Optional[Dict[str, Any]] = None) -> None:
        self.stop_training = False
        if first_epoch == 0:
            self.notify_observers("before_fold", fold=fold)
        self._nb_epochs = run.nb_epochs
        loaders = run.manager.get_dataloader(train=True, validation=run.with_validation,
                                             fold_index=fold)
        if self.distributed is not None:
            shard_training_loader(loaders.train, self.distributed)
            global_validation_batches(loaders.validation, self.distributed)
        _load_loader_state(loaders.train, loader_state)
        for epoch in range(first_epoch, run.nb_epochs):
            self._run_epoch(loaders, fold, epoch, run.scheduler, run.train_history,
                            run.validation_history)
            if self._checkpoint_due(run, epoch):
                self.save_state(run.checkpointdir, fold, epoch, run.scheduler,
                                run.train_history, run.validation_history,
                                train_loader=loaders.train, keep_last=run.keep_last,
                                keep_best=run.keep_best)
            if self.stop_training:
                if self.is_main_process:
                    logger.info("fold %d stopped after epoch %d", fold, epoch)
                break
        self.notify_observers("after_fold", fold=fold, train_history=run.train_history,
                              validation_history=run.validation_history)

    def _checkpoint_due(self, run: Run, epoch: int) -> bool:
        if run.checkpointdir is None:
            return False
        return ((epoch + 1) % run.save_after_epochs == 0 or epoch == run.nb_epochs - 1
                or self.stop_training)

    def _run_epoch(self, loaders: Any, fold: int, epoch: int, scheduler: Any,
                   train_history: History, validation_history: Optional[History]) -> None:
        self.notify_observers("before_epoch", epoch=epoch, fold=fold, scheduler=scheduler)
        _set_loader_epoch(loaders.train, epoch)
        loss, values = self.train_epoch(loaders.train, fold, epoch)
        train_history.log((fold, epoch), loss=loss, **values)
        if self.is_main_process:
            logger.info(self._epoch_summary(train_history))
        report: Dict[str, Any] = {"scheduler": scheduler, "loss": loss, **values}
        monitored = loss
        validation = getattr(loaders, "validation", None)
        if validation_history is not None and validation is not None:
            y_pred, _, _, val_loss, val_values = self.evaluate(
                validation, keep_predictions=self._kept_predictions(validation))
            check_epoch_values("validation", val_loss, val_values, fold, epoch,
                               self.last_checkpoint)
            validation_history.log((fold, epoch), loss=val_loss, **val_values)
            if self.is_main_process:
                logger.info(self._epoch_summary(validation_history))
            report["val_loss"] = val_loss
            report.update({f"val_{name}": value for name, value in val_values.items()})
            report["val_pred"] = y_pred
            monitored = val_loss
        if scheduler is not None:
            _step_scheduler(scheduler, monitored)
        self.notify_observers("after_epoch", epoch=epoch, fold=fold, **report)
        if self.distributed is not None:
            self._agree_across_processes(fold, epoch)

    def _agree_across_processes(self, fold: int, epoch: int) -> None:
        """Stop every process when one stops; check that the weights are still shared."""
        context = self.distributed
        self.stop_training = context.any_(self.stop_training, self.device)
        if not context.same_everywhere(_fingerprint(self.model)):
            raise RuntimeError(
                f"the processes' weights differ after fold {fold} epoch {epoch}: something "
                "changed the model on some processes only (an observer marked "
                "rank_zero_only that should run everywhere?)")

    def _kept_predictions(self, loader: Any) -> Optional[int]:
        """How many validation predictions ``val_pred`` holds (None: all)."""
        kept = self.validation_predictions
        if kept == "all":
            return None
        if kept == "batch":
            return int(getattr(loader, "batch_size", 1) or 1)
        return int(kept)

    def testing(self, manager: Any, with_logit: bool = False,
                logit_function: str = "softmax", predict: bool = False,
                concat_layer_outputs: Optional[Sequence[str]] = None
                ) -> Tuple[np.ndarray, np.ndarray, Any, float, Dict[str, float]]:
        """Evaluate on the manager's test set.

        Parameters
        ----------
        manager : DataManager
            Must have a test set (``test_size > 0``).
        with_logit : bool, default False
            Apply ``logit_function`` (``"softmax"`` or ``"sigmoid"``) to the
            predictions.
        predict : bool, default False
            Return class ids (argmax over dimension 1) instead of scores.
        concat_layer_outputs : list of str, optional
            Names of ``layer_outputs`` entries concatenated to the prediction along
            dimension 1.

        Returns
        -------
        y_pred : numpy.ndarray
            The predictions.
        X : numpy.ndarray
            The inputs.
        y_true : numpy.ndarray or list of numpy.ndarray
            The targets: one array when the batches carry one target (outputs or
            labels), else ``[outputs, labels]``.
        loss : float
            The mean loss.
        values : dict
            The mean of each metric and extra loss value.
        """
        loader = manager.get_dataloader(test=True).test
        if loader is None or (hasattr(loader, "__len__") and len(loader) == 0):
            raise ValueError("the data manager has no test set (test_size=0): nothing to test")
        return self.evaluate(loader, collect_inputs=True, with_logit=with_logit,
                             logit_function=logit_function, predict=predict,
                             concat_layer_outputs=concat_layer_outputs)

    def _folds_to_run(self, manager: Any, fold_index: Optional[int]) -> List[int]:
        number_of_folds = int(getattr(manager, "number_of_folds", 1))
        if fold_index is None:
            if self._resume_needs_initial_state(number_of_folds):
                raise ValueError(
                    "cannot resume a run over all folds: the initial weights "
                    f"({INITIAL_STATE_FILE}) are not beside the checkpoint; pass "
                    "fold_index to finish the checkpoint's fold only")
            return list(range(number_of_folds))
        if isinstance(fold_index, bool) or not isinstance(fold_index, (int, np.integer)) \
                or not 0 <= fold_index < number_of_folds:
            raise ValueError(
                f"fold_index {fold_index!r} out of range: the manager has "
                f"{number_of_folds} fold(s), expected 0 to {number_of_folds - 1}")
        return [int(fold_index)]

    def _epoch_summary(self, history: History) -> str:
        """The logged line of an epoch: pynet's ``History.summary()``, or with
        :attr:`named_epochs` the lines of :func:`~pynet_cvae.reporting.epoch_lines`."""
        if not self.named_epochs:
            return history.summary()
        fold, epoch = history.steps[-1]
        return epoch_lines(history.name, history.last(), fold, epoch,
                           self._nb_epochs)

    def _progress(self, loader: Iterable, description: str) -> Iterable:
        enabled = self.progress if self.is_main_process else False  # one bar per run
        return progress_bar(loader, description, enabled)


def _fingerprint(model: torch.nn.Module) -> torch.Tensor:
    """Two sums per parameter (of the values and of their squares), in float64."""
    sums = [torch.stack((parameter.detach().double().sum(),
                         parameter.detach().double().square().sum()))
            for parameter in model.parameters()]
    if not sums:
        return torch.zeros(2, dtype=torch.float64)
    return torch.cat(sums)


def _step_scheduler(scheduler: Any, monitored: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()


def _set_loader_epoch(loader: Any, epoch: int) -> None:
    set_epoch = getattr(loader, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def _load_loader_state(loader: Any, state: Optional[Dict[str, Any]]) -> None:
    load = getattr(loader, "load_state_dict", None)
    if state is not None and callable(load):
        load(state)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
