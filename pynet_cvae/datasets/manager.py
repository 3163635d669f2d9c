"""DataManager: metadata, row selection, train/validation/test splits and loaders.

Rows go through: ``projection_labels`` filter -> ``sample_size`` subsample -> held-out
test set (``test_size``) -> ``number_of_folds`` K-fold (train, validation) pairs, or
``custom_stratification`` filters instead of the last two steps. Every random choice
derives from ``seed``. The datasets and the batched loader live in ``arrays.py``.
"""

import inspect
import math
import os
from collections import namedtuple
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from torch.utils.data import DataLoader, Dataset, Sampler

from .arrays import ArrayDataset, BatchLoader, DataItem, DatasetAdapter

__all__ = ["DataManager", "DataItem", "Loaders"]

Loaders = namedtuple("Loaders", ["test", "train", "validation"])
Loaders.__doc__ = "The loaders asked of :meth:`DataManager.get_dataloader` (None otherwise)."

SPLITS = ("train", "validation", "test")
_SAMPLER_NAMES = ("random", "weighted_random")
_MANAGED_LOADER_ARGUMENTS = ("dataset", "batch_size", "shuffle", "sampler", "batch_sampler",
                             "collate_fn")
_LOADER_ARGUMENTS = sorted(set(inspect.signature(DataLoader).parameters)
                           - set(_MANAGED_LOADER_ARGUMENTS))
Filters = Dict[str, Any]


def _plain(value):
    """A NumPy scalar as the Python value it holds, for readable error messages."""
    return value.item() if isinstance(value, np.generic) else value


def _check_fraction(name: str, value, open_at_zero: bool) -> None:
    interval = "(0, 1]" if open_at_zero else "[0, 1]"
    is_number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not is_number or not (0 < value <= 1 if open_at_zero else 0 <= value <= 1):
        raise ValueError(f"{name} {value!r} out of range: expected a number in {interval}")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} {value!r} is invalid: expected an int >= {minimum}")


def _check_sampler(sampler) -> None:
    is_class = isinstance(sampler, type) and issubclass(sampler, Sampler)
    if not (sampler is None or is_class or isinstance(sampler, Sampler)
            or (isinstance(sampler, str) and sampler in _SAMPLER_NAMES)):
        raise ValueError(f"sampler {sampler!r} is invalid: expected 'random', "
                         "'weighted_random', None or a torch.utils.data.Sampler subclass")


def _check_loader_arguments(arguments: Dict[str, Any]) -> None:
    for name in arguments:
        if name in _MANAGED_LOADER_ARGUMENTS:
            raise ValueError(f"dataloader argument {name!r} is set by the DataManager: "
                             "use its batch_size and sampler parameters")
        if name not in _LOADER_ARGUMENTS:
            raise ValueError(f"dataloader argument {name!r} unknown: expected one of "
                             f"{_LOADER_ARGUMENTS}")


def _open_array(path: str, name: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name} {path!r} does not exist")
    array = np.load(path, mmap_mode="r")
    if not isinstance(array, np.ndarray) or array.ndim == 0:
        raise ValueError(f"{name} {path!r} is not a .npy array of shape (N, ...)")
    return array


def _read_metadata(path: str, rows: int, input_path: str) -> pd.DataFrame:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"metadata_path {path!r} does not exist")
    metadata = pd.read_csv(path, sep="\t")
    if len(metadata) != rows:
        raise ValueError(f"metadata_path {path!r} has {len(metadata)} rows but input_path "
                         f"{input_path!r} has {rows} samples: expected one row per sample")
    return metadata


def _check_columns(metadata: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    for column in columns:
        if column not in metadata.columns:
            raise ValueError(f"{role} column {column!r} not in metadata columns "
                             f"{list(metadata.columns)}")


def _filter_mask(metadata: pd.DataFrame, filters: Filters, role: str) -> np.ndarray:
    """Rows whose ``column`` value is ``value`` (or in a list of values) for each item."""
    if not isinstance(filters, dict):
        raise ValueError(f"{role} {filters!r} is invalid: expected a dict "
                         "{column: value or list of values}")
    _check_columns(metadata, list(filters), role)
    mask = np.ones(len(metadata), dtype=bool)
    for column, value in filters.items():
        values = list(value) if isinstance(value, (list, tuple, set, np.ndarray)) else [value]
        mask &= metadata[column].isin(values).to_numpy()
    return mask


def _class_sizes_at_least(values: np.ndarray, minimum: int, column: str, reason: str) -> None:
    counts = pd.Series(values).value_counts()
    small = counts[counts < minimum]
    if len(small):
        raise ValueError(f"class {_plain(small.index[0])!r} of stratify_label {column!r} has "
                         f"{small.iloc[0]} members, fewer than {minimum} ({reason})")


def _subsample(rows: np.ndarray, sample_size: float, strata, seed: int) -> np.ndarray:
    """Keep a random ``sample_size`` fraction of ``rows`` (per class with strata)."""
    if sample_size == 1:
        return rows
    rng = np.random.default_rng(seed)
    codes = np.zeros(len(rows), dtype=int) if strata is None else pd.factorize(strata[rows])[0]
    kept = []
    for code in np.unique(codes):
        group = rows[codes == code]
        kept.append(rng.permutation(group)[:max(1, round(sample_size * len(group)))])
    return np.sort(np.concatenate(kept))


def _split_test(rows: np.ndarray, test_size: float, strata, seed: int,
                column: Optional[str]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Return ``(train_and_validation_rows, test_rows or None)``."""
    if test_size == 0:
        return rows, None
    if test_size == 1:
        return rows[:0], rows
    stratify = None if strata is None else strata[rows]
    if stratify is not None:
        _class_sizes_at_least(stratify, 2, column, f"test_size={test_size} needs 2")
    try:
        rest, test = train_test_split(rows, test_size=test_size, random_state=seed,
                                      shuffle=True, stratify=stratify)
    except ValueError as error:
        raise ValueError(f"test_size {test_size!r} cannot split {len(rows)} rows: {error}") \
            from error
    return np.sort(rest), np.sort(test)


def _split_folds(rows: np.ndarray, folds: int, strata, seed: int, column: Optional[str]):
    """Return ``folds`` (train_rows, validation_rows) pairs; one (rows, None) for 1 fold."""
    if len(rows) == 0:
        return []
    if folds == 1:
        return [(rows, None)]
    if folds > len(rows):
        raise ValueError(f"number_of_folds {folds} is more than the {len(rows)} rows left "
                         "for training and validation")
    if strata is None:
        pairs = KFold(folds, shuffle=True, random_state=seed).split(rows)
    else:
        _class_sizes_at_least(strata[rows], folds, column, f"number_of_folds={folds}")
        pairs = StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            rows, strata[rows])
    return [(np.sort(rows[train]), np.sort(rows[validation])) for train, validation in pairs]


def _custom_splits(metadata: pd.DataFrame, rows: np.ndarray, custom: Dict[str, Filters],
                   folds: int, seed: int):
    """Return ``(fold pairs, test_rows or None)`` selected by metadata filters."""
    if not isinstance(custom, dict) or "train" not in custom or set(custom) - set(SPLITS):
        keys = sorted(custom) if isinstance(custom, dict) else custom
        raise ValueError(f"custom_stratification keys {keys!r} are invalid: expected "
                         "'train' and optionally 'validation' and 'test'")
    selected = np.zeros(len(metadata), dtype=bool)
    selected[rows] = True
    chosen = {}
    for split, filters in custom.items():
        role = f"custom_stratification[{split!r}]"
        chosen[split] = np.flatnonzero(_filter_mask(metadata, filters, role) & selected)
        if not len(chosen[split]):
            raise ValueError(f"{role} {filters!r} selects no row")
    names = list(chosen)
    for position, first in enumerate(names):
        for second in names[position + 1:]:
            shared = np.intersect1d(chosen[first], chosen[second])
            if len(shared):
                raise ValueError(f"custom_stratification splits {first!r} and {second!r} "
                                 f"share {len(shared)} rows (e.g. row {shared[0]}): "
                                 "expected disjoint filters")
    if "validation" in chosen:
        return [(chosen["train"], chosen["validation"])], chosen.get("test")
    return _split_folds(chosen["train"], folds, None, seed, None), chosen.get("test")


def _map_labels(values: np.ndarray, mapping: dict, name: str) -> np.ndarray:
    if not isinstance(mapping, dict):
        raise ValueError(f"label_mapping {mapping!r} is invalid: expected a dict")
    flat = pd.Series(values.ravel())
    known = flat.isin(list(mapping)).to_numpy()
    if not known.all():
        bad = _plain(flat[~known].iloc[0])
        raise ValueError(f"{name} value {bad!r} not in label_mapping keys {list(mapping)}")
    return np.asarray(flat.map(mapping).tolist()).reshape(values.shape)


def _is_integral(value) -> bool:
    if isinstance(value, (str, bytes)):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number.is_integer()


def prepare_labels(values, label_mapping: Optional[dict] = None, continuous: bool = False,
                   name: str = "labels") -> np.ndarray:
    """Map labels, then return float32 values or int64 class ids.

    Parameters
    ----------
    values : array-like
        Labels, shape ``(N,)`` or ``(N, K)``.
    label_mapping : dict, optional
        Replaces each value by ``label_mapping[value]``; every value must be a key.
    continuous : bool
        Return float32 values instead of integer class ids.
    name : str
        How errors name the labels.

    Returns
    -------
    numpy.ndarray
        float32 (``continuous``) or int64 labels.
    """
    values = np.asarray(values)
    if label_mapping is not None:
        values = _map_labels(values, label_mapping, name)
    if continuous:
        try:
            return values.astype(np.float32)
        except (TypeError, ValueError):
            bad = next(value for value in values.ravel() if not _is_number(value))
            raise ValueError(f"{name} value {_plain(bad)!r} is not a number: expected "
                             "numbers with continuous_labels=True (or a label_mapping)") from None
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    bad = next((value for value in values.ravel() if not _is_integral(value)), None)
    if bad is not None:
        raise ValueError(f"{name} value {_plain(bad)!r} is not an integer class id: expected "
                         "integers (or give label_mapping, or continuous_labels=True)")
    return values.astype(np.float64).astype(np.int64)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class DataManager:
    """Split a dataset into test, train and validation sets and load them by mini-batch.

    Parameters
    ----------
    input_path : str
        ``.npy`` array of shape ``(N, ...)``, opened memory-mapped (never copied whole).
    metadata_path : str
        Tab-separated table with one row per sample.
    output_path : str, optional
        ``.npy`` array of targets with ``N`` rows, memory-mapped.
    labels : str or list of str, optional
        Label column(s); a one-column list gives a 1-D label vector.
    stratify_label : str, optional
        Column whose class proportions the test split and the folds keep.
    custom_stratification : dict, optional
        ``{"train": filters, "validation": filters, "test": filters}`` (validation and
        test optional) choosing the splits instead; exclusive with ``stratify_label``.
        With "validation" there is one fold; without, "train" is K-folded.
    projection_labels : dict, optional
        ``{column: value or list of values}``: keep only the matching rows.
    number_of_folds : int
        Number of K-fold (train, validation) pairs; 1 trains on every non-test row
        with no validation set (``manager["validation"] == [None]``).
    batch_size : int
        Samples per mini-batch.
    sampler : None, "random", "weighted_random" or Sampler subclass
        Order of the training samples (validation and test are sequential).
        "weighted_random" balances the ``stratify_label`` classes; a Sampler subclass
        is instantiated as ``sampler(train_dataset)`` and yields positions in it.
    input_transforms, output_transforms : list of callable, optional
        Applied to each input (output) sample in order; a callable with
        ``batched = True`` is applied once to the whole batch array.
    data_augmentation_transforms : list of callable, optional
        Applied to each training sample, input and output under the same seed.
    add_input : bool
        Make the input (after its transforms and augmentation) the target ``outputs``,
        after the output's channels (axis 0 of a sample) when ``output_path`` is given.
    test_size : float
        Held-out test fraction in [0, 1] (0: no test set, 1: everything is test).
    label_mapping : dict, optional
        Applied to label values (e.g. strings to ints).
    patch_size : int or sequence of int, optional
        Crop patches of this size on the trailing axes (an int: every axis after the
        channel axis), the same crop for input and output, before the transforms:
        random per sample and epoch in training, centered in validation and test.
    continuous_labels : bool
        float32 labels instead of int64 class ids.
    sample_size : float
        Fraction in (0, 1] of the rows to keep (per class with ``stratify_label``).
    seed : int
        Seed of every random choice: subsample, splits, shuffling, weighted draws,
        augmentation and patches.
    **dataloader_kwargs
        ``drop_last`` (training loader) and torch ``DataLoader`` arguments such as
        ``num_workers`` and ``pin_memory``.
    """

    def __init__(self, input_path: str, metadata_path: str, output_path: Optional[str] = None,
                 labels: Union[None, str, List[str]] = None, stratify_label: Optional[str] = None,
                 custom_stratification: Optional[Dict[str, Filters]] = None,
                 projection_labels: Optional[Filters] = None, number_of_folds: int = 10,
                 batch_size: int = 1, sampler="random", input_transforms=None,
                 output_transforms=None, data_augmentation_transforms=None,
                 add_input: bool = False, test_size: float = 0.1,
                 label_mapping: Optional[dict] = None, patch_size=None,
                 continuous_labels: bool = False, sample_size: float = 1, seed: int = 42,
                 **dataloader_kwargs):
        self._init_loading(batch_size, sampler, seed, dataloader_kwargs)
        _check_fraction("test_size", test_size, open_at_zero=False)
        _check_fraction("sample_size", sample_size, open_at_zero=True)
        _check_int("number_of_folds", number_of_folds, 1)
        if custom_stratification is not None and stratify_label is not None:
            raise ValueError(f"custom_stratification and stratify_label {stratify_label!r} "
                             "are exclusive: expected one of them")
        if sampler == "weighted_random" and stratify_label is None:
            raise ValueError("sampler 'weighted_random' needs stratify_label: expected the "
                             "column whose classes it balances")
        self.inputs = _open_array(input_path, "input_path")
        self.outputs = None if output_path is None else _open_array(output_path, "output_path")
        if self.outputs is not None and len(self.outputs) != len(self.inputs):
            raise ValueError(f"output_path {output_path!r} has {len(self.outputs)} samples "
                             f"but input_path {input_path!r} has {len(self.inputs)}")
        self.metadata = _read_metadata(metadata_path, len(self.inputs), input_path)
        strata = self._read_strata(stratify_label)
        rows = self._project(projection_labels, strata, stratify_label)
        rows = _subsample(rows, sample_size, strata, seed)
        self.labels = self._read_labels(labels, rows, label_mapping, continuous_labels)
        if custom_stratification is not None:
            folds, test_rows = _custom_splits(self.metadata, rows, custom_stratification,
                                              number_of_folds, seed)
        else:
            rest, test_rows = _split_test(rows, test_size, strata, seed, stratify_label)
            folds = _split_folds(rest, number_of_folds, strata, seed, stratify_label)
        self.number_of_folds = len(folds) if folds else number_of_folds
        make = partial(ArrayDataset, self.inputs, outputs=self.outputs, labels=self.labels,
                       strata=None if strata is None else pd.factorize(strata)[0],
                       input_transforms=input_transforms, output_transforms=output_transforms,
                       add_input=add_input, patch_size=patch_size, seed=seed)
        self.dataset = {
            "train": [make(train, augmentation_transforms=data_augmentation_transforms,
                           random_patches=True) for train, _ in folds],
            "validation": [None if validation is None else make(validation)
                           for _, validation in folds],
            "test": None if test_rows is None else make(test_rows)}

    def _init_loading(self, batch_size: int, sampler, seed: int, arguments: dict) -> None:
        _check_int("batch_size", batch_size, 1)
        _check_sampler(sampler)
        _check_int("seed", seed, 0)
        _check_loader_arguments(arguments)
        self.batch_size, self.sampler, self.seed = batch_size, sampler, seed
        self.drop_last = bool(arguments.pop("drop_last", False))
        self.dataloader_kwargs = arguments

    def _read_strata(self, column: Optional[str]) -> Optional[np.ndarray]:
        if column is None:
            return None
        _check_columns(self.metadata, [column], "stratify_label")
        return self.metadata[column].to_numpy()

    def _project(self, projection_labels: Optional[Filters], strata, column) -> np.ndarray:
        rows = np.arange(len(self.metadata))
        if projection_labels is not None:
            rows = np.flatnonzero(_filter_mask(self.metadata, projection_labels,
                                               "projection_labels"))
            if not len(rows):
                raise ValueError(f"projection_labels {projection_labels!r} selects no row")
        if strata is not None and pd.isna(strata[rows]).any():
            missing = rows[pd.isna(strata[rows])]
            raise ValueError(f"stratify_label column {column!r} has missing values (e.g. "
                             f"row {missing[0]}): expected a class for every row")
        return rows

    def _read_labels(self, labels, rows: np.ndarray, mapping, continuous: bool):
        if labels is None:
            return None
        columns = [labels] if isinstance(labels, str) else list(labels)
        _check_columns(self.metadata, columns, "labels")
        name = f"labels column {columns[0]!r}" if len(columns) == 1 else f"labels {columns}"
        values = prepare_labels(self.metadata[columns].to_numpy()[rows], mapping,
                                continuous, name)
        full = np.zeros((len(self.metadata),) + values.shape[1:], dtype=values.dtype)
        full[rows] = values
        return full[:, 0] if len(columns) == 1 else full

    def __getitem__(self, split: str):
        """Return ``"train"`` / ``"validation"`` (a list, one dataset per fold; None
        for a fold without validation) or ``"test"`` (a dataset or None)."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r} unknown: expected one of {list(SPLITS)}")
        return self.dataset[split]

    def _check_fold(self, fold_index) -> None:
        folds = len(self.dataset["train"])
        if not folds:
            raise ValueError(f"fold_index {fold_index!r} out of range: the manager has no "
                             "train/validation folds (test_size=1 puts every row in test)")
        if isinstance(fold_index, bool) or not isinstance(fold_index, (int, np.integer)) \
                or not 0 <= fold_index < folds:
            raise ValueError(f"fold_index {fold_index!r} out of range: expected an int in "
                             f"[0, {folds - 1}] ({folds} folds)")

    def _loader(self, dataset: Dataset, sampler, fold: int, drop_last: bool) -> BatchLoader:
        return BatchLoader(dataset, self.batch_size, sampler, self.seed, fold, drop_last,
                           **self.dataloader_kwargs)

    def get_dataloader(self, train: bool = False, validation: bool = False, test: bool = False,
                       fold_index: int = 0) -> Loaders:
        """Return the loaders asked for, each yielding ``DataItem`` mini-batches.

        Parameters
        ----------
        train, validation, test : bool
            Which loaders to build (the others are None).
        fold_index : int
            The fold of the train and validation loaders.

        Returns
        -------
        Loaders
            ``(test, train, validation)``; the validation loader is None for a fold
            without validation (``number_of_folds=1``). Loaders have ``len`` (batches),
            ``dataset``, ``set_epoch(epoch)`` and ``state_dict()``.
        """
        loaders = dict.fromkeys(Loaders._fields)
        if train or validation:
            self._check_fold(fold_index)
        if train:
            dataset = self.dataset["train"][fold_index]
            if dataset is None:
                raise ValueError("train=True but the manager has no train set")
            loaders["train"] = self._loader(dataset, self.sampler, fold_index, self.drop_last)
        if validation and self.dataset["validation"][fold_index] is not None:
            loaders["validation"] = self._loader(self.dataset["validation"][fold_index],
                                                 None, fold_index, False)
        if test:
            if self.dataset["test"] is None:
                raise ValueError("test=True but the manager has no test set (test_size=0 or "
                                 "no 'test' in custom_stratification)")
            loaders["test"] = self._loader(self.dataset["test"], None, 0, False)
        return Loaders(**loaders)

    @classmethod
    def _single_fold(cls, train, validation, test, batch_size, sampler, seed, arguments):
        manager = cls.__new__(cls)
        manager._init_loading(batch_size, sampler, seed, arguments)
        manager.inputs = manager.outputs = manager.labels = manager.metadata = None
        manager.number_of_folds = 1
        manager.dataset = {"train": [train], "validation": [validation], "test": test}
        return manager

    @classmethod
    def from_numpy(cls, train_inputs=None, train_outputs=None, train_labels=None,
                   validation_inputs=None, validation_outputs=None, validation_labels=None,
                   test_inputs=None, test_outputs=None, test_labels=None, batch_size: int = 1,
                   sampler="random", input_transforms=None, output_transforms=None,
                   data_augmentation_transforms=None, add_input: bool = False,
                   label_mapping: Optional[dict] = None, patch_size=None,
                   continuous_labels: bool = False, seed: int = 42,
                   **dataloader_kwargs) -> "DataManager":
        """Build a one-fold manager from arrays (memmaps stay memmaps).

        Parameters are those of :class:`DataManager`; ``<split>_inputs`` of shape
        ``(N, ...)`` with ``<split>_outputs`` and ``<split>_labels`` of ``N`` rows.
        "weighted_random" balances the classes of ``train_labels``.
        """
        _check_sampler(sampler)
        common = dict(input_transforms=input_transforms, output_transforms=output_transforms,
                      add_input=add_input, patch_size=patch_size, seed=seed)
        datasets = {}
        for split, (inputs, outputs, labels) in {
                "train": (train_inputs, train_outputs, train_labels),
                "validation": (validation_inputs, validation_outputs, validation_labels),
                "test": (test_inputs, test_outputs, test_labels)}.items():
            options = dict(common, augmentation_transforms=data_augmentation_transforms,
                           random_patches=True) if split == "train" else common
            datasets[split] = _numpy_dataset(split, inputs, outputs, labels, label_mapping,
                                             continuous_labels, sampler, options)
        return cls._single_fold(datasets["train"], datasets["validation"], datasets["test"],
                                batch_size, sampler, seed, dataloader_kwargs)

    @classmethod
    def from_dataset(cls, train_dataset: Optional[Dataset] = None,
                     validation_dataset: Optional[Dataset] = None,
                     test_dataset: Optional[Dataset] = None, batch_size: int = 1,
                     sampler="random", seed: int = 42, **dataloader_kwargs) -> "DataManager":
        """Build a one-fold manager from torch datasets.

        Items may be DataItems, dicts, ``(inputs, outputs, labels)`` or
        ``(inputs, labels)`` tuples, or bare inputs; they become DataItem tensors.
        """
        if isinstance(sampler, str) and sampler == "weighted_random":
            raise ValueError("sampler 'weighted_random' is not available with from_dataset "
                             "(no class column): expected 'random', None or a Sampler subclass")
        wrap = [None if dataset is None else DatasetAdapter(dataset)
                for dataset in (train_dataset, validation_dataset, test_dataset)]
        return cls._single_fold(*wrap, batch_size, sampler, seed, dataloader_kwargs)


def _numpy_dataset(split: str, inputs, outputs, labels, mapping, continuous: bool, sampler,
                   options: dict) -> Optional[ArrayDataset]:
    if inputs is None:
        if outputs is not None or labels is not None:
            raise ValueError(f"{split}_outputs or {split}_labels given without {split}_inputs")
        return None
    inputs = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
    for name, array in (("outputs", outputs), ("labels", labels)):
        if array is not None and len(array) != len(inputs):
            raise ValueError(f"{split}_{name} has {len(array)} rows but {split}_inputs has "
                             f"{len(inputs)}: expected one row per sample")
    if outputs is not None and not isinstance(outputs, np.ndarray):
        outputs = np.asarray(outputs)
    if labels is not None:
        labels = prepare_labels(labels, mapping, continuous, f"{split}_labels")
    strata = None
    if split == "train" and isinstance(sampler, str) and sampler == "weighted_random":
        if labels is None or labels.ndim != 1 or continuous:
            raise ValueError("sampler 'weighted_random' needs 1-D class train_labels to "
                             "balance")
        strata = pd.factorize(labels)[0]
    return ArrayDataset(inputs, outputs=outputs, labels=labels, strata=strata, **options)
