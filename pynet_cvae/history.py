"""History: the values logged at each step of a training run, saved as JSON.

Histories are never pickled: pynet's ``train_<fold>_epoch_<epoch>.pkl`` files are
written as ``train_<fold>_epoch_<epoch>.json``, and :meth:`History.load` of a
``.pkl`` path reads the JSON file beside it.
"""

from __future__ import annotations

import datetime
import json
import os
import time
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
    verbose : int, default 0
        Kept for pynet's signature; :meth:`summary` returns its line whatever the
        verbosity.

    Examples
    --------
    >>> history = History(name="train")
    >>> history.log((0, 0), loss=1.5, accuracy=0.5)
    >>> history.log((0, 1), loss=1.0, accuracy=0.75)
    >>> history["loss"]
    ([(0, 0), (0, 1)], [1.5, 1.0])
    """

    def __init__(self, name: str, verbose: int = 0) -> None:
        self.name = name
        self.verbose = verbose
        self._steps: List[Step] = []
        self._values: Dict[str, Dict[Step, float]] = {}
        self._times: Dict[Step, float] = {}

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

        Logging the same step again updates its values (and its time).
        """
        step = _normalise_step(step)
        if step not in self._steps:
            self._steps.append(step)
        self._times[step] = time.time()
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

    def get_total_time(self) -> datetime.timedelta:
        """The time between the logging of the first and of the last step."""
        if not self._steps:
            return datetime.timedelta(0)
        first, last = self._times.get(self._steps[0]), self._times.get(self._steps[-1])
        if first is None or last is None:  # a history rebuilt without its times
            return datetime.timedelta(0)
        return datetime.timedelta(seconds=last - first)

    def summary(self) -> str:
        """One line describing the last step, e.g. ``train (0, 3): loss=0.12 acc=0.9``."""
        if not self._steps:
            return f"{self.name}: empty"
        values = " ".join(f"{name}={value:.6g}" for name, value in self.last().items())
        return f"{self.name} {self._steps[-1]}: {values}"

    def to_dict(self, with_times: bool = False) -> Dict[str, Any]:
        """A JSON-serialisable form of the history.

        Parameters
        ----------
        with_times : bool, default False
            Add ``"times"``, when each step was logged (seconds since the epoch),
            which :meth:`get_total_time` reads. Without it, two runs that logged the
            same values give equal dicts.
        """
        data = {
            "name": self.name,
            "steps": [list(step) if isinstance(step, tuple) else step
                      for step in self._steps],
            "values": {name: [series.get(step) for step in self._steps]
                       for name, series in self._values.items()},
        }
        if with_times:
            data["times"] = [self._times.get(step) for step in self._steps]
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "History":
        """Rebuild a history from :meth:`to_dict`'s output."""
        try:
            history = cls(name=str(data["name"]))
            steps = [_normalise_step(step) for step in data["steps"]]
            times = data.get("times") or [None] * len(steps)
            for index, step in enumerate(steps):
                values = {name: series[index] for name, series in data["values"].items()
                          if series[index] is not None}
                history.log(step, **values)
                if times[index] is not None:
                    history._times[step] = float(times[index])
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
        atomic_write_text(path, dumps(self.to_dict(with_times=True), indent=1))
        return path

    @classmethod
    def load(cls, file_name: str) -> "History":
        """Read a history written by :meth:`save`.

        Parameters
        ----------
        file_name : str
            A ``.json`` file; a ``.pkl`` path (pynet's name) reads the ``.json``
            file beside it, since histories are never pickled.

        Raises
        ------
        FileNotFoundError
            If the file (for a ``.pkl`` path, its ``.json``) does not exist.
        ValueError
            If the file is not a history written as JSON.
        """
        path = os.fspath(file_name)
        if path.endswith(".pkl"):
            path = _json_beside_pickle(path)
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

    def __str__(self) -> str:
        """A text table: one row per step, one column per value (as pynet prints)."""
        header = ["step"] + self.metrics
        rows = [[str(step)] + [_cell(self._values[name].get(step)) for name in self.metrics]
                for step in self._steps]
        widths = [max(len(row[column]) for row in [header] + rows)
                  for column in range(len(header))]
        lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths))
                 for row in [header] + rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)


def _cell(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.6g}"


def _json_beside_pickle(path: str) -> str:
    """The ``.json`` history written in place of pynet's pickle ``path``."""
    beside = path[:-len(".pkl")] + ".json"
    if os.path.isfile(beside):
        return beside
    if os.path.isfile(path):
        raise ValueError(f"{path!r} is a pickled history and no {os.path.basename(beside)!r} "
                         "is beside it: pickles can run code when loaded, so pynet_cvae "
                         "never unpickles; histories are written as JSON (train again, or "
                         "convert the pickle where you trust it)")
    raise FileNotFoundError(f"no history file at {beside!r} (pynet_cvae writes the JSON "
                            f"history in place of pynet's {os.path.basename(path)!r})")


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
