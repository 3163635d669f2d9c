"""Numerical faults of a training epoch: non-finite losses.

With ``on_nonfinite="raise"`` (the default) the batch losses stay on the device and
are checked once, at the end of the epoch: no host synchronisation per batch, and a
memory bounded whatever the epoch's length (:class:`NonFiniteGuard`). A
non-finite loss then stops training with a :class:`NonFiniteLossError` naming the
fold, the epoch and the first bad batch, before that epoch is logged or checkpointed.
With ``on_nonfinite="skip"`` each batch's loss is checked before backward (one
synchronisation per batch) and a non-finite batch is skipped: no backward, no
optimizer step; the count is logged as ``nonfinite_batches``.
"""

from __future__ import annotations

import functools
from typing import List, Optional

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
        Where the first non-finite loss appeared (``batch`` counts from 0).
    value : float
        The loss value (nan, inf or -inf).
    """

    def __init__(self, message: str, fold: int, epoch: int, batch: int, value: float) -> None:
        super().__init__(message)
        self.fold, self.epoch, self.batch, self.value = fold, epoch, batch, value


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
        self.skipped = 0
        self.batches = 0
        self._pending: List[torch.Tensor] = []
        self._first_bad: Optional[torch.Tensor] = None  # batch index; -1: none so far
        self._bad_value: Optional[torch.Tensor] = None

    def record(self, loss: torch.Tensor, skipped: bool) -> bool:
        """Note one batch (its detached loss); return whether its values count in the
        epoch's means."""
        if skipped:
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
        saved = (f"the last checkpoint is {last_checkpoint!r}" if last_checkpoint
                 else "no checkpoint of this run was written")
        advice = ("Skip such batches with on_nonfinite='skip', bound the gradients with "
                  "clip_grad_norm=, or lower the learning rate")
        if not local:
            raise NonFiniteLossError(
                f"non-finite loss on another process at fold {fold}, epoch {epoch}: "
                f"training stopped before logging or checkpointing this epoch; {saved}. "
                + advice, fold, epoch, -1, float("nan"))
        batch = int(self._first_bad)
        value = float(self._bad_value)
        raise NonFiniteLossError(
            f"non-finite loss ({value}) at fold {fold}, epoch {epoch}, batch {batch} "
            f"(of {self.batches}): training stopped before logging or checkpointing "
            f"this epoch; {saved}. " + advice, fold, epoch, batch, value)
