"""The training loop: folds, epochs and small overridable steps.

A mini-batch travels through these methods of :class:`TrainingLoop`, each of which a
subclass may override:

``move_batch``
    The batch's tensors to the device.
``infer``
    ``model(inputs)`` (or ``model(inputs, labels)``), split into the prediction and
    the ``layer_outputs`` dict.
``compute_loss``
    ``loss(prediction, *targets)`` with ``layer_outputs`` handed to the loss, plus the
    values of the ``regularizer`` observers.
``compute_metrics``
    Each metric on the batch, without gradients.
``train_step`` / ``evaluation_step``
    One batch of training (backward and optimizer step) or of evaluation.

``train_epoch`` and ``evaluate`` run the steps over a loader and average the values;
``training`` runs the folds and epochs, emits the signals of
:mod:`pynet_cvae.observable`, steps the scheduler and writes checkpoints.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import checkpoint_path, save_checkpoint
from .history import History
from .observable import Observable, SIGNALS

logger = logging.getLogger("pynet_cvae")

INITIAL_STATE_FILE = "initial_state.pth"


class StepOutput(NamedTuple):
    """What a train or evaluation step gives back.

    Attributes
    ----------
    loss : torch.Tensor
        The batch loss, detached (a 0-d tensor on the device).
    values : dict
        The loss's extra values and the metrics, detached tensors or numbers.
    batch_size : int
        The number of samples in the batch.
    prediction : torch.Tensor or None
        The detached prediction (evaluation steps only).
    layer_outputs : dict or None
        The model's extra outputs (evaluation steps only).
    """

    loss: torch.Tensor
    values: Dict[str, Any]
    batch_size: int
    prediction: Optional[torch.Tensor] = None
    layer_outputs: Optional[Dict[str, Any]] = None


class _RunningMeans:
    """Sample-weighted means of per-batch values, accumulated on the device.

    Keeps tensors on the device so that a step needs no host synchronisation; the
    means are read once, at the end of the epoch.
    """

    def __init__(self) -> None:
        self._sums: Dict[str, Any] = {}
        self._count = 0

    def add(self, values: Dict[str, Any], batch_size: int) -> None:
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach()
            contribution = value * batch_size
            if name in self._sums:
                self._sums[name] = self._sums[name] + contribution
            else:
                self._sums[name] = contribution
        self._count += batch_size

    def means(self) -> Dict[str, float]:
        if self._count == 0:
            return {}
        return {name: float(total) / self._count for name, total in self._sums.items()}


class TrainingLoop(Observable):
    """The fold / epoch / batch loop of :class:`~pynet_cvae.interfaces.DeepLearningInterface`.

    Subclasses set ``model``, ``optimizer``, ``loss``, ``metrics`` (a dict name ->
    callable), ``device`` and ``add_labels`` before training.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss: Callable[..., Any]
    metrics: Dict[str, Callable[..., Any]]
    device: torch.device
    add_labels: bool = False
    progress: Optional[bool] = None

    def __init__(self) -> None:
        super().__init__(SIGNALS)
        self.stop_training = False
        self._resume_state: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------ batch steps
    def move_batch(self, batch: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor],
                                               Optional[torch.Tensor]]:
        """Return the batch's ``(inputs, outputs, labels)`` on the device."""
        inputs, outputs, labels = batch
        non_blocking = self.device.type == "cuda"
        inputs = inputs.to(self.device, non_blocking=non_blocking)
        if outputs is not None:
            outputs = outputs.to(self.device, non_blocking=non_blocking)
        if labels is not None:
            labels = labels.to(self.device, non_blocking=non_blocking)
        return inputs, outputs, labels

    def infer(self, inputs: torch.Tensor, labels: Optional[torch.Tensor] = None
              ) -> Tuple[torch.Tensor, Optional[Dict[str, Any]]]:
        """Run the model; return ``(prediction, layer_outputs)``.

        Raises
        ------
        TypeError
            If the model returns anything but a tensor or a
            ``(tensor, dict)`` pair.
        """
        if self.add_labels:
            result = self.model(inputs, labels)
        else:
            result = self.model(inputs)
        return split_model_output(result)

    def compute_loss(self, prediction: torch.Tensor, targets: Sequence[torch.Tensor],
                     layer_outputs: Optional[Dict[str, Any]]
                     ) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """Return the batch loss and the loss's extra values."""
        _hand_layer_outputs(self.loss, layer_outputs)
        result = self.loss(prediction, *targets)
        extras: Dict[str, Any] = {}
        if isinstance(result, tuple):
            if len(result) != 2 or not isinstance(result[1], dict):
                raise TypeError(
                    "a loss must return a value or (value, dict_of_extra_values), "
                    f"got a tuple of {len(result)} items")
            result, extras = result
        return _check_scalar_loss(result), extras

    def add_regularizers(self, loss: torch.Tensor,
                         layer_outputs: Optional[Dict[str, Any]]) -> torch.Tensor:
        """Add every non-None value returned by the ``regularizer`` observers."""
        if not self.has_observers("regularizer"):
            return loss
        for penalty in self.notify_observers("regularizer", layer_outputs=layer_outputs):
            loss = loss + penalty
        return loss

    def compute_metrics(self, prediction: torch.Tensor, targets: Sequence[torch.Tensor],
                        layer_outputs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """Each metric on the batch, computed without gradients."""
        values = {}
        with torch.no_grad():
            for name, metric in self.metrics.items():
                _hand_layer_outputs(metric, layer_outputs)
                values[name] = _detach(metric(prediction, *targets))
        return values

    def train_step(self, batch: Any) -> StepOutput:
        """One optimisation step on ``batch``."""
        inputs, outputs, labels = self.move_batch(batch)
        targets = [target for target in (outputs, labels) if target is not None]
        self.optimizer.zero_grad(set_to_none=True)
        prediction, layer_outputs = self.infer(inputs, labels)
        loss, extras = self.compute_loss(prediction, targets, layer_outputs)
        loss = self.add_regularizers(loss, layer_outputs)
        loss.backward()
        self.optimizer.step()
        values = {name: _detach(value) for name, value in extras.items()}
        values.update(self.compute_metrics(prediction.detach(), targets, layer_outputs))
        return StepOutput(loss.detach(), values, inputs.shape[0])

    def evaluation_step(self, batch: Any) -> StepOutput:
        """Loss, metrics and prediction on ``batch``, without gradients."""
        inputs, outputs, labels = self.move_batch(batch)
        targets = [target for target in (outputs, labels) if target is not None]
        with torch.no_grad():
            prediction, layer_outputs = self.infer(inputs, labels)
            loss, extras = self.compute_loss(prediction, targets, layer_outputs)
        values = {name: _detach(value) for name, value in extras.items()}
        values.update(self.compute_metrics(prediction, targets, layer_outputs))
        return StepOutput(loss, values, inputs.shape[0], prediction, layer_outputs)

    # ------------------------------------------------------------------ epochs
    def train_epoch(self, loader: Iterable, fold: int = 0, epoch: int = 0
                    ) -> Tuple[float, Dict[str, float]]:
        """Train on every batch of ``loader``; return the mean loss and values."""
        self.model.train()
        means = _RunningMeans()
        for batch in self._progress(loader, f"fold {fold} epoch {epoch}"):
            step = self.train_step(batch)
            means.add({"loss": step.loss, **step.values}, step.batch_size)
        return _split_loss(means.means())

    def evaluate(self, loader: Iterable, collect_inputs: bool = False,
                 with_logit: bool = False, logit_function: str = "softmax",
                 predict: bool = False, concat_layer_outputs: Optional[Sequence[str]] = None
                 ) -> Tuple[np.ndarray, Optional[np.ndarray], Any, float, Dict[str, float]]:
        """Evaluate on every batch of ``loader``.

        Returns
        -------
        y_pred, X, y_true, loss, values
            The predictions, the inputs and targets (None unless
            ``collect_inputs``), the mean loss and the mean metric values.
        """
        self.model.eval()
        means = _RunningMeans()
        predictions: List[torch.Tensor] = []
        inputs_seen: List[torch.Tensor] = []
        targets_seen: List[List[torch.Tensor]] = []
        for batch in self._progress(loader, "evaluation"):
            step = self.evaluation_step(batch)
            means.add({"loss": step.loss, **step.values}, step.batch_size)
            prediction = _concat_layer_outputs(step.prediction, step.layer_outputs,
                                               concat_layer_outputs)
            prediction = _apply_logit(prediction, with_logit, logit_function, predict)
            predictions.append(prediction.cpu())
            if collect_inputs:
                inputs_seen.append(batch[0])
                targets_seen.append([target for target in batch[1:] if target is not None])
        loss, values = _split_loss(means.means())
        y_pred = torch.cat(predictions).numpy() if predictions else np.empty((0,))
        if not collect_inputs:
            return y_pred, None, None, loss, values
        X = torch.cat(inputs_seen).numpy() if inputs_seen else np.empty((0,))
        y_true = _stack_targets(targets_seen)
        return y_pred, X, y_true, loss, values

    # ------------------------------------------------------------------ folds
    def training(self, manager: Any, nb_epochs: int, checkpointdir: Optional[str] = None,
                 fold_index: Optional[int] = None, scheduler: Any = None,
                 with_validation: bool = True, save_after_epochs: int = 1
                 ) -> Tuple[History, Optional[History]]:
        """Train the model.

        Parameters
        ----------
        manager : DataManager
            Gives the train and validation loaders of each fold.
        nb_epochs : int
            The number of epochs per fold.
        checkpointdir : str, optional
            Where to write checkpoints (``model_<fold>_epoch_<epoch>.pth``) and the
            histories (JSON) every ``save_after_epochs`` epochs and at the last one.
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

        Returns
        -------
        train_history, validation_history : History
            ``validation_history`` is None without validation.
        """
        _check_positive_int("nb_epochs", nb_epochs, minimum=0)
        _check_positive_int("save_after_epochs", save_after_epochs, minimum=1)
        folds = self._folds_to_run(manager, fold_index)
        initial_state = self._initial_state(scheduler, checkpointdir)
        start_fold, start_epoch, train_history, validation_history = self._start_histories(
            scheduler, with_validation)
        for fold in folds:
            if fold < start_fold:
                continue
            resumed = fold == start_fold and start_epoch > 0
            if not resumed:
                self._restore_state(initial_state, scheduler)
            self.stop_training = False
            self.notify_observers("before_fold", fold=fold)
            loaders = manager.get_dataloader(train=True, validation=with_validation,
                                             fold_index=fold)
            first_epoch = start_epoch if resumed else 0
            for epoch in range(first_epoch, nb_epochs):
                self._run_epoch(loaders, fold, epoch, scheduler, train_history,
                                validation_history)
                last = epoch == nb_epochs - 1 or self.stop_training
                if checkpointdir is not None and ((epoch + 1) % save_after_epochs == 0 or last):
                    self.save_state(checkpointdir, fold, epoch, scheduler, train_history,
                                    validation_history)
                if self.stop_training:
                    logger.info("fold %d stopped after epoch %d", fold, epoch)
                    break
            self.notify_observers("after_fold", fold=fold, train_history=train_history,
                                  validation_history=validation_history)
        return train_history, validation_history

    def _run_epoch(self, loaders: Any, fold: int, epoch: int, scheduler: Any,
                   train_history: History, validation_history: Optional[History]) -> None:
        self.notify_observers("before_epoch", epoch=epoch, fold=fold)
        _set_loader_epoch(loaders.train, epoch)
        loss, values = self.train_epoch(loaders.train, fold, epoch)
        train_history.log((fold, epoch), loss=loss, **values)
        logger.info(train_history.summary())
        report: Dict[str, Any] = {"loss": loss, **values}
        monitored = loss
        validation = getattr(loaders, "validation", None)
        if validation_history is not None and validation is not None:
            y_pred, _, _, val_loss, val_values = self.evaluate(validation)
            validation_history.log((fold, epoch), loss=val_loss, **val_values)
            logger.info(validation_history.summary())
            report["val_loss"] = val_loss
            report.update({f"val_{name}": value for name, value in val_values.items()})
            report["val_pred"] = y_pred
            monitored = val_loss
        if scheduler is not None:
            _step_scheduler(scheduler, monitored)
            report["scheduler"] = scheduler
        self.notify_observers("after_epoch", epoch=epoch, fold=fold, **report)

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
        if loader is None:
            raise ValueError("the data manager has no test set (test_size=0): nothing to test")
        return self.evaluate(loader, collect_inputs=True, with_logit=with_logit,
                             logit_function=logit_function, predict=predict,
                             concat_layer_outputs=concat_layer_outputs)

    # ------------------------------------------------------------------ state
    def save_state(self, checkpointdir: str, fold: int, epoch: int, scheduler: Any,
                   train_history: History, validation_history: Optional[History]) -> str:
        """Write the checkpoint of ``(fold, epoch)`` and the histories."""
        path = save_checkpoint(
            checkpoint_path(checkpointdir, fold, epoch),
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=None if scheduler is None else scheduler.state_dict(),
            fold=fold, epoch=epoch,
            train_history=train_history.to_dict(),
            validation_history=None if validation_history is None
            else validation_history.to_dict())
        train_history.save(checkpointdir)
        if validation_history is not None:
            validation_history.save(checkpointdir)
        return path

    def _initial_state(self, scheduler: Any, checkpointdir: Optional[str]) -> Dict[str, Any]:
        if self._resume_state is not None and self._resume_state.get("initial") is not None:
            return self._resume_state["initial"]
        state = {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        }
        if checkpointdir is not None:
            save_checkpoint(os.path.join(checkpointdir, INITIAL_STATE_FILE), **state)
        return state

    def _restore_state(self, state: Dict[str, Any], scheduler: Any) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])

    def _start_histories(self, scheduler: Any, with_validation: bool
                         ) -> Tuple[int, int, History, Optional[History]]:
        """Fresh histories, or those ``resume=True`` loaded with the (fold, epoch) to start at."""
        state, self._resume_state = self._resume_state, None
        train_history = History(name="train")
        validation_history = History(name="validation") if with_validation else None
        if state is None:
            return 0, 0, train_history, validation_history
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("train_history"):
            train_history = History.from_dict(state["train_history"])
        if with_validation and state.get("validation_history"):
            validation_history = History.from_dict(state["validation_history"])
        return int(state["fold"]), int(state["epoch"]) + 1, train_history, validation_history

    def _folds_to_run(self, manager: Any, fold_index: Optional[int]) -> List[int]:
        number_of_folds = int(getattr(manager, "number_of_folds", 1))
        if fold_index is None:
            if self._resume_state is not None and self._resume_state.get("initial") is None \
                    and number_of_folds > int(self._resume_state["fold"]) + 1:
                raise ValueError(
                    "cannot resume a run over all folds: the initial weights "
                    f"({INITIAL_STATE_FILE}) are not beside the checkpoint; pass "
                    "fold_index to finish the checkpoint's fold only")
            return list(range(number_of_folds))
        if not 0 <= fold_index < number_of_folds:
            raise ValueError(
                f"fold_index {fold_index!r} out of range: the manager has "
                f"{number_of_folds} fold(s), expected 0 to {number_of_folds - 1}")
        return [fold_index]

    def _progress(self, loader: Iterable, description: str) -> Iterable:
        if self.progress is False:
            return loader
        return tqdm(loader, desc=description, leave=False,
                    disable=None if self.progress is None else False)


def split_model_output(result: Any) -> Tuple[torch.Tensor, Optional[Dict[str, Any]]]:
    """Split a model's return into ``(prediction, layer_outputs)``."""
    if isinstance(result, torch.Tensor):
        return result, None
    if (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.Tensor)
            and (result[1] is None or isinstance(result[1], dict))):
        return result[0], result[1]
    raise TypeError(
        "the model must return a tensor or (tensor, dict_of_layer_outputs), got "
        f"{_describe_value(result)}")


def _hand_layer_outputs(target: Any, layer_outputs: Optional[Dict[str, Any]]) -> None:
    if hasattr(target, "layer_outputs"):
        target.layer_outputs = layer_outputs


def _check_scalar_loss(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the loss must return a tensor, got {_describe_value(value)}")
    if value.dim() != 0:
        if value.numel() != 1:
            raise ValueError(
                f"the loss must return a scalar, got a tensor of shape {tuple(value.shape)}; "
                "reduce it (e.g. reduction='mean')")
        value = value.reshape(())
    return value


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.numel() != 1:
            raise ValueError(
                f"a metric must return a scalar, got a tensor of shape {tuple(value.shape)}")
        return value.reshape(())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"a metric must return a number, got {_describe_value(value)}") from None


def _describe_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "a tuple of (" + ", ".join(type(item).__name__ for item in value) + ")"
    return f"a {type(value).__name__}"


def _split_loss(means: Dict[str, float]) -> Tuple[float, Dict[str, float]]:
    means = dict(means)
    loss = means.pop("loss", float("nan"))
    return loss, means


def _step_scheduler(scheduler: Any, monitored: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()


def _set_loader_epoch(loader: Any, epoch: int) -> None:
    set_epoch = getattr(loader, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def _concat_layer_outputs(prediction: torch.Tensor, layer_outputs: Optional[Dict[str, Any]],
                          names: Optional[Sequence[str]]) -> torch.Tensor:
    if not names:
        return prediction
    if layer_outputs is None:
        raise ValueError(
            f"concat_layer_outputs={list(names)} but the model returns no layer_outputs")
    missing = [name for name in names if name not in layer_outputs]
    if missing:
        raise ValueError(
            f"concat_layer_outputs names {missing} not in the model's layer_outputs "
            f"{sorted(layer_outputs)}")
    parts = [prediction] + [layer_outputs[name] for name in names]
    return torch.cat([part.reshape(part.shape[0], -1) for part in parts], dim=1)


def _apply_logit(prediction: torch.Tensor, with_logit: bool, logit_function: str,
                 predict: bool) -> torch.Tensor:
    if with_logit:
        if logit_function == "softmax":
            prediction = torch.softmax(prediction, dim=1)
        elif logit_function == "sigmoid":
            prediction = torch.sigmoid(prediction)
        else:
            raise ValueError(
                f"logit_function {logit_function!r} unknown; expected 'softmax' or 'sigmoid'")
    if predict:
        prediction = torch.argmax(prediction, dim=1)
    return prediction


def _stack_targets(targets_seen: List[List[torch.Tensor]]) -> Any:
    if not targets_seen or not targets_seen[0]:
        return None
    columns = [torch.cat(column).numpy() for column in zip(*targets_seen)]
    return columns[0] if len(columns) == 1 else columns


def _check_positive_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
