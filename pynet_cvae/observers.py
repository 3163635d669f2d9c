"""Built-in stateful observers.

Each one is an ``after_epoch`` observer with ``state_dict()`` / ``load_state_dict()``,
so a resumed run restores it (see :mod:`pynet_cvae.observable`).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, Optional

from .registry import Observers

logger = logging.getLogger("pynet_cvae")

_MODES = ("min", "max")


@Observers.register
class EarlyStopping:
    """Stop a fold when a monitored value has stopped improving.

    Attach it to ``after_epoch``. After ``patience`` epochs in a row without an
    improvement of at least ``min_delta``, it sets ``signal.object.stop_training``,
    which ends the fold after that epoch. It starts afresh on each fold.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A value of the ``after_epoch`` signal (``"loss"``, ``"val_loss"``,
        ``"val_<metric>"``...).
    patience : int, default 5
        The number of epochs without improvement tolerated.
    min_delta : float, default 0.0
        The smallest change that counts as an improvement.
    mode : {"min", "max"}, default "min"
        Whether smaller or larger values are better.

    Attributes
    ----------
    best : float or None
        The best value seen in the current fold.
    wait : int
        Epochs since the last improvement.
    stopped_epoch : int or None
        The epoch after which the current fold was stopped.

    Examples
    --------
    >>> stopper = EarlyStopping(monitor="val_loss", patience=3)
    >>> stopper.state_dict()["wait"]
    0
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5,
                 min_delta: float = 0.0, mode: str = "min") -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be the name of a signal value, got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) \
                or not min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if mode not in _MODES:
            raise ValueError(f"mode {mode!r} unknown; expected 'min' or 'max'")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.mode = mode
        self.fold: Optional[int] = None
        self.best: Optional[float] = None
        self.wait = 0
        self.stopped_epoch: Optional[int] = None

    def __call__(self, signal: Any) -> None:
        fold = int(getattr(signal, "fold", 0))
        if fold != self.fold:
            self.reset(fold)
        value = self._monitored_value(signal)
        if self._improves(value):
            self.best = value
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(getattr(signal, "epoch", 0))
            signal.object.stop_training = True
            if getattr(signal.object, "is_main_process", True):
                logger.info("early stopping: %s did not improve on %.6g for %d epochs",
                            self.monitor, self.best, self.wait)

    def reset(self, fold: Optional[int] = None) -> None:
        """Forget the best value: start watching ``fold``."""
        self.fold, self.best, self.wait, self.stopped_epoch = fold, None, 0, None

    def state_dict(self) -> Dict[str, Any]:
        """The state to save in a checkpoint."""
        return {"monitor": self.monitor, "mode": self.mode, "fold": self.fold,
                "best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a state given by :meth:`state_dict`.

        Raises
        ------
        ValueError
            If the state was saved by an EarlyStopping watching another value or mode.
        """
        saved = (state.get("monitor"), state.get("mode"))
        if saved != (self.monitor, self.mode):
            raise ValueError(
                f"this EarlyStopping watches {self.monitor!r} ({self.mode}) but the saved "
                f"state watched {saved[0]!r} ({saved[1]})")
        self.fold, self.best = state["fold"], state["best"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]

    def _monitored_value(self, signal: Any) -> float:
        if self.monitor not in getattr(signal, "keys", ()):
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r} but the {signal.signal} signal "
                f"carries {list(signal.keys)}; train with validation to monitor 'val_*'")
        try:
            return float(getattr(signal, self.monitor))
        except (TypeError, ValueError):
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which is not a "
                             "number") from None

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, mode={self.mode!r})")
