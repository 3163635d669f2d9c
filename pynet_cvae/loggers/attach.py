"""Attaching a logger to a training: the observers, and the emitter's list of loggers."""

from __future__ import annotations

from typing import Any, List, Optional

from .base import Logger


def attach_logger(emitter: Any, logger_: Logger, step_signal: Optional[str] = None
                  ) -> Logger:
    """Make ``logger_`` follow the training of ``emitter``.

    It observes ``before_fold``, ``before_epoch``, ``after_epoch`` (the logger
    itself, so that its state, if any, is saved in checkpoints and restored on
    resume) and ``after_fold``, and with ``step_signal`` that per-step signal. The
    logger is appended to ``emitter.loggers``, where :func:`send_images` finds it.

    Parameters
    ----------
    emitter : Observable
        The training interface (any observable emitting the training signals).
    logger_ : Logger
        The logger.
    step_signal : str, optional
        A per-step signal of the emitter, observed with :meth:`Logger.after_step`.

    Returns
    -------
    Logger
        ``logger_``.

    Raises
    ------
    TypeError
        If ``logger_`` is not a :class:`Logger`.
    ValueError
        If it is attached already, or ``step_signal`` is not a signal of the emitter.
    """
    if not isinstance(logger_, Logger):
        raise TypeError(f"expected a pynet_cvae.loggers.Logger, got {logger_!r}")
    loggers = loggers_of(emitter)
    if any(attached is logger_ for attached in loggers):
        raise ValueError(f"{logger_!r} is attached already")
    if step_signal is not None and step_signal not in emitter.allowed_signals:
        raise ValueError(f"step_signal {step_signal!r} unknown; the emitter's signals "
                         f"are {emitter.allowed_signals}")
    for signal, observer in _observers(logger_, step_signal):
        emitter.add_observer(signal, observer)
    logger_._step_signal = step_signal
    if not isinstance(getattr(emitter, "loggers", None), list):
        emitter.loggers = loggers
    loggers.append(logger_)
    return logger_


def detach_logger(emitter: Any, logger_: Logger) -> None:
    """Stop ``logger_`` following ``emitter`` (attached by :func:`attach_logger`).

    Parameters
    ----------
    emitter : Observable
        The training interface.
    logger_ : Logger
        An attached logger; it is not closed.

    Raises
    ------
    ValueError
        If the logger is not attached to ``emitter``.
    """
    loggers = loggers_of(emitter)
    if not any(attached is logger_ for attached in loggers):
        raise ValueError(f"{logger_!r} is not attached to {type(emitter).__name__}")
    for signal, observer in _observers(logger_, logger_._step_signal):
        emitter.remove_observer(signal, observer)
    loggers[:] = [attached for attached in loggers if attached is not logger_]


def loggers_of(emitter: Any) -> List[Logger]:
    """The loggers attached to ``emitter`` (an empty list when none).

    Parameters
    ----------
    emitter : object
        The training interface.

    Returns
    -------
    list of Logger
        ``emitter.loggers``.
    """
    loggers = getattr(emitter, "loggers", None)
    return loggers if isinstance(loggers, list) else []


def send_images(emitter: Any, name: str, images: Any, step: int, fold: int = 0) -> None:
    """Give images to every logger attached to ``emitter``.

    For observers that make pictures (the CVAE plugin's sampling observer sends
    its grid as ``"sampling"``).

    Parameters
    ----------
    emitter : object
        The signal's emitter (``signal.object``).
    name : str
        What the images show.
    images : array-like
        See :meth:`Logger.log_images`.
    step : int
        The epoch.
    fold : int, default 0
        The fold.
    """
    for attached in loggers_of(emitter):
        attached.log_images(name, images, step=step, fold=fold)


def _observers(logger_: Logger, step_signal: Optional[str]) -> List[tuple]:
    observers = [("before_fold", logger_.before_fold), ("before_epoch", logger_.before_epoch),
                 ("after_epoch", logger_), ("after_fold", logger_.after_fold)]
    if step_signal is not None:
        observers.append((step_signal, logger_.after_step))
    return observers
