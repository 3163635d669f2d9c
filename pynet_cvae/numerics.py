"""Numerical faults of a training epoch: non-finite losses and values.

With ``on_nonfinite="raise"`` (the default) the batch losses stay on the device and
are checked once, at the end of the epoch: no host synchronisation per batch, and a
memory bounded whatever the epoch's length (:class:`NonFiniteGuard`). A
non-finite loss then stops training with a :class:`NonFiniteLossError` naming the
fold, the epoch and the first bad batch, before that epoch is logged or checkpointed.
The epoch's means of the training values (metrics, extra loss values), of the
validation loss and of the validation values are checked likewise
(:func:`check_epoch_values`): a NaN or infinite one stops training with the same
error, naming the split and the value.

With ``on_nonfinite="skip"`` each batch's loss is checked before backward (one
synchronisation per batch) and a non-finite batch is skipped: no backward, no
optimizer step. A batch (training or validation) whose loss or any value is not
finite is left out of the epoch's means; the count is logged as
``nonfinite_batches``. An epoch where every batch was left out has nothing to
report: it stops training with a :class:`NonFiniteLossError` too.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Dict, List, Optional

import torch

NONFINITE_POLICIES = ("raise", "skip")
"""The values of ``training(..., on_nonfinite=)``."""

SKIPPED_COUNT = "nonfinite_batches"
"""The history value counting the batches skipped in an epoch."""


class NonFiniteLossError(FloatingPointError, RuntimeError):
    """A batch loss was NaN or infinite; training stopped.

    Attributes
    ----------
    fold, epoch, batch : int
        Where the first non-finite loss appeared (``batch`` counts from 0; -1 when
        the fault is in an epoch's mean or on another process).
    value : float
        The value (nan, inf or -inf).
    split : str
        ``"training"`` or ``"validation"``.
    name : str
        ``"loss"``, or the name of the metric or loss value.
    """

    def __init__(self, message: str, fold: Optional[int], epoch: Optional[int], batch: int,
                 value: float, split: str = "training", name: str = "loss") -> None:
        super().__init__(message)
        self.fold, self.epoch, self.batch, self.value = fold, epoch, batch, value
        self.split, self.name = split, name


def check_policy(on_nonfinite: str) -> str:
    """Return ``on_nonfinite`` if it is one of :data:`NONFINITE_POLICIES`."""
    if on_nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"on_nonfinite {on_nonfinite!r} unknown; expected one of "
                         f"{list(NONFINITE_POLICIES)}")
    return on_nonfinite


def check_clip_norm(clip_grad_norm: Optional[float]) -> Optional[float]:
    """Return ``clip_grad_norm`` as a float > 0 (or None)."""
    if clip_grad_norm is None:
        return None
    if isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float)) \
            or not 0 < clip_grad_norm < float("inf"):
        raise ValueError(f"clip_grad_norm must be a finite number > 0 or None, got "
                         f"{clip_grad_norm!r}")
    return float(clip_grad_norm)


def is_finite(value: torch.Tensor) -> bool:
    """Whether a 0-d tensor is finite (a host synchronisation)."""
    return bool(torch.isfinite(value))


def is_finite_batch(loss: torch.Tensor, values: Dict[str, Any]) -> bool:
    """Whether a batch's loss and every value are finite (one host synchronisation)."""
    dtype = torch.float32 if loss.device.type == "mps" else torch.float64
    parts = [loss.detach().reshape(-1).to(dtype)]
    parts += [torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value,
                              device=loss.device).reshape(-1).to(dtype)
              for value in values.values()]
    return bool(torch.isfinite(torch.cat(parts)).all())


def _where(fold: Optional[int], epoch: Optional[int]) -> str:
    return "" if fold is None else f" at fold {fold}, epoch {epoch}"


def _stopped(last_checkpoint: Optional[str]) -> str:
    saved = (f"the last checkpoint is {last_checkpoint!r}" if last_checkpoint
             else "no checkpoint of this run was written")
    return f": training stopped before logging or checkpointing this epoch; {saved}"


def check_epoch_values(split: str, loss: float, values: Dict[str, float],
                       fold: Optional[int], epoch: Optional[int],
                       last_checkpoint: Optional[str] = None) -> None:
    """Raise :class:`NonFiniteLossError` if an epoch's mean loss or value is not finite.

    Parameters
    ----------
    split : str
        ``"training"`` or ``"validation"``, for the message.
    loss : float
        The epoch's mean loss.
    values : dict
        The epoch's mean metrics and extra loss values.
    fold, epoch : int
        Where the epoch ran.
    last_checkpoint : str, optional
        The last checkpoint written, for the message.
    """
    for name, value in {"loss": loss, **values}.items():
        if not math.isfinite(value):
            kind = "loss" if name == "loss" else f"value {name!r}"
            raise NonFiniteLossError(
                f"non-finite {split} {kind} ({value}){_where(fold, epoch)}"
                f"{_stopped(last_checkpoint)}"
                f". A batch gave it: skip such batches with on_nonfinite='skip', or check "
                f"the {'loss' if name == 'loss' else 'metric'} on this data",
                fold, epoch, -1, value, split, name)


class NonFiniteGuard:
    """Watches the batch losses of one training epoch.

    With the "raise" policy the losses stay on the device: they are kept in a list of at
    most :attr:`CHUNK` and folded, ``CHUNK`` at a time, into the index and value of the
    first non-finite one (device tensors). A batch costs one list append, no host
    synchronisation and no device operation; the memory is bounded whatever the
    epoch's length. :meth:`check` reads the result once.

    Parameters
    ----------
    policy : {"raise", "skip"}
        See the module documentation.
    """

    CHUNK = 256
    """The number of losses kept before they are folded into the first bad one."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.skipped = 0  # batches left out of the means
        self.batches = 0  # batches counted in the means
        self._pending: List[torch.Tensor] = []
        self._first_bad: Optional[torch.Tensor] = None  # batch index; -1: none so far
        self._bad_value: Optional[torch.Tensor] = None

    def record(self, loss: torch.Tensor, skipped: bool,
               values: Optional[Dict[str, Any]] = None) -> bool:
        """Note one batch (its detached loss and values); return whether its values
        count in the epoch's means.

        ``skipped`` tells that the step skipped the batch (a non-finite loss, no
        optimizer step). With the "skip" policy a batch whose loss or any of
        ``values`` is not finite is left out too.
        """
        if skipped or (self.policy == "skip" and not is_finite_batch(loss, values or {})):
            self.skipped += 1
            return False
        self.batches += 1
        if self.policy == "raise":
            self._pending.append(loss)
            if len(self._pending) >= self.CHUNK:
                self._fold_pending()
        return True

    def _fold_pending(self) -> None:
        """Fold the pending losses into the first bad index and value (device ops)."""
        if not self._pending:
            return
        dtype = functools.reduce(torch.promote_types, {loss.dtype for loss in self._pending})
        losses = torch.stack([loss.reshape(()).to(dtype) for loss in self._pending])
        first = self.batches - len(self._pending)
        self._pending = []
        bad = ~torch.isfinite(losses)
        position = torch.argmax(bad.to(torch.uint8))  # the first bad one (0 if none)
        index = torch.where(bad.any(), position + first, -1)
        value = losses[position]
        if self._first_bad is None:
            self._first_bad, self._bad_value = index, value
            return
        new = (self._first_bad < 0) & (index >= 0)
        self._first_bad = torch.where(new, index, self._first_bad)
        self._bad_value = torch.where(new, value.to(self._bad_value.dtype), self._bad_value)

    def found(self) -> Optional[torch.Tensor]:
        """A 0-d device tensor, 1 if a recorded loss was not finite (None: no loss
        recorded); for a reduction across processes."""
        self._fold_pending()
        if self._first_bad is None:
            return None
        return (self._first_bad >= 0).to(torch.int64)

    def check_counted(self, split: str, fold: Optional[int], epoch: Optional[int],
                      last_checkpoint: Optional[str] = None, counted: Optional[int] = None,
                      skipped: Optional[int] = None) -> None:
        """Raise :class:`NonFiniteLossError` if every batch was left out (policy "skip").

        Parameters
        ----------
        split : str
            ``"training"`` or ``"validation"``, for the message.
        fold, epoch : int
            Where the epoch ran.
        last_checkpoint : str, optional
            The last checkpoint written.
        counted, skipped : int, optional
            The batches counted and left out over every process (this process's by
            default).
        """
        counted = self.batches if counted is None else counted
        skipped = self.skipped if skipped is None else skipped
        if counted or not skipped:
            return
        raise NonFiniteLossError(
            f"every one of the {skipped} {split} batches had a non-finite loss or value "
            f"and was left out (on_nonfinite='skip'), so the epoch measured nothing"
            f"{_where(fold, epoch)}{_stopped(last_checkpoint)}. Lower the learning rate, "
            "bound the "
            "gradients with clip_grad_norm=, or check the data", fold, epoch, -1,
            float("nan"), split)

    def check(self, fold: int, epoch: int, last_checkpoint: Optional[str],
              elsewhere: bool = False) -> None:
        """Raise :class:`NonFiniteLossError` if a recorded loss is not finite.

        Parameters
        ----------
        fold, epoch : int
            Where the epoch ran, for the message.
        last_checkpoint : str or None
            The last checkpoint written, for the message.
        elsewhere : bool, default False
            Another process of a distributed run saw a non-finite loss: raise even if
            this one did not, so that every process stops together.
        """
        self._fold_pending()
        local = self._first_bad is not None and int(self._first_bad) >= 0
        if not (local or elsewhere):
            return
        advice = (". Skip such batches with on_nonfinite='skip', bound the gradients with "
                  "clip_grad_norm=, or lower the learning rate")
        stopped = _stopped(last_checkpoint)
        if not local:
            raise NonFiniteLossError(
                f"non-finite loss on another process{_where(fold, epoch)}{stopped}" + advice,
                fold, epoch, -1, float("nan"))
        batch = int(self._first_bad)
        value = float(self._bad_value)
        raise NonFiniteLossError(
            f"non-finite loss ({value}) at fold {fold}, epoch {epoch}, batch {batch} "
            f"(of {self.batches}){stopped}"
            + advice, fold, epoch, batch, value)
