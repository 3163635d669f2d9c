"""History: the values logged at each step of a training run, saved as JSON."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

from .fileio import atomic_write_text
from .jsonio import dumps

Step = Union[int, Tuple[int, ...]]


class History:
    """Values logged per step for one split (``"train"``, ``"validation"``...).

    Parameters
    ----------
    name : str
        The split the history belongs to.

    Examples
    --------
    >>> history = History(name="train")
    >>> history.log((0, 0), loss=1.5, accuracy=0.5)
    >>> history.log((0, 1), loss=1.0, accuracy=0.75)
    >>> history["loss"]
    ([(0, 0), (0, 1)], [1.5, 1.0])
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: List[Step] = []
        self._values: Dict[str, Dict[Step, float]] = {}

    @property
    def steps(self) -> List[Step]:
        """The logged steps, in logging order."""
        return list(self._steps)

    @property
    def metrics(self) -> List[str]:
        """The names of the logged values."""
        return list(self._values)

    def log(self, step: Step, **values: Any) -> None:
        """Record ``values`` at ``step`` (an int or a ``(fold, epoch)`` tuple).

        Logging the same step again updates its values.
        """
        step = _normalise_step(step)
        if step not in self._steps:
            self._steps.append(step)
        for name, value in values.items():
            self._values.setdefault(name, {})[step] = _to_float(name, value)

    def __getitem__(self, metric: str) -> Tuple[List[Step], List[float]]:
        """Return ``(steps, values)`` of ``metric``, in logging order."""
        if metric not in self._values:
            raise KeyError(
                f"no metric {metric!r} in the {self.name} history; logged: {self.metrics}")
        series = self._values[metric]
        steps = [step for step in self._steps if step in series]
        return steps, [series[step] for step in steps]

    def __len__(self) -> int:
        return len(self._steps)

    def __contains__(self, metric: str) -> bool:
        return metric in self._values

    def last(self) -> Dict[str, float]:
        """The values logged at the last step."""
        if not self._steps:
            return {}
        step = self._steps[-1]
        return {name: series[step] for name, series in self._values.items()
                if step in series}

    def summary(self) -> str:
        """One line describing the last step, e.g. ``train (0, 3): loss=0.12 acc=0.9``."""
        if not self._steps:
            return f"{self.name}: empty"
        values = " ".join(f"{name}={value:.6g}" for name, value in self.last().items())
        return f"{self.name} {self._steps[-1]}: {values}"

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable form of the history."""
        return {
            "name": self.name,
            "steps": [list(step) if isinstance(step, tuple) else step
                      for step in self._steps],
            "values": {name: [series.get(step) for step in self._steps]
                       for name, series in self._values.items()},
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "History":
        """Rebuild a history from :meth:`to_dict`'s output."""
        try:
            history = cls(name=str(data["name"]))
            steps = [_normalise_step(step) for step in data["steps"]]
            for index, step in enumerate(steps):
                values = {name: series[index] for name, series in data["values"].items()
                          if series[index] is not None}
                history.log(step, **values)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ValueError(f"not a History dict: {error!r}") from None
        return history

    def save(self, outdir: str, fold: Optional[int] = None,
             epoch: Optional[int] = None) -> str:
        """Write the history atomically as JSON in ``outdir``.

        The file is ``<name>.json``, or ``<name>_<fold>_epoch_<epoch>.json`` when
        ``fold`` and ``epoch`` are given. It is strict JSON: a NaN or infinite value
        is written as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
        (:mod:`pynet_cvae.jsonio`), which :meth:`load` reads back as a float; a
        value not logged at a step is ``null``.

        Returns
        -------
        str
            The path written.
        """
        os.makedirs(outdir, exist_ok=True)
        suffix = "" if fold is None or epoch is None else f"_{fold}_epoch_{epoch}"
        path = os.path.join(outdir, f"{self.name}{suffix}.json")
        atomic_write_text(path, dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str) -> "History":
        """Read a history written by :meth:`save`."""
        try:
            with open(path, encoding="utf-8") as stream:
                data = json.load(stream)
        except FileNotFoundError:
            raise FileNotFoundError(f"no history file at {path!r}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"history file {path!r} is not valid JSON: {error}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"History(name={self.name!r}, steps={len(self)}, metrics={self.metrics})"


def _normalise_step(step: Any) -> Step:
    if isinstance(step, (list, tuple)):
        return tuple(int(part) for part in step)
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"history step must be an int or a tuple of ints, got {step!r}")
    return int(step)


def _to_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"history value {name!r} must be a number, got {type(value).__name__}") from None
    return number
