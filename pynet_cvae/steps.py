"""The steps of one mini-batch: move, infer, loss, metrics, backward and step.

:class:`BatchSteps` is the per-batch half of :class:`~pynet_cvae.training.TrainingLoop`.
A mini-batch travels through these methods, each of which a subclass may override:

``move_batch``
    The batch's tensors to the device.
``infer``
    ``model(inputs)`` (or ``model(inputs, labels)``), split into the prediction and
    the ``layer_outputs`` dict. The forward runs under the loop's autocast
    (:mod:`~pynet_cvae.precision`), and in a distributed run, while training, through
    the ``DistributedDataParallel`` wrapper (:mod:`~pynet_cvae.distributed`).
``compute_loss``
    ``loss(prediction, *targets)`` with ``layer_outputs`` handed to the loss, plus the
    values of the ``regularizer`` observers (``add_regularizers``).
``compute_metrics``
    Each metric on the batch, without gradients, except a metric whose name the loss
    already reported for that batch: a loss returning ``(value, {"VAELoss": ...})``
    gives the value of the metric ``VAELoss``, which is then not computed again (the
    loss's extra value wins).
``backward_and_step``
    Backward, gradient clipping (``clip_gradients``, ``clip_grad_norm``) and the
    optimizer's step (``optimizer_step``).
``train_step`` / ``evaluation_step``
    One batch of training (backward and optimizer step) or of evaluation.

The path makes no host synchronisation (no ``.item()``, no logging): the loss and the
values stay on the device, detached, and the epoch sums them there
(:class:`~pynet_cvae.outputs.RunningMeans`). Only ``on_nonfinite="skip"`` checks each
loss on the host (:mod:`pynet_cvae.numerics`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import torch

from .numerics import is_finite
from .outputs import (CONTEXT_ERRORS, describe_shapes, detach_value, hand_layer_outputs,
                      raise_with_context, split_loss_output, split_model_output)
from .precision import MixedPrecision

__all__ = ["BatchSteps", "StepOutput"]


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
    skipped : bool
        True when the batch was skipped for a non-finite loss (no optimizer step).
    """

    loss: torch.Tensor
    values: Dict[str, Any]
    batch_size: int
    prediction: Optional[torch.Tensor] = None
    layer_outputs: Optional[Dict[str, Any]] = None
    skipped: bool = False


class BatchSteps:
    """The overridable steps of one mini-batch (see the module documentation).

    A mixin of :class:`~pynet_cvae.training.TrainingLoop`, which provides the
    observers (``notify_observers``) and sets the attributes below.

    Attributes
    ----------
    model : torch.nn.Module
        The network.
    optimizer : torch.optim.Optimizer
        Its optimizer.
    loss : callable
        ``loss(prediction, *targets)``.
    metrics : dict
        Name -> ``metric(prediction, *targets)``.
    device : torch.device
        Where the batches go.
    add_labels : bool
        Call the model as ``model(inputs, labels)``.
    on_nonfinite : {"raise", "skip"}
        What a non-finite loss does (:mod:`pynet_cvae.numerics`).
    clip_grad_norm : float or None
        The bound on the gradients' total norm.
    precision : MixedPrecision or None
        The autocast and gradient scaler (None: full precision).
    parallel_model : torch.nn.Module or None
        The ``DistributedDataParallel`` wrapper of ``model`` in a distributed run.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss: Callable[..., Any]
    metrics: Dict[str, Callable[..., Any]]
    device: torch.device
    add_labels: bool = False
    on_nonfinite: str = "raise"
    clip_grad_norm: Optional[float] = None
    precision: Optional[MixedPrecision] = None
    parallel_model: Optional[torch.nn.Module] = None

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
        network = self._network()
        precision = self._precision
        try:
            with precision.autocast():
                if self.add_labels:
                    result = network(inputs, labels)
                else:
                    result = network(inputs)
        except CONTEXT_ERRORS as error:
            shapes = f"inputs of shape {tuple(inputs.shape)}"
            if self.add_labels:
                shapes += f" and labels of shape {_shape(labels)}"
            raise_with_context(error, f"the model {type(self.model).__name__} failed on "
                                      f"{shapes}")
        prediction, layer_outputs = split_model_output(result)
        if precision.enabled:
            prediction = precision.to_full_precision(prediction)
            layer_outputs = precision.to_full_precision(layer_outputs)
        return prediction, layer_outputs

    @property
    def _precision(self) -> MixedPrecision:
        return self.precision if self.precision is not None else _FULL_PRECISION

    def _network(self) -> torch.nn.Module:
        """The module a step calls: the parallel wrapper while training, else the model."""
        parallel = self.parallel_model
        if parallel is None or not self.model.training:
            return self.model
        if parallel.module is not self.model:
            raise ValueError("interface.model was replaced after the interface was built: "
                             "a distributed run wraps the model given at construction")
        return parallel

    def compute_loss(self, prediction: torch.Tensor, targets: Sequence[torch.Tensor],
                     layer_outputs: Optional[Dict[str, Any]]
                     ) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """Return the batch loss and the loss's extra values."""
        hand_layer_outputs(self.loss, layer_outputs)
        try:
            result = self.loss(prediction, *targets)
        except CONTEXT_ERRORS as error:
            raise_with_context(error, f"the loss {_name(self.loss)} failed on "
                                      f"{describe_shapes(prediction, targets)}")
        return split_loss_output(result)

    def add_regularizers(self, loss: torch.Tensor,
                         layer_outputs: Optional[Dict[str, Any]]) -> torch.Tensor:
        """Add every non-None value returned by the ``regularizer`` observers."""
        if not self.has_observers("regularizer"):
            return loss
        for penalty in self.notify_observers("regularizer", layer_outputs=layer_outputs):
            loss = loss + penalty
        return loss

    def compute_metrics(self, prediction: torch.Tensor, targets: Sequence[torch.Tensor],
                        layer_outputs: Optional[Dict[str, Any]],
                        known: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Each metric on the batch, computed without gradients.

        Parameters
        ----------
        prediction : torch.Tensor
            The model's prediction.
        targets : list of torch.Tensor
            The batch's outputs and labels (those present).
        layer_outputs : dict or None
            The model's extra outputs, handed to metrics with that attribute.
        known : dict, optional
            The extra values the loss returned for this batch: a metric of the same
            name is not computed, the loss's value stands for it.

        Returns
        -------
        dict
            Name -> detached 0-d tensor (or number), for the metrics computed.
        """
        values = {}
        with torch.no_grad():
            for name, metric in self.metrics.items():
                if known and name in known:
                    continue
                hand_layer_outputs(metric, layer_outputs)
                try:
                    value = metric(prediction, *targets)
                except CONTEXT_ERRORS as error:
                    raise_with_context(error, f"metric {name!r} failed on "
                                              f"{describe_shapes(prediction, targets)}")
                values[name] = detach_value(value, f"metric {name!r}")
        return values

    def clip_gradients(self) -> Optional[torch.Tensor]:
        """Clip the gradients' total norm to ``clip_grad_norm``; return the norm.

        In fp16 the gradients are unscaled first, so the bound is on their true norm.
        """
        if self.clip_grad_norm is None:
            return None
        self._precision.unscale(self.optimizer)
        return torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)

    def optimizer_step(self) -> None:
        """Update the weights from their gradients (through the fp16 gradient scaler)."""
        self._precision.step(self.optimizer)

    def backward_and_step(self, loss: torch.Tensor) -> bool:
        """Backward, clip and step; return False when the batch is skipped.

        Parameters
        ----------
        loss : torch.Tensor
            The batch loss, regularizers included.

        Returns
        -------
        bool
            Whether the batch counts (False: skipped for a non-finite loss).

        Notes
        -----
        With ``on_nonfinite="skip"``, a non-finite loss (or clipped gradient norm)
        makes no optimizer step. In a distributed run every process takes part in
        backward (the gradients are averaged there), and the decision rests on the
        averaged gradients' norm, the same on every process. In fp16 the gradient
        scaler skips the steps whose gradients overflowed, itself.
        """
        skip = self.on_nonfinite == "skip"
        parallel = self.parallel_model is not None
        if skip and not parallel and not is_finite(loss):
            return False
        self._precision.backward(loss)
        norm = self.clip_gradients()
        if skip and self._precision.scaler is None:
            if norm is None and parallel:
                norm = torch.nn.utils.get_total_norm(
                    [parameter.grad for parameter in self.model.parameters()
                     if parameter.grad is not None])
            if norm is not None and not is_finite(norm):
                self.optimizer.zero_grad(set_to_none=True)
                return False
        self.optimizer_step()
        return not (skip and parallel and not is_finite(loss))

    def train_step(self, batch: Any) -> StepOutput:
        """One optimisation step on ``batch``.

        With ``on_nonfinite="skip"``, a batch whose loss (or clipped gradient norm)
        is not finite makes no optimizer step and is returned with ``skipped=True``.
        """
        inputs, outputs, labels = self.move_batch(batch)
        targets = [target for target in (outputs, labels) if target is not None]
        self.optimizer.zero_grad(set_to_none=True)
        prediction, layer_outputs = self.infer(inputs, labels)
        loss, extras = self.compute_loss(prediction, targets, layer_outputs)
        loss = self.add_regularizers(loss, layer_outputs)
        if not self.backward_and_step(loss):
            return StepOutput(loss.detach(), {}, inputs.shape[0], skipped=True)
        values = _extra_values(extras)
        values.update(self.compute_metrics(prediction.detach(), targets, layer_outputs,
                                           values))
        return StepOutput(loss.detach(), values, inputs.shape[0])

    def evaluation_step(self, batch: Any) -> StepOutput:
        """Loss, metrics and prediction on ``batch``, without gradients."""
        inputs, outputs, labels = self.move_batch(batch)
        targets = [target for target in (outputs, labels) if target is not None]
        with torch.no_grad():
            prediction, layer_outputs = self.infer(inputs, labels)
            loss, extras = self.compute_loss(prediction, targets, layer_outputs)
        values = _extra_values(extras)
        values.update(self.compute_metrics(prediction, targets, layer_outputs, values))
        return StepOutput(loss, values, inputs.shape[0], prediction, layer_outputs)


_FULL_PRECISION = MixedPrecision("fp32", torch.device("cpu"))


def _extra_values(extras: Dict[str, Any]) -> Dict[str, Any]:
    """The loss's extra values, detached."""
    return {name: detach_value(value, f"the loss's extra value {name!r}")
            for name, value in extras.items()}


def _name(function: Any) -> str:
    name = getattr(function, "__name__", None)
    return name if isinstance(name, str) else type(function).__name__


def _shape(tensor: Any) -> Any:
    return tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else None
