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
``before_epoch``
    ``epoch``, ``fold``.
``regularizer``
    ``layer_outputs`` (the dict returned by the model, or None). Emitted once per
    training batch; every non-None return is added to the batch loss before backward.
``after_epoch``
    ``epoch``, ``fold``, ``loss`` (mean training loss), one value per training metric
    by name, ``scheduler`` when one is used, and with validation ``val_loss``,
    ``val_<metric>`` per metric and ``val_pred`` (the validation predictions as a
    NumPy array). Setting ``signal.object.stop_training = True`` ends the fold after
    this epoch (early stopping).
``after_fold``
    ``fold``, ``train_history``, ``validation_history``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Sequence

SIGNALS: Dict[str, Sequence[str]] = {
    "before_fold": ("fold",),
    "before_epoch": ("epoch", "fold"),
    "regularizer": ("layer_outputs",),
    "after_epoch": ("epoch", "fold", "loss", "<metric>", "scheduler", "val_loss",
                    "val_<metric>", "val_pred"),
    "after_fold": ("fold", "train_history", "validation_history"),
}
"""Every signal the training interface emits, with the values it carries."""

Observer = Callable[["SignalObject"], Any]


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
    def allowed_signals(self) -> List[str]:
        """The signal names this object may emit."""
        return list(self._observers)

    def add_observer(self, signal: str, callback: Observer) -> None:
        """Call ``callback`` each time ``signal`` is emitted.

        Raises
        ------
        ValueError
            If ``signal`` is not one of :attr:`allowed_signals`.
        TypeError
            If ``callback`` is not callable.
        """
        self._check_signal(signal)
        if not callable(callback):
            raise TypeError(f"observer for {signal!r} must be callable, got {callback!r}")
        self._observers[signal].append(callback)

    def remove_observer(self, signal: str, callback: Observer) -> None:
        """Stop calling ``callback`` for ``signal``.

        Raises
        ------
        ValueError
            If ``signal`` is unknown or ``callback`` is not attached to it.
        """
        self._check_signal(signal)
        try:
            self._observers[signal].remove(callback)
        except ValueError:
            raise ValueError(
                f"{callback!r} is not an observer of signal {signal!r}") from None

    def observers(self, signal: str) -> List[Observer]:
        """The callbacks attached to ``signal``, in calling order."""
        self._check_signal(signal)
        return list(self._observers[signal])

    def has_observers(self, signal: str) -> bool:
        """Tell whether any callback is attached to ``signal``."""
        return bool(self._observers.get(signal))

    def notify_observers(self, signal: str, **values: Any) -> List[Any]:
        """Call every observer of ``signal`` with one :class:`SignalObject`.

        Notifications may nest: an observer may emit another signal.

        Returns
        -------
        list
            The observers' non-None return values, in calling order.
        """
        self._check_signal(signal)
        callbacks = self._observers[signal]
        if not callbacks:
            return []
        signal_object = SignalObject(self, signal, **values)
        results = []
        for callback in list(callbacks):
            result = callback(signal_object)
            if result is not None:
                results.append(result)
        return results

    def _check_signal(self, signal: str) -> None:
        if signal not in self._observers:
            raise ValueError(
                f"unknown signal {signal!r}; allowed signals: {self.allowed_signals}")
