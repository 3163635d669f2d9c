"""Observers: attach any callable to a training signal.

The training loop emits the signals listed in :data:`SIGNALS`. An observer is a
callable taking one :class:`SignalObject`; for example::

    def print_loss(signal):
        print(signal.epoch, signal.loss)

    interface.add_observer("after_epoch", print_loss)

The signals and the values each one carries
-------------------------------------------
``before_fold``
    ``fold``: a fold starts (the weights were just reset to their initial values).
    Not emitted again for the fold a resumed run continues.
``before_epoch``
    ``epoch``, ``fold``, ``scheduler`` (the learning-rate scheduler, None without one).
``regularizer``
    ``layer_outputs`` (the dict returned by the model, or None). Emitted once per
    training batch; every non-None return is added to the batch loss before backward.
``before_step``
    ``step``, ``epoch``, ``fold``: a training batch is about to be processed (its
    forward, backward and optimizer step). ``step`` counts the fold's batches from 0
    across epochs (``epoch * batches_per_epoch + batch``), so a resumed run numbers
    its steps as the uninterrupted one.
``after_step``
    ``step``, ``epoch``, ``fold``, ``loss`` (the batch loss, a detached 0-d tensor on
    the device: ``float()`` it only when needed, it synchronises), ``values`` (the
    loss's extra values and the metrics of the batch, detached), ``batch_size`` and
    ``skipped`` (True when a non-finite loss skipped the optimizer step). Emitted
    after the optimizer step: weight averages
    (:class:`pynet_cvae.averaging.WeightAverage`) and per-step schedules live here.
``after_epoch``
    ``epoch``, ``fold``, ``loss`` (mean training loss), one value per training metric
    by name, ``scheduler`` (None without one), and with validation ``val_loss``,
    ``val_<metric>`` per metric and ``val_pred`` (the validation predictions as a
    NumPy array: by default those of the first validation batch, see the
    ``validation_predictions`` argument of the interface). Setting
    ``signal.object.stop_training = True`` ends the fold after this epoch (early
    stopping).
``after_fold``
    ``fold``, ``train_history``, ``validation_history``.

Several processes (``torchrun``)
--------------------------------
In a distributed run (:mod:`pynet_cvae.distributed`) **every signal reaches the
observers of every process**, with the same values (the epoch's losses and metrics
are averaged over the processes, validation runs whole on each), so an observer that
changes the training (a schedule, a loss weight, unfreezing layers) does it on every
process alike. What must happen once is marked on the observer with
:func:`rank_zero_only` (writing files, drawing on a board, logging, printing): such an
observer is called on rank 0 only, for any signal, new ones included. Decisions are
shared: the fold stops after an epoch when an observer of *any* process sets
``stop_training`` (a rank-zero-only early stopping stops every process). A
rank-zero-only observer cannot be attached to a signal whose return values feed the
training (:data:`RETURNING_SIGNALS`): rank 0 alone would train with them.

Filtering: ``every=``
---------------------
``add_observer(signal, callback, every=N)`` calls ``callback`` on one signal in
``N`` only, as Ignite's ``Events.ITERATION_COMPLETED(every=N)``: after every ``N``-th
step for the step signals (``(step + 1) % N == 0``), every ``N``-th epoch for the epoch
signals (``(epoch + 1) % N == 0``), every ``N``-th notification for the others.

Stateful observers
------------------
An observer with ``state_dict()`` and ``load_state_dict(state)`` methods (such as
:class:`pynet_cvae.observers.EarlyStopping`) has its state saved in every checkpoint
and restored when a run resumes; attach the same observers, in the same order, before
resuming. A state holds only tensors, numbers, strings, None and lists/dicts of them.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

logger = logging.getLogger("pynet_cvae")

SIGNALS: Dict[str, Sequence[str]] = {
    "before_fold": ("fold",),
    "before_epoch": ("epoch", "fold", "scheduler"),
    "regularizer": ("layer_outputs",),
    "before_step": ("step", "epoch", "fold"),
    "after_step": ("step", "epoch", "fold", "loss", "values", "batch_size", "skipped"),
    "after_epoch": ("epoch", "fold", "loss", "<metric>", "scheduler", "val_loss",
                    "val_<metric>", "val_pred"),
    "after_fold": ("fold", "train_history", "validation_history"),
}
"""Every signal the training interface emits, with the values it carries."""

RETURNING_SIGNALS = ("regularizer",)
"""The signals whose observers' return values change the training."""

RANK_ZERO_ONLY = "rank_zero_only"
"""The attribute that marks an observer called on rank 0 only (see :func:`rank_zero_only`)."""

Observer = Callable[["SignalObject"], Any]


def rank_zero_only(observer: Observer) -> Observer:
    """Mark ``observer`` to be called on rank 0 only in a distributed run.

    For observers whose work must happen once: writing files, drawing on a board,
    logging, printing. In a single process nothing changes. It decorates a function
    or a class (every instance is then rank-zero-only), and marks an existing
    callable (a bound method or an instance) by wrapping it.

    Parameters
    ----------
    observer : callable or class
        The observer.

    Returns
    -------
    callable or class
        ``observer`` with ``rank_zero_only = True`` (or a wrapper that has it).

    Examples
    --------
    >>> @rank_zero_only
    ... def show(signal):
    ...     print(signal.epoch, signal.loss)
    >>> is_rank_zero_only(show)
    True
    """
    if not callable(observer):
        raise TypeError(f"rank_zero_only expects a callable observer, got {observer!r}")
    try:
        setattr(observer, RANK_ZERO_ONLY, True)
        return observer
    except (AttributeError, TypeError):  # a bound method, a builtin, a slotted instance
        pass

    @functools.wraps(observer)
    def once(signal: "SignalObject") -> Any:
        return observer(signal)

    setattr(once, RANK_ZERO_ONLY, True)
    return once


def is_rank_zero_only(observer: Any) -> bool:
    """Whether ``observer`` is marked with :func:`rank_zero_only`."""
    return getattr(_unwrapped(observer), RANK_ZERO_ONLY, False) is True


class SignalObject:
    """What an observer receives.

    Attributes
    ----------
    object : object
        The emitter (for training signals, the :class:`DeepLearningInterface`).
    signal : str
        The signal's name.
    keys : list of str
        The names of the values carried, each also an attribute.
    """

    def __init__(self, emitter: Any, signal: str, **values: Any) -> None:
        self.object = emitter
        self.signal = signal
        self.keys = list(values)
        for key, value in values.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"SignalObject(signal={self.signal!r}, keys={self.keys})"


class Observable:
    """An object that notifies observers of named signals.

    Parameters
    ----------
    signals : iterable of str
        The signal names this object may emit.

    Examples
    --------
    >>> emitter = Observable(["done"])
    >>> emitter.add_observer("done", lambda signal: signal.value * 2)
    >>> emitter.notify_observers("done", value=21)
    [42]
    """

    def __init__(self, signals: Iterable[str]) -> None:
        self._observers: Dict[str, List[Observer]] = {name: [] for name in signals}

    @property
    def is_main_process(self) -> bool:
        """Whether this process calls the :func:`rank_zero_only` observers (True
        unless an emitter of several processes says otherwise)."""
        return True

    @property
    def allowed_signals(self) -> List[str]:
        """The signal names this object may emit."""
        return list(self._observers)

    def add_observer(self, signal: str, observer: Observer,
                     every: Optional[int] = None) -> None:
        """Call ``observer`` each time ``signal`` is emitted.

        An observer already attached to ``signal`` is not added again: it is called
        once per emission (as in pynet).

        Parameters
        ----------
        signal : str
            One of :attr:`allowed_signals`.
        observer : callable
            Called with one :class:`SignalObject`.
        every : int, optional
            Call it on one notification in ``every`` only (see the module
            documentation: every ``N`` steps, epochs or notifications).

        Raises
        ------
        ValueError
            If ``signal`` is not one of :attr:`allowed_signals`, or ``every`` is not
            a positive integer.
        TypeError
            If ``observer`` is not callable, or is :func:`rank_zero_only` and
            ``signal`` is one of :data:`RETURNING_SIGNALS`.
        """
        self._check_signal(signal)
        if not callable(observer):
            raise TypeError(f"observer for {signal!r} must be callable, got {observer!r}")
        if signal in RETURNING_SIGNALS and is_rank_zero_only(observer):
            raise TypeError(f"observer {observer!r} is rank_zero_only but {signal!r} adds "
                            "its return values to the training: on several processes rank "
                            "0 alone would train with them; remove the mark")
        if every is not None:
            if isinstance(every, bool) or not isinstance(every, int) or every < 1:
                raise ValueError(f"every must be a positive integer, got {every!r}")
        if any(_unwrapped(attached) == observer for attached in self._observers[signal]):
            return  # == : a bound method is a new object at each access
        self._observers[signal].append(Every(observer, every) if every and every > 1
                                       else observer)

    def remove_observer(self, signal: str, observer: Observer) -> None:
        """Stop calling ``observer`` for ``signal``.

        Raises
        ------
        ValueError
            If ``signal`` is unknown or ``observer`` is not attached to it.
        """
        self._check_signal(signal)
        attached = self._observers[signal]
        for position, candidate in enumerate(attached):
            if candidate == observer or _unwrapped(candidate) == observer:
                del attached[position]
                return
        raise ValueError(f"{observer!r} is not an observer of signal {signal!r}")

    def observers(self, signal: str) -> List[Observer]:
        """The callbacks attached to ``signal``, in calling order (as they were given,
        without their ``every=`` filter)."""
        self._check_signal(signal)
        return [_unwrapped(observer) for observer in self._observers[signal]]

    def has_observers(self, signal: str) -> bool:
        """Tell whether any callback is attached to ``signal``."""
        return bool(self._observers.get(signal))

    def notify_observers(self, signal: str, **values: Any) -> List[Any]:
        """Call every observer of ``signal`` with one :class:`SignalObject`.

        Notifications may nest: an observer may emit another signal. Observers
        marked :func:`rank_zero_only` are skipped unless :attr:`is_main_process`.

        Returns
        -------
        list
            The observers' non-None return values, in calling order.
        """
        self._check_signal(signal)
        callbacks = self._observers[signal]
        if not callbacks:
            return []
        if not self.is_main_process:
            callbacks = [callback for callback in callbacks
                         if not is_rank_zero_only(callback)]
        signal_object = SignalObject(self, signal, **values)
        results = []
        for callback in list(callbacks):
            result = callback(signal_object)
            if result is not None:
                results.append(result)
        return results

    def observer_states(self) -> Dict[str, Dict[str, Any]]:
        """The state of every observer that has ``state_dict()``.

        Returns
        -------
        dict
            ``{"<signal>[<position>]": {"type": "module.Class", "state": ...}}``.
        """
        states = {}
        for key, observer in self._stateful_observers():
            states[key] = {"type": _type_name(observer), "state": observer.state_dict()}
        return states

    def load_observer_states(self, states: Dict[str, Dict[str, Any]]) -> None:
        """Restore states given by :meth:`observer_states` into the attached observers.

        An observer is matched by its signal and position. A saved state with no
        observer to take it, or an observer with no saved state, is logged as a
        warning: the run goes on but may not match the uninterrupted one.

        Raises
        ------
        ValueError
            If the observer at a saved position is of another type.
        """
        remaining = dict(states)
        for key, observer in self._stateful_observers():
            saved = remaining.pop(key, None)
            if saved is None:
                logger.warning("no saved state for observer %s (%s): it starts afresh",
                               key, _type_name(observer))
                continue
            if saved.get("type") != _type_name(observer):
                raise ValueError(
                    f"observer {key} is a {_type_name(observer)} but the checkpoint holds "
                    f"the state of a {saved.get('type')}: attach the observers in the "
                    "order they had when the checkpoint was written")
            observer.load_state_dict(saved["state"])
        for key, saved in remaining.items():
            logger.warning("the checkpoint holds the state of observer %s (%s) but none "
                           "is attached there: the state is ignored", key, saved.get("type"))

    def _stateful_observers(self) -> List[tuple]:
        return [(f"{signal}[{position}]", _unwrapped(observer))
                for signal, observers in self._observers.items()
                for position, observer in enumerate(observers)
                if callable(getattr(_unwrapped(observer), "state_dict", None))
                and callable(getattr(_unwrapped(observer), "load_state_dict", None))]

    def _check_signal(self, signal: str) -> None:
        if signal not in self._observers:
            raise ValueError(
                f"unknown signal {signal!r}; allowed signals: {self.allowed_signals}")


class Every:
    """An observer called on one notification in ``every`` (``add_observer(every=)``).

    Parameters
    ----------
    callback : callable
        The observer.
    every : int
        The period.

    Notes
    -----
    The count is the signal's ``step`` when it carries one, else its ``epoch``,
    else the number of notifications seen: a resumed run keeps the rhythm of the
    uninterrupted one on the step and epoch signals.
    """

    def __init__(self, callback: Observer, every: int) -> None:
        self.callback = callback
        self.every = every
        self._seen = 0

    def __call__(self, signal: SignalObject) -> Any:
        counter = getattr(signal, "step", None)
        if counter is None:
            counter = getattr(signal, "epoch", None)
        if counter is None:
            counter, self._seen = self._seen, self._seen + 1
        if (int(counter) + 1) % self.every:
            return None
        return self.callback(signal)

    def __repr__(self) -> str:
        return f"Every({self.callback!r}, every={self.every})"


def _unwrapped(observer: Any) -> Any:
    return observer.callback if isinstance(observer, Every) else observer


def _type_name(observer: Any) -> str:
    kind = type(observer)
    return f"{kind.__module__}.{kind.__qualname__}"
