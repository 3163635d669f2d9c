"""CSV: the history table, rewritten after every epoch.

The file is the table that ``pynet-cvae train`` writes as ``history.csv``: one row
per split and epoch, ``split, fold, epoch`` then one column per value (``loss``,
each metric, and ``lr`` in the training rows), validation values without their
``val_`` prefix. Per-step scalars go to a second table beside it,
``<name>_steps.csv`` (``split, fold, step``...). Both are replaced atomically, so
a reader never sees half a file, and a run that stops keeps every finished epoch.
A resumed fold keeps the rows of the epochs before the one it resumes from.

The CSV files hold scalars only: images, texts, hyper-parameters and artifacts
are not written.
"""

from __future__ import annotations

import csv
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..fileio import atomic_open
from ..history import History
from .base import Logger
from .params import split_of

_SPLITS = ("train", "validation")


class CSVLogger(Logger):
    """Keep a run's scalars in CSV tables.

    Parameters
    ----------
    path : str or path-like
        The history table; per-step scalars go to ``<stem>_steps.csv`` beside it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
    >>> with CSVLogger(path) as table:
    ...     table.log_scalars({"loss": 0.5, "val_loss": 0.75}, step=0)
    >>> print(open(path).read().strip())
    split,fold,epoch,loss
    train,0,0,0.5
    validation,0,0,0.75
    """

    def __init__(self, path: "str | os.PathLike[str]") -> None:
        super().__init__()
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise ValueError(f"path {self.path!r} is a folder; expected a CSV file")
        stem, _ = os.path.splitext(self.path)
        self.steps_path = f"{stem}_steps.csv"
        self._histories = {split: History(name=split) for split in _SPLITS}
        self._steps = History(name="train")
        self._dirty = False

    # ------------------------------------------------------------------ backend
    def _start_fold(self, fold: int, resumed_at: Optional[int]) -> None:
        if resumed_at is None:
            def other_fold(step: tuple) -> bool:
                return step[0] != fold

            self._histories = {split: _filtered(History(name=split), history, other_fold)
                               for split, history in self._histories.items()}
            self._steps = _filtered(History(name="train"), self._steps, other_fold)
            return
        # A resumed run: keep what the file holds of the folds not seen in this process,
        # and of the resumed fold the epochs before the one it resumes from.
        seen = {step[0] for history in self._histories.values() for step in history.steps}

        def earlier(step: tuple) -> bool:
            return step[0] not in seen and not (step[0] == fold and step[1] >= resumed_at)

        if os.path.isfile(self.path):
            for history in read_history_csv(self.path):
                if history.name in self._histories:
                    _filtered(self._histories[history.name], history, earlier)
        seen = {step[0] for step in self._steps.steps}
        if os.path.isfile(self.steps_path):
            for history in read_history_csv(self.steps_path, axis="step"):
                _filtered(self._steps, history, lambda step: step[0] not in seen)

    def _write_scalars(self, scalars: Dict[str, float], step: int, axis: str,
                       fold: int) -> None:
        if axis == "step":
            self._steps.log((fold, step), **scalars)
        else:
            by_split: Dict[str, Dict[str, float]] = {}
            for name, value in scalars.items():
                split, metric = split_of(name)
                by_split.setdefault(split, {})[metric] = value
            for split, values in by_split.items():
                self._histories[split].log((fold, step), **values)
        self._dirty = True

    def _flush(self) -> None:
        if not self._dirty:
            return
        epochs = [history for history in self._histories.values() if len(history)]
        if epochs:
            write_history_csv(self.path, epochs)
        if len(self._steps):
            write_history_csv(self.steps_path, [self._steps], axis="step")
        self._dirty = False

    def _finish_fold(self, fold: int, emitter: Any) -> None:
        self._flush()

    def _close(self) -> None:
        self._flush()

    def __repr__(self) -> str:
        return f"CSVLogger(path={self.path!r})"


def write_history_csv(path: str, histories: Sequence[History], axis: str = "epoch") -> str:
    """Write histories as one CSV table: split, fold, ``axis``, one column per value.

    Parameters
    ----------
    path : str
        The table, replaced atomically.
    histories : sequence of History
        Histories whose steps are ``(fold, epoch)`` tuples (or epochs of fold 0);
        each row's split is its history's name.
    axis : str, default "epoch"
        The name of the step column.

    Returns
    -------
    str
        ``path``.
    """
    names = sorted({name for history in histories for name in history.metrics})
    with atomic_open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["split", "fold", axis] + names)
        for history in histories:
            series = {name: dict(zip(*history[name])) for name in history.metrics}
            for step in history.steps:
                fold, index = step if isinstance(step, tuple) else (0, step)
                writer.writerow([history.name, fold, index]
                                + [series.get(name, {}).get(step, "") for name in names])
    return path


def read_history_csv(path: str, axis: str = "epoch") -> List[History]:
    """Read a table written by :func:`write_history_csv`, one history per split.

    Parameters
    ----------
    path : str
        The CSV file.
    axis : str, default "epoch"
        The name of its step column.

    Returns
    -------
    list of History
        In the order the splits first appear; steps are ``(fold, step)`` tuples.

    Raises
    ------
    ValueError
        If the file is not such a table.
    """
    histories: Dict[str, History] = {}
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None or reader.fieldnames[:3] != ["split", "fold", axis]:
            raise ValueError(f"{path!r} is not a history table: its columns are "
                             f"{reader.fieldnames}, expected split, fold, {axis}, ...")
        for line, row in enumerate(reader, start=2):
            try:
                step = (int(row["fold"]), int(row[axis]))
                values = {name: float(value) for name, value in row.items()
                          if name not in ("split", "fold", axis) and value not in ("", None)}
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path!r}, line {line}: {error}") from None
            split = row["split"]
            histories.setdefault(split, History(name=split)).log(step, **values)
    return list(histories.values())


def _filtered(target: History, source: History, keep: Callable[[tuple], bool]
              ) -> History:
    """Log into ``target`` the rows of ``source`` whose step ``keep`` accepts."""
    series = {name: dict(zip(*source[name])) for name in source.metrics}
    for step in source.steps:
        if keep(step):
            target.log(step, **{name: values[step] for name, values in series.items()
                                if step in values})
    return target
