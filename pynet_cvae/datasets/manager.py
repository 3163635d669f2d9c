"""DataManager: metadata, row selection, train/validation/test splits and loaders.

A manager reads a memory-mapped ``.npy`` and its metadata table, checks them
(:mod:`~pynet_cvae.datasets.validation`), selects and splits the rows
(:mod:`~pynet_cvae.datasets.splits`), prepares the labels
(:mod:`~pynet_cvae.datasets.labels`), and serves each split through an
:class:`~pynet_cvae.datasets.arrays.ArrayDataset` and a batched loader
(:mod:`~pynet_cvae.datasets.loading`). Every random choice derives from ``seed``.
"""

from collections import namedtuple
from functools import partial
from typing import Dict, List, Optional, Union

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from .arrays import ArrayDataset
from .items import DataItem, DatasetAdapter, EmptyDataset, collate_items
from .labels import check_missing_label, prepare_labels, strata_codes, stratum_values
from .loading import BatchLoader
from .mixing import LabelledMixSampler
from .splits import SPLIT_METHODS, SPLITS, Filters, custom_splits, filter_mask, pynet_mask, \
    pynet_split_folds, pynet_split_test, split_folds, split_test, subsample
from .validation import check_columns, check_fraction, check_int, check_loader_arguments, \
    check_real_dtype, check_sampler, open_array, read_metadata
from .validation import check_finite as check_finite_values

__all__ = ["DataManager", "DataItem", "Loaders"]

Loaders = namedtuple("Loaders", ["test", "train", "validation"])
Loaders.__doc__ = """The loaders asked of :meth:`DataManager.get_dataloader` (None otherwise);
pynet calls it ``SetItem``."""


class DataManager:
    """Split a dataset into test, train and validation sets and load them by mini-batch.

    Parameters
    ----------
    input_path : str
        ``.npy`` array of shape ``(N, ...)``, opened memory-mapped (never copied whole;
        :func:`~pynet_cvae.datasets.nifti.fetch_nifti` makes one from NIfTI images).
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
    patch_grid : bool
        With ``patch_size``: cut every sample into its grid of non-overlapping
        patches instead, each patch a sample of every split, as pynet does (see
        :class:`~pynet_cvae.datasets.arrays.ArrayDataset`).
    continuous_labels : bool
        float32 labels instead of int64 class ids.
    sample_size : float
        Fraction in (0, 1] of the rows to keep (per class with ``stratify_label``).
    seed : int
        Seed of every random choice: subsample, splits, shuffling, weighted draws,
        augmentation and patches.
    splits : {"seeded", "pynet"}
        "seeded": the subsample, test set and folds are shuffled under ``seed`` and
        each split's rows sorted. "pynet": pynet's splits, to reproduce published
        pynet folds (:mod:`~pynet_cvae.datasets.splits`): ``sample_size`` drawn from
        NumPy's global generator, ``(Stratified)ShuffleSplit(random_state=0)`` test
        set, unshuffled ``(Stratified)KFold`` folds, rows in scikit-learn's order.
    missing_label : int, optional
        Marker of unlabelled rows for semi-supervised training (e.g. -1). A row whose
        label is the marker or an empty cell is kept, with the marker as its label
        (int64) in mini-batches. In ``stratify_label`` such rows form their own
        stratum; ``"weighted_random"`` balances the labelled classes and draws the
        unlabelled rows at their natural frequency (see
        :func:`~pynet_cvae.datasets.loading.balanced_weights`).
    labelled_per_batch : int, optional
        With ``missing_label``: put this many labelled rows in every training
        mini-batch and fill the rest with unlabelled rows, an epoch being one pass over
        the unlabelled rows (:class:`~pynet_cvae.datasets.mixing.LabelledMixSampler`);
        it replaces the ``"random"`` sampler.
    check_finite : bool
        Scan the input and output arrays for NaN and infinite values (in bounded
        chunks) and raise, naming the first one, when there is one.
    **dataloader_kwargs
        ``drop_last`` (training loader), ``shuffle`` (True: the loaders without a
        sampler, validation and test included, draw a random order each epoch, as a
        torch ``DataLoader(shuffle=True)`` would) and torch ``DataLoader`` arguments
        such as ``num_workers`` and ``pin_memory``.

    Attributes
    ----------
    metadata : pandas.DataFrame
        The table (None for :meth:`from_numpy` and :meth:`from_dataset`).
    mask : numpy.ndarray of bool
        The rows of the table kept by ``projection_labels`` and ``sample_size``.
    generator : list of (numpy.ndarray, numpy.ndarray or None)
        The ``(train_rows, validation_rows)`` of each fold (pynet's name).
    sampler_weights : dict or None
        With ``stratify_label``: the relative draw weight of one row of each class in
        the ``"weighted_random"`` sampler (1 / the class's number of kept rows).
    data_loader_kwargs : dict
        The ``dataloader_kwargs`` as given (pynet's name).
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
                 missing_label: Optional[int] = None, labelled_per_batch: Optional[int] = None,
                 check_finite: bool = True, splits: str = "seeded", patch_grid: bool = False,
                 **dataloader_kwargs):
        self._init_loading(batch_size, sampler, seed, dataloader_kwargs)
        self._keep_options(input_transforms, output_transforms, data_augmentation_transforms,
                           add_input, test_size)
        check_fraction("test_size", test_size, open_at_zero=False)
        check_fraction("sample_size", sample_size, open_at_zero=True)
        check_int("number_of_folds", number_of_folds, 1)
        if splits not in SPLIT_METHODS:
            raise ValueError(f"splits {splits!r} unknown: expected one of {list(SPLIT_METHODS)}")
        check_missing_label(missing_label, continuous_labels)
        if labelled_per_batch is not None and missing_label is None:
            raise ValueError(f"labelled_per_batch={labelled_per_batch!r} needs missing_label "
                             "(the marker of the unlabelled rows it mixes with labelled ones)")
        self.missing_label = missing_label
        if custom_stratification is not None and stratify_label is not None:
            raise ValueError(f"custom_stratification and stratify_label {stratify_label!r} "
                             "are exclusive: expected one of them")
        if sampler == "weighted_random" and stratify_label is None:
            raise ValueError("sampler 'weighted_random' needs stratify_label: expected the "
                             "column whose classes it balances")
        self.inputs = open_array(input_path, "input_path")
        self.outputs = None if output_path is None else open_array(output_path, "output_path")
        if self.outputs is not None and len(self.outputs) != len(self.inputs):
            raise ValueError(f"output_path {output_path!r} has {len(self.outputs)} samples "
                             f"but input_path {input_path!r} has {len(self.inputs)}")
        if check_finite:
            _check_arrays_finite(f"input_path {input_path!r}", self.inputs,
                                 f"output_path {output_path!r}", self.outputs)
        self.metadata = read_metadata(metadata_path, len(self.inputs), input_path)
        strata = self._read_strata(stratify_label)
        pynet = splits == "pynet"
        if pynet:
            rows = self._project_pynet(projection_labels, sample_size, strata, stratify_label)
        else:
            rows = subsample(self._project(projection_labels, strata, stratify_label),
                             sample_size, strata, seed)
        self.mask = np.zeros(len(self.metadata), dtype=bool)
        self.mask[rows] = True
        self.sampler_weights = None if strata is None else {
            value: 1.0 / count for value, count in pd.Series(strata[rows]).value_counts(
                sort=False).items()}
        self.labels = self._read_labels(labels, rows, label_mapping, continuous_labels)
        if custom_stratification is not None:
            folds, test_rows = custom_splits(self.metadata, rows, custom_stratification,
                                             number_of_folds, seed, pynet)
        elif pynet:
            rest, test_rows = pynet_split_test(rows, test_size, strata)
            folds = pynet_split_folds(rest, number_of_folds, strata)
        else:
            rest, test_rows = split_test(rows, test_size, strata, seed, stratify_label)
            folds = split_folds(rest, number_of_folds, strata, seed, stratify_label)
        self.number_of_folds = len(folds) if folds else number_of_folds
        make = partial(ArrayDataset, self.inputs, outputs=self.outputs, labels=self.labels,
                       strata=None if strata is None else strata_codes(strata, missing_label),
                       input_transforms=input_transforms, output_transforms=output_transforms,
                       add_input=add_input, patch_size=patch_size, patch_grid=patch_grid,
                       seed=seed)
        self.dataset = {
            "train": [make(train, augmentation_transforms=data_augmentation_transforms,
                           random_patches=True) for train, _ in folds],
            "validation": [None if validation is None else make(validation)
                           for _, validation in folds],
            "test": None if test_rows is None else make(test_rows)}
        self._mix_samplers = self._labelled_mix(labelled_per_batch)

    def _init_loading(self, batch_size: int, sampler, seed: int, arguments: dict) -> None:
        check_int("batch_size", batch_size, 1)
        check_sampler(sampler)
        check_int("seed", seed, 0)
        check_loader_arguments(arguments)
        self.batch_size, self.sampler, self.seed = batch_size, sampler, seed
        self.data_loader_kwargs = dict(arguments)
        self.drop_last = bool(arguments.pop("drop_last", False))
        self.shuffle = bool(arguments.pop("shuffle", False))
        self.dataloader_kwargs = arguments
        self.multi_bloc = False

    def _keep_options(self, input_transforms, output_transforms, augmentation_transforms,
                      add_input: bool, test_size: Optional[float]) -> None:
        """Keep the arguments pynet code reads back as attributes."""
        self.input_transforms = list(input_transforms or [])
        self.output_transforms = list(output_transforms or [])
        self.data_augmentation_transforms = list(augmentation_transforms or [])
        self.add_input, self.test_size = add_input, test_size

    def _labelled_mix(self, labelled_per_batch: Optional[int]) -> Optional[list]:
        """One :class:`LabelledMixSampler` per training fold, or None."""
        if labelled_per_batch is None:
            return None
        if self.sampler != "random":
            raise ValueError(f"labelled_per_batch replaces the 'random' sampler: got sampler "
                             f"{self.sampler!r} as well")
        if self.labels is None or self.labels.ndim != 1:
            raise ValueError("labelled_per_batch needs one class column: give labels=[column]")
        return [None if train is None else LabelledMixSampler(
            self.labels[train.sample_rows], self.batch_size, labelled_per_batch,
            self.missing_label) for train in self.dataset["train"]]

    def _read_strata(self, column: Optional[str]) -> Optional[np.ndarray]:
        if column is None:
            return None
        check_columns(self.metadata, [column], "stratify_label")
        return stratum_values(self.metadata[column].to_numpy(), self.missing_label)

    def _project(self, projection_labels: Optional[Filters], strata, column) -> np.ndarray:
        rows = np.arange(len(self.metadata))
        if projection_labels is not None:
            rows = np.flatnonzero(filter_mask(self.metadata, projection_labels,
                                              "projection_labels"))
            if not len(rows):
                raise ValueError(f"projection_labels {projection_labels!r} selects no row")
        if strata is not None and pd.isna(strata[rows]).any():
            missing = rows[pd.isna(strata[rows])]
            raise ValueError(f"stratify_label column {column!r} has missing values (e.g. "
                             f"row {missing[0]}): expected a class for every row (or "
                             "missing_label=-1 to keep unlabelled rows)")
        return rows

    def _project_pynet(self, projection_labels: Optional[Filters], sample_size: float,
                       strata, column) -> np.ndarray:
        rows = np.flatnonzero(pynet_mask(self.metadata, projection_labels, sample_size))
        if not len(rows):
            raise ValueError(f"projection_labels {projection_labels!r} and sample_size "
                             f"{sample_size!r} select no row")
        if strata is not None and pd.isna(strata[rows]).any():
            raise ValueError(f"stratify_label column {column!r} has missing values: "
                             "expected a class for every row")
        return rows

    @property
    def generator(self) -> List[tuple]:
        """The ``(train_rows, validation_rows or None)`` of each fold (pynet's name)."""
        return [(_rows(train), None if validation is None else _rows(validation))
                for train, validation in zip(self.dataset["train"], self.dataset["validation"])]

    @staticmethod
    def get_mask(df: pd.DataFrame, projection_labels: Optional[Filters] = None,
                 sample_size: float = 1, seed: int = 42) -> np.ndarray:
        """The rows of table ``df`` matching ``projection_labels``, of which a random
        ``sample_size`` fraction (drawn under ``seed``) is kept.

        Returns
        -------
        numpy.ndarray of bool
            One value per row of ``df``.
        """
        check_fraction("sample_size", sample_size, open_at_zero=True)
        rows = np.arange(len(df))
        if projection_labels is not None:
            rows = np.flatnonzero(filter_mask(df, projection_labels, "projection_labels"))
        mask = np.zeros(len(df), dtype=bool)
        mask[subsample(rows, sample_size, None, seed)] = True
        return mask

    @staticmethod
    def get_mask_indices(mask: np.ndarray) -> np.ndarray:
        """The row numbers where ``mask`` is True."""
        return np.flatnonzero(np.asarray(mask))

    @staticmethod
    def collate_fn(list_samples: list) -> DataItem:
        """Stack samples (DataItems, dicts or tuples) into one mini-batch DataItem."""
        return collate_items(list_samples)

    def _read_labels(self, labels, rows: np.ndarray, mapping, continuous: bool):
        if labels is None:
            return None
        columns = [labels] if isinstance(labels, str) else list(labels)
        check_columns(self.metadata, columns, "labels")
        name = f"labels column {columns[0]!r}" if len(columns) == 1 else f"labels {columns}"
        values = prepare_labels(self.metadata[columns].to_numpy()[rows], mapping,
                                continuous, name, self.missing_label, rows)
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
            without validation (``number_of_folds=1``), the test loader empty without
            a test set (as in pynet). Loaders have ``len`` (batches), ``dataset``,
            ``set_epoch(epoch)`` and ``state_dict()``.
        """
        loaders = dict.fromkeys(Loaders._fields)
        if train or validation:
            self._check_fold(fold_index)
        if train:
            dataset = self.dataset["train"][fold_index]
            if dataset is None:
                raise ValueError("train=True but the manager has no train set")
            sampler = self.sampler if self._mix_samplers is None else \
                self._mix_samplers[fold_index]
            if sampler is None and self.shuffle:
                sampler = "random"
            loaders["train"] = self._loader(dataset, sampler, fold_index, self.drop_last)
        in_order = "random" if self.shuffle else None
        if validation and self.dataset["validation"][fold_index] is not None:
            loaders["validation"] = self._loader(self.dataset["validation"][fold_index],
                                                 in_order, fold_index, False)
        if test:
            dataset = self.dataset["test"]
            loaders["test"] = self._loader(EmptyDataset() if dataset is None else dataset,
                                           in_order, 0, False)
        return Loaders(**loaders)

    @classmethod
    def _single_fold(cls, train, validation, test, batch_size, sampler, seed, arguments,
                     missing_label=None):
        manager = cls.__new__(cls)
        manager._init_loading(batch_size, sampler, seed, arguments)
        manager.inputs = manager.outputs = manager.labels = manager.metadata = None
        manager.mask = manager.sampler_weights = None
        manager.missing_label = missing_label
        manager._mix_samplers = None
        manager.number_of_folds = 1
        manager.dataset = {"train": [train], "validation": [validation], "test": test}
        return manager

    @classmethod
    def from_numpy(cls, test_inputs=None, test_outputs=None, test_labels=None,
                   train_inputs=None, train_outputs=None, train_labels=None,
                   validation_inputs=None, validation_outputs=None, validation_labels=None,
                   batch_size: int = 1, sampler="random", input_transforms=None,
                   output_transforms=None, data_augmentation_transforms=None,
                   add_input: bool = False, label_mapping: Optional[dict] = None,
                   patch_size=None, continuous_labels: bool = False, seed: int = 42,
                   missing_label: Optional[int] = None, check_finite: bool = True,
                   patch_grid: bool = False, **dataloader_kwargs) -> "DataManager":
        """Build a one-fold manager from arrays (memmaps stay memmaps).

        Parameters are those of :class:`DataManager`, in pynet's order;
        ``<split>_inputs`` of shape ``(N, ...)`` with ``<split>_outputs`` and
        ``<split>_labels`` of ``N`` rows. "weighted_random" balances the classes of
        ``train_labels`` (unlabelled rows, ``missing_label``, at their natural
        frequency).
        """
        check_sampler(sampler)
        check_missing_label(missing_label, continuous_labels)
        common = dict(input_transforms=input_transforms, output_transforms=output_transforms,
                      add_input=add_input, patch_size=patch_size, patch_grid=patch_grid,
                      seed=seed)
        labelling = dict(mapping=label_mapping, continuous=continuous_labels,
                         missing_label=missing_label, check_finite=check_finite)
        datasets = {}
        for split, (inputs, outputs, labels) in {
                "train": (train_inputs, train_outputs, train_labels),
                "validation": (validation_inputs, validation_outputs, validation_labels),
                "test": (test_inputs, test_outputs, test_labels)}.items():
            options = dict(common, augmentation_transforms=data_augmentation_transforms,
                           random_patches=True) if split == "train" else common
            datasets[split] = _numpy_dataset(split, inputs, outputs, labels, sampler, options,
                                             **labelling)
        manager = cls._single_fold(datasets["train"], datasets["validation"],
                                   datasets["test"], batch_size, sampler, seed,
                                   dataloader_kwargs, missing_label)
        manager._keep_options(input_transforms, output_transforms,
                              data_augmentation_transforms, add_input, None)
        return manager

    @classmethod
    def from_dataset(cls, test_dataset: Optional[Dataset] = None,
                     train_dataset: Optional[Dataset] = None,
                     validation_dataset: Optional[Dataset] = None, batch_size: int = 1,
                     sampler="random", multi_bloc: bool = False, seed: int = 42,
                     **dataloader_kwargs) -> "DataManager":
        """Build a one-fold manager from torch datasets (pynet's argument order).

        Items may be DataItems, dicts, ``(inputs, outputs, labels)`` or
        ``(inputs, labels)`` tuples, or bare inputs; they become DataItem tensors.
        ``multi_bloc=True`` (pynet's items holding a list of arrays per field) is
        refused: give one array per field.
        """
        if multi_bloc:
            raise ValueError("multi_bloc=True is not supported: items must hold one array "
                             "per field (e.g. concatenate the blocs on the channel axis)")
        if isinstance(sampler, str) and sampler == "weighted_random":
            raise ValueError("sampler 'weighted_random' is not available with from_dataset "
                             "(no class column): expected 'random', None or a Sampler subclass")
        wrap = [None if dataset is None else DatasetAdapter(dataset)
                for dataset in (train_dataset, validation_dataset, test_dataset)]
        return cls._single_fold(*wrap, batch_size, sampler, seed, dataloader_kwargs)


def _rows(dataset: Dataset) -> np.ndarray:
    """The rows a split's dataset reads (positions for a wrapped torch dataset)."""
    indices = getattr(dataset, "indices", None)
    return np.arange(len(dataset)) if indices is None else indices


def _check_arrays_finite(input_name: str, inputs: np.ndarray, output_name: str,
                         outputs: Optional[np.ndarray]) -> None:
    check_finite_values(inputs, input_name)
    if outputs is not None:
        check_finite_values(outputs, output_name)


def _numpy_dataset(split: str, inputs, outputs, labels, sampler, options: dict,
                   mapping: Optional[dict], continuous: bool, missing_label: Optional[int],
                   check_finite: bool) -> Optional[ArrayDataset]:
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
    check_real_dtype(inputs, f"{split}_inputs")
    if outputs is not None:
        check_real_dtype(outputs, f"{split}_outputs")
    if check_finite:
        _check_arrays_finite(f"{split}_inputs", inputs, f"{split}_outputs", outputs)
    if labels is not None:
        labels = prepare_labels(labels, mapping, continuous, f"{split}_labels", missing_label)
    strata = None
    if split == "train" and isinstance(sampler, str) and sampler == "weighted_random":
        if labels is None or labels.ndim != 1 or continuous:
            raise ValueError("sampler 'weighted_random' needs 1-D class train_labels to "
                             "balance")
        strata = strata_codes(labels, missing_label)
    return ArrayDataset(inputs, outputs=outputs, labels=labels, strata=strata, **options)
