"""What models, losses and metrics return: checked, detached and averaged.

The training loop (:mod:`pynet_cvae.training`) calls these helpers on every batch;
each error names the value it got and the form it expected.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

import torch

CONTEXT_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)
"""The error types a failing model, loss or metric is re-raised as, with context."""


def split_model_output(result: Any) -> Tuple[torch.Tensor, Optional[Dict[str, Any]]]:
    """Split a model's return into ``(prediction, layer_outputs)``.

    As in pynet, a tuple or list of length 1 is ``(prediction,)`` and one of length 2
    ``(prediction, layer_outputs)``.

    Raises
    ------
    TypeError
        If ``result`` is neither a tensor nor a ``(tensor,)`` or
        ``(tensor, dict or None)`` tuple or list.
    """
    if isinstance(result, torch.Tensor):
        return result, None
    if isinstance(result, (tuple, list)) and len(result) in (1, 2) \
            and isinstance(result[0], torch.Tensor):
        extras = result[1] if len(result) == 2 else None
        if extras is None or isinstance(extras, dict):
            return result[0], extras
    raise TypeError(
        "the model must return a tensor or (tensor, dict_of_layer_outputs), got "
        f"{describe_value(result)}")


def split_loss_output(result: Any) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Split a loss's return into ``(scalar loss, extra values)``.

    Raises
    ------
    TypeError
        If the loss returns a tuple other than ``(value, dict)`` or a non-tensor.
    ValueError
        If the loss is a tensor with more than one element.
    """
    extras: Dict[str, Any] = {}
    if isinstance(result, (tuple, list)):
        if len(result) == 1:
            result = (result[0], None)
        if len(result) != 2 or not (result[1] is None or isinstance(result[1], dict)):
            raise TypeError(
                "a loss must return a value or (value, dict_of_extra_values), "
                f"got {describe_value(result)}")
        result, extras = result[0], result[1] or {}
    return check_scalar_loss(result), extras


def hand_layer_outputs(target: Any, layer_outputs: Optional[Dict[str, Any]]) -> None:
    """Set ``target.layer_outputs`` when the loss or metric has that attribute."""
    if hasattr(target, "layer_outputs"):
        target.layer_outputs = layer_outputs


def check_scalar_loss(value: Any) -> torch.Tensor:
    """Return ``value`` as a 0-d tensor, or raise a clear error."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the loss must return a tensor, got {describe_value(value)}")
    if value.dim() != 0:
        if value.numel() != 1:
            raise ValueError(
                f"the loss must return a scalar, got a tensor of shape {tuple(value.shape)}; "
                "reduce it (e.g. reduction='mean')")
        value = value.reshape(())
    return value


def detach_value(value: Any, role: str = "a metric") -> Any:
    """A metric's (or extra loss value's) scalar as a detached 0-d tensor or a float."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.numel() != 1:
            raise ValueError(
                f"{role} must return a scalar, got a tensor of shape {tuple(value.shape)}")
        return value.reshape(())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{role} must return a number, got {describe_value(value)}") from None


def raise_with_context(error: BaseException, context: str) -> NoReturn:
    """Raise ``error`` again, its message prefixed by ``context`` when its type allows.

    Exactly the types of :data:`CONTEXT_ERRORS` get the prefix (same type, chained to
    the original); subclasses such as ``torch.cuda.OutOfMemoryError`` pass unchanged.
    """
    if type(error) in CONTEXT_ERRORS:
        raise type(error)(f"{context}: {error}") from error
    raise error


def describe_shapes(prediction: Any, targets: Sequence[Any]) -> str:
    """``a prediction of shape (16, 2) and targets [(16,) int64]`` for error messages."""
    def describe(tensor: Any) -> str:
        if isinstance(tensor, torch.Tensor):
            return f"{tuple(tensor.shape)} {str(tensor.dtype).replace('torch.', '')}"
        return type(tensor).__name__
    return (f"a prediction of shape {describe(prediction)} and targets "
            f"[{', '.join(describe(target) for target in targets)}]")


def describe_value(value: Any) -> str:
    """``a list``, ``a tuple of (Tensor, list)``...: how errors name a value's form."""
    if isinstance(value, (tuple, list)):
        return (f"a {type(value).__name__} of (" + ", ".join(type(item).__name__ for item in value)
                + ")")
    return f"a {type(value).__name__}"


class RunningMeans:
    """Sample-weighted means of per-batch values, accumulated on the device.

    Keeps tensors on the device so that a step needs no host synchronisation: each
    value costs one in-place ``add_`` per batch. Tensor values are summed in float32
    (float64 values in float64), whatever precision they were computed in. The means
    are read once, at the end of the epoch.
    """

    def __init__(self) -> None:
        self._sums: Dict[str, Any] = {}
        self._count = 0

    def add(self, values: Dict[str, Any], batch_size: int) -> None:
        """Add one batch's values, weighted by its size."""
        sums = self._sums
        for name, value in values.items():
            total = sums.get(name)
            if isinstance(value, torch.Tensor):
                value = value.detach()
                if isinstance(total, torch.Tensor):
                    total.add_(value, alpha=batch_size)
                    continue
                total_so_far = total
                total = value.to(_sum_dtype(value.dtype)) * batch_size
                sums[name] = total if total_so_far is None else total + total_so_far
            elif isinstance(total, torch.Tensor):
                total.add_(value * batch_size)
            else:
                sums[name] = (total or 0) + value * batch_size
        self._count += batch_size

    def means(self) -> Dict[str, float]:
        """The mean of each value (one host synchronisation per value)."""
        if self._count == 0:
            return {}
        return {name: float(total) / self._count for name, total in self._sums.items()}

    def sum_over_processes(self, sum_: Callable[[torch.Tensor], Any], device: torch.device,
                           counts: Dict[str, Any]) -> Dict[str, int]:
        """Replace the sums and the sample count by their totals over every process.

        One call of ``sum_`` (an in-place sum over the processes, such as
        :meth:`pynet_cvae.distributed.DistributedContext.sum_`) on one float64 tensor
        holding the sums, the count and the extra ``counts`` (numbers or 0-d tensors).
        Every process must hold the same value names.

        Returns
        -------
        dict
            ``counts`` summed over the processes, as ints.
        """
        names = list(self._sums)
        dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no f64
        totals = torch.stack([
            torch.as_tensor(value, device=device).detach().to(dtype).reshape(())
            for value in [*(self._sums[name] for name in names), self._count,
                          *counts.values()]])
        sum_(totals)
        values = totals.cpu().tolist()
        self._sums = dict(zip(names, values[:len(names)]))
        self._count = int(values[len(names)])
        return {name: int(value) for name, value in zip(counts, values[len(names) + 1:])}


def _sum_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 sums float64 values; float32 sums everything else."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def split_loss(means: Dict[str, float]) -> Tuple[float, Dict[str, float]]:
    """``(means["loss"], the other means)``; the loss is NaN when no batch ran."""
    means = dict(means)
    loss = means.pop("loss", float("nan"))
    return loss, means


def append_layer_outputs(prediction: torch.Tensor, layer_outputs: Optional[Dict[str, Any]],
                         names: Optional[Sequence[str]]) -> torch.Tensor:
    """The prediction with the named ``layer_outputs`` appended along dimension 1."""
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


def apply_logit(prediction: torch.Tensor, with_logit: bool, logit_function: str,
                predict: bool) -> torch.Tensor:
    """Softmax or sigmoid the prediction, then take the argmax when ``predict``."""
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


def stack_targets(targets_seen: List[List[torch.Tensor]]) -> Any:
    """The targets of every batch, one array per target (a bare array for one)."""
    if not targets_seen or not targets_seen[0]:
        return None
    columns = [torch.cat(column).numpy() for column in zip(*targets_seen)]
    return columns[0] if len(columns) == 1 else columns
