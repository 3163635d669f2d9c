"""Conditions: what a conditional model is told about each image.

A :class:`Condition` is an ordered set of named covariates. Each covariate is
:class:`Categorical` (a class, a sex, a site: one-hot) or :class:`Continuous` (an age,
a brightness: standardised with its mean and standard deviation). The condition turns
the values of a batch into the vector the networks see, ``encode(values)``, of
``width`` numbers per image.

The values come from a :class:`~pynet_cvae.datasets.DataManager` reading the
covariates' metadata columns as labels (:meth:`Condition.manager_arguments`): one
class id per image for a class-only condition (a 1-D ``int64`` vector, as the
tutorial's ``labels=["label"]`` gives), else a ``(batch, len(covariates))`` float
table in the covariates' order. :meth:`Condition.from_metadata` learns the
categories and the standardisation from a table; :meth:`Condition.classes` is the
class-only condition of the tutorial's models.

Example::

    condition = Condition.from_metadata("participants.tsv",
                                        {"age": "continuous", "sex": "categorical"})
    manager = DataManager(..., **condition.manager_arguments())
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as func

__all__ = ["Categorical", "Continuous", "Condition", "Covariate", "as_condition"]

#: How far a grid along a continuous covariate goes by default, in standard deviations.
GRID_SPAN = 2.0


@dataclass(frozen=True)
class Categorical:
    """A covariate with ``n_classes`` values, one-hot encoded.

    Parameters
    ----------
    name : str
        The covariate's name (also its metadata column unless ``column`` is given).
    n_classes : int
        The number of categories; a value is an id in ``[0, n_classes)``.
    column : str, optional
        The metadata column holding the ids.
    categories : list, optional
        The metadata values of the ids, in order (e.g. ``["F", "M"]``), when the
        column does not hold the ids themselves.
    """

    name: str
    n_classes: int
    column: Optional[str] = None
    categories: Optional[Tuple[Any, ...]] = None
    kind: str = field(default="categorical", init=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) \
                or self.n_classes < 1:
            raise ValueError(f"covariate {self.name!r}: n_classes must be a positive "
                             f"integer, got {self.n_classes!r}")
        if self.categories is not None:
            object.__setattr__(self, "categories", tuple(self.categories))
            if len(self.categories) != self.n_classes:
                raise ValueError(f"covariate {self.name!r} has {self.n_classes} classes but "
                                 f"{len(self.categories)} categories {list(self.categories)}")

    @property
    def width(self) -> int:
        """The number of values the networks see: ``n_classes``."""
        return self.n_classes

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        """One-hot vectors of class ids, ``(batch, n_classes)``."""
        ids = values.reshape(-1).round().long() if values.is_floating_point() \
            else values.reshape(-1).long()
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.n_classes):
            raise ValueError(f"covariate {self.name!r}: class ids must lie in "
                             f"[0, {self.n_classes}), got values from {int(ids.min())} "
                             f"to {int(ids.max())}")
        return func.one_hot(ids, self.n_classes).to(torch.get_default_dtype())

    def encode_unchecked(self, values: torch.Tensor) -> torch.Tensor:
        """:meth:`encode` without its check of the ids, in tensor operations only (an
        id outside ``[0, n_classes)`` gives a row of zeros), for traced programs."""
        ids = values.reshape(-1, 1)
        ids = ids.round().long() if ids.is_floating_point() else ids.long()
        classes = torch.arange(self.n_classes, device=values.device)
        return (ids == classes).to(torch.get_default_dtype())

    def grid(self, count: Optional[int] = None) -> np.ndarray:
        """Every class id (``count`` is ignored: a grid has one row per class)."""
        return np.arange(self.n_classes, dtype=np.float64)

    def default(self) -> float:
        """The value a grid along another covariate holds this one at: class 0."""
        return 0.0

    def code(self, values: Sequence[Any]) -> np.ndarray:
        """Metadata values to class ids (through ``categories`` when given)."""
        values = np.asarray(values, dtype=object)
        if self.categories is None:
            return values.astype(np.float64)
        index = {category: position for position, category in enumerate(self.categories)}
        unknown = [value for value in values if value not in index]
        if unknown:
            raise ValueError(f"covariate {self.name!r}: value {unknown[0]!r} is not one of "
                             f"its categories {list(self.categories)}")
        return np.asarray([index[value] for value in values], dtype=np.float64)

    def describe(self, value: float) -> str:
        """A label for a grid row."""
        if self.categories is not None:
            return f"{self.name}={self.categories[int(value)]}"
        return f"{self.name}={int(value)}"


@dataclass(frozen=True)
class Continuous:
    """A real-valued covariate, standardised: ``(value - mean) / std``.

    Parameters
    ----------
    name : str
        The covariate's name (also its metadata column unless ``column`` is given).
    mean, std : float
        The standardisation (``std > 0``), e.g. learnt from the training table by
        :meth:`Condition.from_metadata`.
    column : str, optional
        The metadata column holding the values.
    """

    name: str
    mean: float = 0.0
    std: float = 1.0
    column: Optional[str] = None
    kind: str = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not (np.isfinite(self.mean) and np.isfinite(self.std) and self.std > 0):
            raise ValueError(f"covariate {self.name!r}: expected a finite mean and a std "
                             f"> 0, got mean={self.mean!r}, std={self.std!r}")
        object.__setattr__(self, "mean", float(self.mean))
        object.__setattr__(self, "std", float(self.std))

    @property
    def width(self) -> int:
        """The number of values the networks see: 1."""
        return 1

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        """Standardised values, ``(batch, 1)``."""
        values = values.reshape(-1, 1).to(torch.get_default_dtype())
        return (values - self.mean) / self.std

    #: No check to leave out: the encoding is tensor operations only.
    encode_unchecked = encode

    def grid(self, count: Optional[int] = None) -> np.ndarray:
        """``count`` (8) values from ``mean - 2 std`` to ``mean + 2 std``."""
        return np.linspace(self.mean - GRID_SPAN * self.std, self.mean + GRID_SPAN * self.std,
                           8 if count is None else count)

    def default(self) -> float:
        """The value a grid along another covariate holds this one at: the mean."""
        return self.mean

    def code(self, values: Sequence[Any]) -> np.ndarray:
        """Metadata values as floats."""
        try:
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"covariate {self.name!r} is continuous but its values are "
                             f"not all numbers: {list(values)[:5]}") from None

    def describe(self, value: float) -> str:
        """A label for a grid row."""
        return f"{self.name}={value:.3g}"


Covariate = Union[Categorical, Continuous]
ConditionValues = Union[int, Sequence[int], torch.Tensor, np.ndarray, Mapping[str, Any]]


class Condition:
    """An ordered set of named covariates (see the module documentation).

    Parameters
    ----------
    covariates : sequence of Categorical or Continuous
        At least one; names unique.

    Examples
    --------
    >>> condition = Condition([Continuous("age", mean=50, std=10), Categorical("sex", 2)])
    >>> condition.width
    3
    >>> condition.encode(torch.tensor([[60.0, 1.0]]))
    tensor([[1., 0., 1.]])
    """

    def __init__(self, covariates: Sequence[Covariate]) -> None:
        covariates = tuple(covariates)
        if not covariates:
            raise ValueError("a condition needs at least one covariate")
        names = [covariate.name for covariate in covariates]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"covariate names must be unique, got {duplicates} twice")
        for covariate in covariates:
            if not isinstance(covariate, (Categorical, Continuous)):
                raise TypeError(f"a covariate must be Categorical or Continuous, got "
                                f"{covariate!r}")
        self.covariates: Tuple[Covariate, ...] = covariates

    # ------------------------------------------------------------------ building
    @classmethod
    def classes(cls, n_classes: int, name: str = "class", column: str = "label"
                ) -> "Condition":
        """The class-only condition: one categorical covariate.

        Parameters
        ----------
        n_classes : int
            The number of classes.
        name : str, default "class"
            The covariate's name.
        column : str, default "label"
            Its metadata column (the fetchers' ``label``).
        """
        return cls([Categorical(name, n_classes, column=column)])

    @classmethod
    def from_metadata(cls, metadata: Any, kinds: Mapping[str, str],
                      rows: Optional[Sequence[int]] = None) -> "Condition":
        """Learn a condition from a metadata table.

        Parameters
        ----------
        metadata : str or pandas.DataFrame
            A TSV path or a table.
        kinds : mapping
            Column -> ``"categorical"`` or ``"continuous"``, in the condition's order.
        rows : sequence of int, optional
            The rows to learn from (the training rows); by default all.

        Returns
        -------
        Condition
            Categories in sorted order (ids when the column holds the integers
            ``0 .. n - 1``); continuous covariates standardised with the rows' mean
            and standard deviation.
        """
        import pandas as pd

        table = pd.read_csv(metadata, sep="\t") if isinstance(metadata, str) else metadata
        if rows is not None:
            table = table.iloc[np.asarray(rows)]
        covariates: List[Covariate] = []
        for column, kind in kinds.items():
            if column not in table.columns:
                raise ValueError(f"covariate column {column!r} not in metadata columns "
                                 f"{list(table.columns)}")
            values = table[column].dropna()
            if kind == "continuous":
                numbers = Continuous(column).code(values.to_numpy())
                std = float(numbers.std()) or 1.0
                covariates.append(Continuous(column, float(numbers.mean()), std))
            elif kind == "categorical":
                categories = sorted(values.unique().tolist(), key=_sort_key)
                ids = list(range(len(categories)))
                covariates.append(Categorical(
                    column, len(categories),
                    categories=None if categories == ids else tuple(categories)))
            else:
                raise ValueError(f"covariate {column!r}: kind {kind!r} unknown; expected "
                                 "'categorical' or 'continuous'")
        return cls(covariates)

    @classmethod
    def from_spec(cls, spec: Any) -> "Condition":
        """A condition from :meth:`to_spec`'s list of dicts (or a Condition, returned)."""
        if isinstance(spec, Condition):
            return spec
        if not isinstance(spec, (list, tuple)):
            raise ValueError(f"a condition spec is a list of covariate dicts, got {spec!r}")
        covariates: List[Covariate] = []
        for item in spec:
            if isinstance(item, (Categorical, Continuous)):
                covariates.append(item)
                continue
            if not isinstance(item, Mapping) or "kind" not in item:
                raise ValueError(f"a covariate spec is a dict with a 'kind', got {item!r}")
            options = {key: value for key, value in item.items() if key != "kind"}
            kind = {"categorical": Categorical, "continuous": Continuous}.get(item["kind"])
            if kind is None:
                raise ValueError(f"covariate kind {item['kind']!r} unknown; expected "
                                 "'categorical' or 'continuous'")
            try:
                covariates.append(kind(**options))
            except TypeError as error:
                raise ValueError(f"covariate spec {dict(item)!r}: {error}") from None
        return cls(covariates)

    def to_spec(self) -> List[Dict[str, Any]]:
        """The JSON form: one dict per covariate (``kind`` and its fields)."""
        specs = []
        for covariate in self.covariates:
            spec = {key: value for key, value in asdict(covariate).items()
                    if value is not None}
            if "categories" in spec:
                spec["categories"] = list(spec["categories"])
            specs.append(spec)
        return specs

    # ------------------------------------------------------------------ properties
    @property
    def names(self) -> List[str]:
        """The covariates' names, in order."""
        return [covariate.name for covariate in self.covariates]

    @property
    def columns(self) -> List[str]:
        """The covariates' metadata columns, in order."""
        return [covariate.column or covariate.name for covariate in self.covariates]

    @property
    def width(self) -> int:
        """The size of an encoded condition."""
        return sum(covariate.width for covariate in self.covariates)

    @property
    def continuous_columns(self) -> List[int]:
        """The columns of an encoded condition that hold continuous covariates."""
        columns, start = [], 0
        for covariate in self.covariates:
            if isinstance(covariate, Continuous):
                columns.append(start)
            start += covariate.width
        return columns

    @property
    def is_class_only(self) -> bool:
        """True for one categorical covariate: values are plain class ids."""
        return len(self.covariates) == 1 and isinstance(self.covariates[0], Categorical)

    @property
    def n_classes(self) -> Optional[int]:
        """The number of classes of a class-only condition (None otherwise)."""
        return self.covariates[0].n_classes if self.is_class_only else None

    def __getitem__(self, name: str) -> Covariate:
        for covariate in self.covariates:
            if covariate.name == name:
                return covariate
        raise KeyError(f"no covariate {name!r} in the condition; it has {self.names}")

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Condition) and self.covariates == other.covariates

    def __repr__(self) -> str:
        return f"Condition({list(self.covariates)!r})"

    # ------------------------------------------------------------------ values
    def values(self, values: ConditionValues, count: Optional[int] = None) -> torch.Tensor:
        """The raw values of a batch as the model takes them.

        Parameters
        ----------
        values : int, sequence, array, tensor or mapping
            Class ids (a class-only condition); a ``(batch, len(covariates))`` table;
            or a mapping covariate name -> a value or one value per row (a missing
            covariate takes its default: class 0, the mean).
        count : int, optional
            Broadcast single values to this many rows.

        Returns
        -------
        torch.Tensor
            ``(batch,)`` int64 class ids for a class-only condition, else
            ``(batch, len(covariates))`` floats.
        """
        if isinstance(values, Mapping):
            unknown = sorted(set(values) - set(self.names))
            if unknown:
                raise ValueError(f"covariates {unknown} are not in the condition, which "
                                 f"has {self.names}")
            columns = [np.atleast_1d(np.asarray(values.get(covariate.name,
                                                           covariate.default()),
                                                dtype=np.float64))
                       for covariate in self.covariates]
            rows = max([len(column) for column in columns] + [count or 1])
            for covariate, column in zip(self.covariates, columns):
                if len(column) not in (1, rows):
                    raise ValueError(f"covariate {covariate.name!r} has {len(column)} values "
                                     f"for {rows} rows")
            table = np.stack([np.broadcast_to(column, rows) for column in columns], axis=1)
            tensor = torch.as_tensor(table)
        else:
            tensor = torch.as_tensor(values)
        if self.is_class_only:
            tensor = tensor.reshape(-1)
            tensor = tensor.round().long() if tensor.is_floating_point() else tensor.long()
        else:
            if tensor.dim() == 1 and tensor.numel() == len(self.covariates):
                tensor = tensor.reshape(1, -1)
            if tensor.dim() != 2 or tensor.shape[1] != len(self.covariates):
                raise ValueError(f"expected condition values of shape (batch, "
                                 f"{len(self.covariates)}) for covariates {self.names}, got "
                                 f"{tuple(tensor.shape)}")
            tensor = tensor.to(torch.get_default_dtype())
        if count is not None and tensor.shape[0] == 1 and count > 1:
            tensor = tensor.expand(count, *tensor.shape[1:])
        return tensor

    def encode(self, values: ConditionValues) -> torch.Tensor:
        """The vectors the networks see, ``(batch, width)``.

        Parameters
        ----------
        values : tensor, array, sequence or mapping
            As :meth:`values` takes them.
        """
        tensor = values if isinstance(values, torch.Tensor) else self.values(values)
        if self.is_class_only:
            return self.covariates[0].encode(tensor)
        tensor = self.values(tensor)
        return torch.cat([covariate.encode(tensor[:, index])
                          for index, covariate in enumerate(self.covariates)], dim=1)

    def encode_unchecked(self, values: torch.Tensor) -> torch.Tensor:
        """:meth:`encode` of values already in :meth:`values`' form, without checks.

        The checks of the values (their shape, the class ids' range) need the data
        and stop a traced program (``torch.export``, ONNX): they are the caller's.
        Only tensor operations remain, so the batch size stays free.

        Parameters
        ----------
        values : torch.Tensor
            ``(batch,)`` class ids of a class-only condition, else a ``(batch,
            len(covariates))`` table.

        Returns
        -------
        torch.Tensor
            ``(batch, width)``; an id outside its range gives zeros.
        """
        if self.is_class_only:
            return self.covariates[0].encode_unchecked(values)
        return torch.cat([covariate.encode_unchecked(values[:, index])
                          for index, covariate in enumerate(self.covariates)], dim=1)

    def grid(self, name: Optional[str] = None, count: Optional[int] = None,
             fixed: Optional[Mapping[str, Any]] = None) -> Tuple[torch.Tensor, List[str]]:
        """Condition values along one covariate, the others held fixed.

        Parameters
        ----------
        name : str, optional
            The covariate that varies (default: the first).
        count : int, optional
            The number of values of a continuous covariate (default 8); a
            categorical one gives every class.
        fixed : mapping, optional
            Values of the other covariates (default: class 0, the mean).

        Returns
        -------
        values : torch.Tensor
            One row of :meth:`values` per grid row.
        labels : list of str
            A label per row.
        """
        covariate = self[name] if name is not None else self.covariates[0]
        steps = covariate.grid(count)
        values = {key: value for key, value in (fixed or {}).items()}
        values[covariate.name] = steps
        return self.values(values), [covariate.describe(step) for step in steps]

    def manager_arguments(self) -> Dict[str, Any]:
        """The DataManager arguments serving these covariates as labels.

        Returns
        -------
        dict
            ``labels`` (the columns) and, unless class-only, ``continuous_labels=True``
            (the values arrive as floats; categorical columns must hold the ids:
            see :meth:`code_table`).
        """
        arguments: Dict[str, Any] = {"labels": self.columns}
        if not self.is_class_only:
            arguments["continuous_labels"] = True
        return arguments

    def table_values(self, table: Any) -> torch.Tensor:
        """The :meth:`values` of a metadata table's rows (categories coded as ids).

        Parameters
        ----------
        table : pandas.DataFrame
            One row per image, with every covariate's column.

        Returns
        -------
        torch.Tensor
            As :meth:`values` returns them, one row per table row.
        """
        coded = self.code_table(table)[self.columns].to_numpy(dtype=np.float64)
        return self.values(coded[:, 0] if self.is_class_only else coded)

    def code_table(self, table: Any) -> Any:
        """A copy of a metadata table with each categorical column as class ids.

        Parameters
        ----------
        table : pandas.DataFrame
            The metadata.

        Returns
        -------
        pandas.DataFrame
        """
        table = table.copy()
        for covariate, column in zip(self.covariates, self.columns):
            if column not in table.columns:
                raise ValueError(f"covariate column {column!r} not in metadata columns "
                                 f"{list(table.columns)}")
            table[column] = covariate.code(table[column].to_numpy())
        return table


def as_condition(condition: Any = None, n_classes: Optional[int] = None) -> Condition:
    """The condition of a model: a Condition, a spec (list of dicts), or classes.

    Parameters
    ----------
    condition : Condition, list of dict or None
        The condition; None: ``Condition.classes(n_classes)``.
    n_classes : int, optional
        The classes of a class-only condition.
    """
    if condition is not None:
        result = Condition.from_spec(condition)
        if n_classes is not None and result.n_classes not in (None, n_classes):
            raise ValueError(f"n_classes {n_classes} differs from the condition's "
                             f"{result.n_classes} classes")
        return result
    if n_classes is None:
        raise ValueError("give a condition or n_classes")
    return Condition.classes(n_classes)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a covariate needs a non-empty name, got {name!r}")


def _sort_key(value: Any) -> Tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float, np.integer, np.floating)) \
        else (1, str(value))
