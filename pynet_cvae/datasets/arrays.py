"""Array-backed datasets and the batched loader.

The path of one mini-batch reads top to bottom in this module:

1. :class:`EpochSampler` draws the positions of an epoch, a pure function of
   ``(seed, fold, epoch)``.
2. :class:`BatchLoader` cuts them into mini-batches and asks the dataset for each.
3. :meth:`ArrayDataset.get_batch` reads the rows of a mini-batch with one indexing
   operation per array (memory-mapped arrays are never copied whole), crops patches,
   runs the transforms and builds each tensor once.

:meth:`ArrayDataset.__getitem__` is the per-sample path; it gives the same values as
the batched path, sample by sample.
"""

import random
from collections import namedtuple
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

DataItem = namedtuple("DataItem", ["inputs", "outputs", "labels"])
DataItem.__doc__ = """One sample or one mini-batch: float32 ``inputs`` and ``outputs``,
int64 (or float32) ``labels``; ``None`` where absent."""

Transform = Callable[[Any], Any]
_NUMPY_DTYPES = {torch.float32: np.dtype(np.float32), torch.int64: np.dtype(np.int64)}
SamplerSpec = Union[None, str, type, Sampler]


def derive_seed(*keys: int) -> int:
    """Return a 32-bit seed that depends on every key (all non-negative ints)."""
    sequence = np.random.SeedSequence([int(key) for key in keys])
    return int(sequence.generate_state(1)[0])


def seeded_generator(*keys: int) -> torch.Generator:
    """Return a ``torch.Generator`` seeded from ``derive_seed(*keys)``."""
    generator = torch.Generator()
    generator.manual_seed(derive_seed(*keys))
    return generator


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Read ``array[rows]`` with one indexing operation, in ascending row order.

    Sorted indices keep reads of a memory-mapped file local; the batch is then put
    back in the requested order (no extra copy when ``rows`` is already sorted).
    """
    if isinstance(array, np.memmap):
        array = array.view(np.ndarray)  # a view of the same mapping, not a copy
    if rows.size > 1 and (rows[1:] < rows[:-1]).any():
        order = np.argsort(rows, kind="stable")
        batch = np.empty((len(rows),) + array.shape[1:], dtype=array.dtype)
        batch[order] = array[rows[order]]
        return batch
    return array[rows]


def stack_samples(samples: Union[np.ndarray, Sequence[Any]]) -> np.ndarray:
    """Stack per-sample arrays (or CPU tensors) into one batch array."""
    if isinstance(samples, np.ndarray):
        return samples
    return np.stack([np.asarray(sample) for sample in samples])


def run_transforms(samples, transforms: Sequence[Transform]):
    """Run ``transforms`` in order on a batch (an array or a list of samples).

    A transform with ``batched = True`` gets the whole batch array once; a run of
    other transforms is applied sample by sample, the results written into one array.
    """
    start = 0
    while start < len(transforms):
        if getattr(transforms[start], "batched", False):
            samples = transforms[start](stack_samples(samples))
            start += 1
            continue
        stop = start
        while stop < len(transforms) and not getattr(transforms[stop], "batched", False):
            stop += 1
        samples = _map_samples(samples, transforms[start:stop])
        start = stop
    return samples


def _chain(transforms: Sequence[Transform]) -> Transform:
    if len(transforms) == 1:
        return transforms[0]

    def chained(sample):
        for transform in transforms:
            sample = transform(sample)
        return sample
    return chained


def _map_samples(samples, transforms: Sequence[Transform]) -> np.ndarray:
    apply = _chain(transforms)
    first = np.asarray(apply(samples[0]))
    batch = np.empty((len(samples),) + first.shape, dtype=first.dtype)
    batch[0] = first
    for index in range(1, len(samples)):
        sample = apply(samples[index])
        if type(sample) is not np.ndarray or sample.shape != first.shape \
                or sample.dtype != batch.dtype:
            sample = np.asarray(sample)
            if sample.shape != first.shape:
                raise ValueError(f"transforms gave samples of shapes {first.shape} and "
                                 f"{sample.shape}: expected one shape per batch")
            batch = batch.astype(np.result_type(batch.dtype, sample.dtype), copy=False)
        batch[index] = sample
    return batch


def run_transforms_on_sample(sample, transforms: Sequence[Transform]):
    """Run ``transforms`` in order on one sample, as :func:`run_transforms` would."""
    for transform in transforms:
        if getattr(transform, "batched", False):
            sample = np.asarray(transform(np.asarray(sample)[np.newaxis]))[0]
        else:
            sample = transform(sample)
    return sample


def to_tensor(data, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Build one tensor of ``dtype`` from an array, a list of samples or a tensor."""
    if isinstance(data, torch.Tensor):
        return data.to(dtype)
    array = stack_samples(data) if isinstance(data, (list, tuple)) else np.asarray(data)
    numpy_dtype = _NUMPY_DTYPES[dtype]
    if array.dtype != numpy_dtype or not array.flags.writeable:
        array = array.astype(numpy_dtype)
    return torch.from_numpy(np.ascontiguousarray(array))


@contextmanager
def restored_global_rngs() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global random states on exit."""
    states = (random.getstate(), np.random.get_state(), torch.random.get_rng_state())
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def seed_global_rngs(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU) global random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.random.default_generator.manual_seed(seed)


def augment_pair(inputs, outputs, transforms: Sequence[Transform], seed: int):
    """Augment one input (and its output) with the same global random seed.

    Call inside :func:`restored_global_rngs`. Random augmentations that draw from
    ``random``, ``numpy.random`` or torch's default generator thus make the same
    choices for the input and its output.
    """
    seed_global_rngs(seed)
    inputs = run_transforms_on_sample(inputs, transforms)
    if outputs is not None:
        seed_global_rngs(seed)
        outputs = run_transforms_on_sample(outputs, transforms)
    return inputs, outputs


def normalize_patch_size(patch_size, sample_shape: Tuple[int, ...]) -> Optional[Tuple[int, ...]]:
    """Check ``patch_size`` against a sample shape; return one size per cropped axis.

    An int crops every axis after the first (channel) axis, or the only axis of a
    1-D sample; a sequence crops the trailing axes it names.
    """
    if patch_size is None:
        return None
    if isinstance(patch_size, (int, np.integer)):
        patch = (int(patch_size),) * max(len(sample_shape) - 1, 1)
    else:
        patch = tuple(int(size) for size in patch_size)
    spatial = sample_shape[len(sample_shape) - len(patch):]
    if len(patch) > len(sample_shape) or any(p < 1 or p > s for p, s in zip(patch, spatial)):
        raise ValueError(f"patch_size {patch_size!r} does not fit samples of shape "
                         f"{tuple(sample_shape)}: expected 1 <= size <= axis length "
                         "on the trailing axes")
    return patch


def patch_slices(shape: Tuple[int, ...], patch: Tuple[int, ...], seed: Optional[int]) -> tuple:
    """Slices of a patch over the trailing axes: random when ``seed`` is given,
    centered otherwise."""
    spatial = shape[len(shape) - len(patch):]
    if seed is None:
        starts = [(axis - size) // 2 for axis, size in zip(spatial, patch)]
    else:
        rng = np.random.default_rng(seed)
        starts = [int(rng.integers(0, axis - size + 1)) for axis, size in zip(spatial, patch)]
    return (Ellipsis,) + tuple(slice(start, start + size) for start, size in zip(starts, patch))


class ArrayDataset(Dataset):
    """Samples taken from (memory-mapped) arrays at the given rows.

    Each sample is processed in this order: patch crop (same crop for input and
    output), ``input_transforms`` / ``output_transforms``, augmentation (shared
    per-sample seed), then ``add_input`` makes the processed input the target,
    after the output's channels when there is an output.

    Parameters
    ----------
    inputs : numpy.ndarray
        Input array of shape ``(N, ...)``; kept as given (a memmap stays a memmap).
    indices : sequence of int, optional
        The rows of ``inputs`` in this dataset (all rows by default).
    outputs : numpy.ndarray, optional
        Output array with ``N`` rows.
    labels : numpy.ndarray, optional
        Labels with ``N`` rows, already int64 or float32.
    strata : numpy.ndarray, optional
        Integer class codes with ``N`` rows, used by the weighted sampler.
    input_transforms, output_transforms, augmentation_transforms : list of callable
        Per-sample callables (``batched = True``: called once on the batch array).
        Augmentations always run per sample, under the sample's seed.
    add_input : bool
        Make the processed input the target ``outputs``.
    patch_size : int or sequence of int, optional
        Crop a patch of this size (see :func:`normalize_patch_size`).
    random_patches : bool
        Random patch position per sample and epoch (training); centered otherwise.
    seed : int
        Seed of the per-sample random choices, with the epoch and the row.
    """

    def __init__(self, inputs: np.ndarray, indices: Optional[Sequence[int]] = None,
                 outputs: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None,
                 strata: Optional[np.ndarray] = None,
                 input_transforms: Optional[Sequence[Transform]] = None,
                 output_transforms: Optional[Sequence[Transform]] = None,
                 augmentation_transforms: Optional[Sequence[Transform]] = None,
                 add_input: bool = False, patch_size=None, random_patches: bool = False,
                 seed: int = 42):
        for name, array in (("outputs", outputs), ("labels", labels), ("strata", strata)):
            if array is not None and len(array) != len(inputs):
                raise ValueError(f"{name} has {len(array)} rows, expected {len(inputs)} "
                                 "(the number of input rows)")
        self.inputs, self.outputs, self.labels, self.strata = inputs, outputs, labels, strata
        rows = np.arange(len(inputs)) if indices is None else indices
        self.indices = np.asarray(rows, dtype=np.intp)
        self.input_transforms = list(input_transforms or [])
        self.output_transforms = list(output_transforms or [])
        self.augmentation_transforms = list(augmentation_transforms or [])
        self.add_input = add_input
        self.patch = normalize_patch_size(patch_size, tuple(inputs.shape[1:]))
        cropped = slice(inputs.ndim - len(self.patch), None) if self.patch else None
        if cropped and outputs is not None and outputs.shape[cropped] != inputs.shape[cropped]:
            raise ValueError(f"patch_size {patch_size!r} needs inputs and outputs of the same "
                             f"trailing shape: got {inputs.shape[cropped]} and "
                             f"{outputs.shape[cropped]}")
        self.random_patches = random_patches
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.indices)

    def _needs_seed(self) -> bool:
        return bool(self.augmentation_transforms) or (
            self.patch is not None and self.random_patches)

    def _sample_seed(self, row: int, epoch: int) -> int:
        return derive_seed(self.seed, epoch, row)

    def __getitem__(self, position: int) -> DataItem:
        """Return sample ``position`` (at epoch ``self.epoch``) as tensors, no batch axis."""
        row = int(self.indices[position])
        inputs = np.array(self.inputs[row])
        outputs = None if self.outputs is None else np.array(self.outputs[row])
        seed = self._sample_seed(row, self.epoch) if self._needs_seed() else None
        if self.patch is not None:
            slices = patch_slices(inputs.shape, self.patch, seed if self.random_patches else None)
            inputs = inputs[slices]
            outputs = None if outputs is None else outputs[slices]
        inputs = run_transforms_on_sample(inputs, self.input_transforms)
        if outputs is not None:
            outputs = run_transforms_on_sample(outputs, self.output_transforms)
        if self.augmentation_transforms:
            with restored_global_rngs():
                inputs, outputs = augment_pair(inputs, outputs, self.augmentation_transforms, seed)
        labels = None if self.labels is None else self.labels[row]
        return self._as_item(inputs, outputs, labels, axis=0)

    def get_batch(self, positions: Sequence[int], epoch: Optional[int] = None) -> DataItem:
        """Return the samples at ``positions`` as one mini-batch of tensors.

        Each array is read with one indexing operation; the values are those of
        ``[self[p] for p in positions]`` stacked (at the same epoch).
        """
        epoch = self.epoch if epoch is None else epoch
        rows = self.indices[np.asarray(positions, dtype=np.intp)]
        inputs = read_rows(self.inputs, rows)
        outputs = None if self.outputs is None else read_rows(self.outputs, rows)
        seeds = [self._sample_seed(row, epoch) for row in rows] if self._needs_seed() else None
        if self.patch is not None:
            inputs, outputs = self._crop_batch(inputs, outputs, seeds)
        inputs = run_transforms(inputs, self.input_transforms)
        if outputs is not None:
            outputs = run_transforms(outputs, self.output_transforms)
        if self.augmentation_transforms:
            inputs, outputs = self._augment_batch(inputs, outputs, seeds)
        labels = None if self.labels is None else self.labels[rows]
        return self._as_item(inputs, outputs, labels, axis=1)

    def _crop_batch(self, inputs, outputs, seeds):
        if not self.random_patches:
            slices = patch_slices(inputs.shape, self.patch, None)
            return inputs[slices], None if outputs is None else outputs[slices]
        all_slices = [patch_slices(inputs.shape[1:], self.patch, seed) for seed in seeds]
        cropped = [sample[slices] for sample, slices in zip(inputs, all_slices)]
        if outputs is not None:
            outputs = [sample[slices] for sample, slices in zip(outputs, all_slices)]
        return cropped, outputs

    def _augment_batch(self, inputs, outputs, seeds):
        new_inputs, new_outputs = [], []
        with restored_global_rngs():
            for index, seed in enumerate(seeds):
                output = None if outputs is None else outputs[index]
                sample, output = augment_pair(inputs[index], output,
                                              self.augmentation_transforms, seed)
                new_inputs.append(sample)
                new_outputs.append(output)
        return new_inputs, None if outputs is None else new_outputs

    def _as_item(self, inputs, outputs, labels, axis: int) -> DataItem:
        inputs = to_tensor(inputs)
        outputs = None if outputs is None else to_tensor(outputs)
        if self.add_input:
            outputs = inputs if outputs is None else torch.cat((outputs, inputs), dim=axis)
        if labels is not None:
            labels = torch.from_numpy(np.array(labels))
        return DataItem(inputs, outputs, labels)


def as_data_item(item) -> DataItem:
    """Turn what a torch dataset returns into a :class:`DataItem` of tensors.

    A DataItem or a dict with those keys is taken field by field; a 3-tuple is
    ``(inputs, outputs, labels)``, a 2-tuple ``(inputs, labels)`` (torchvision's
    convention), anything else the inputs alone.
    """
    if isinstance(item, DataItem):
        fields = tuple(item)
    elif isinstance(item, dict):
        fields = (item.get("inputs"), item.get("outputs"), item.get("labels"))
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        fields = (item[0], None, item[1]) if len(item) == 2 else tuple(item)
    else:
        fields = (item, None, None)
    inputs, outputs, labels = fields
    inputs = to_tensor(inputs)
    outputs = None if outputs is None else to_tensor(outputs)
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        labels = labels.float() if labels.is_floating_point() else labels.long()
    return DataItem(inputs, outputs, labels)


class DatasetAdapter(Dataset):
    """Wrap a torch dataset so that it yields :class:`DataItem` tensors.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        A map-style dataset with ``__len__``; see :func:`as_data_item` for its items.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.strata = None
        self.epoch = 0

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.dataset)

    def __getitem__(self, position: int) -> DataItem:
        """Return sample ``position`` as a DataItem of tensors."""
        return as_data_item(self.dataset[int(position)])

    def get_batch(self, positions: Sequence[int], epoch: Optional[int] = None) -> DataItem:
        """Return the samples at ``positions`` stacked into one mini-batch."""
        items = [self[position] for position in positions]
        fields = []
        for name, values in zip(DataItem._fields, zip(*items)):
            if all(value is None for value in values):
                fields.append(None)
            elif any(value is None for value in values):
                raise ValueError(f"some samples have {name} and others None")
            else:
                fields.append(torch.stack(values))
        return DataItem(*fields)


class EpochSampler:
    """The positions of one epoch, a pure function of ``(seed, fold, epoch)``.

    Parameters
    ----------
    dataset : Dataset
        The split's dataset (``ArrayDataset`` or ``DatasetAdapter``).
    sampler : None, "random", "weighted_random", Sampler subclass or instance
        ``None``: sequential; ``"random"``: a permutation per epoch;
        ``"weighted_random"``: ``len(dataset)`` draws with replacement, each class of
        ``dataset.strata`` equally likely; a ``Sampler`` subclass is instantiated as
        ``sampler(dataset)`` and yields positions. A sampler with a ``generator``
        attribute gets the epoch's generator, one with ``set_epoch`` the epoch.
    seed, fold : int
        Keys of the epoch's random generator.
    """

    def __init__(self, dataset: Dataset, sampler: SamplerSpec = None, seed: int = 42,
                 fold: int = 0):
        self.dataset, self.kind, self.seed, self.fold = dataset, sampler, seed, fold
        self.custom = sampler if isinstance(sampler, Sampler) else None
        if isinstance(sampler, type):
            try:
                self.custom = sampler(dataset)
            except TypeError as error:
                raise ValueError(f"sampler {sampler.__name__} cannot be built as "
                                 f"{sampler.__name__}(dataset): {error}; expected a class "
                                 "taking the dataset, or a Sampler instance") from error
        self.weights = None
        if sampler == "weighted_random":
            strata = getattr(dataset, "strata", None)
            if strata is None:
                raise ValueError("sampler 'weighted_random' needs class labels to "
                                 "balance: give stratify_label")
            codes = np.asarray(strata)[dataset.indices]
            counts = np.bincount(codes)
            self.weights = torch.from_numpy(1.0 / counts[codes])

    def __len__(self) -> int:
        """Number of positions drawn per epoch."""
        return len(self.custom) if self.custom is not None else len(self.dataset)

    def positions(self, epoch: int) -> np.ndarray:
        """Return the positions of ``epoch`` (reproducible, different per epoch)."""
        count = len(self.dataset)
        if self.custom is not None:
            if hasattr(self.custom, "generator"):
                self.custom.generator = seeded_generator(self.seed, self.fold, epoch)
            if hasattr(self.custom, "set_epoch"):
                self.custom.set_epoch(epoch)
            return np.fromiter(iter(self.custom), dtype=np.intp)
        if self.kind is None or count == 0:
            return np.arange(count)
        generator = seeded_generator(self.seed, self.fold, epoch)
        if self.kind == "random":
            return torch.randperm(count, generator=generator).numpy()
        return torch.multinomial(self.weights, count, replacement=True,
                                 generator=generator).numpy()


class _PlannedBatches(Sampler):
    """Yields the ``(epoch, positions)`` keys planned for the current epoch."""

    def __init__(self):
        self.plan: List[Tuple[int, np.ndarray]] = []

    def __iter__(self):
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)


class _BatchDataset(Dataset):
    """A dataset whose item is a whole mini-batch, for torch's worker processes."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Tuple[int, np.ndarray]) -> DataItem:
        epoch, positions = key
        return self.dataset.get_batch(positions, epoch)


def _keep(batch: DataItem) -> DataItem:
    return batch


class BatchLoader:
    """Iterate a dataset by mini-batches of :class:`DataItem` tensors.

    Each ``iter()`` runs one epoch, then moves to the next: the order of epoch ``e``
    depends only on ``(seed, fold, e)``. :meth:`set_epoch` chooses the epoch of the
    next iteration (exact resume).

    Parameters
    ----------
    dataset : ArrayDataset or DatasetAdapter
        The split's dataset (any dataset with ``get_batch(positions, epoch)``).
    batch_size : int
        Samples per mini-batch.
    sampler : None, str, Sampler subclass or instance
        See :class:`EpochSampler`.
    seed, fold : int
        Keys of the shuffling.
    drop_last : bool
        Drop the last incomplete mini-batch.
    **dataloader_kwargs
        With ``num_workers > 0`` or ``pin_memory``, mini-batches are built by a
        ``torch.utils.data.DataLoader`` given these arguments.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, sampler: SamplerSpec = None,
                 seed: int = 42, fold: int = 0, drop_last: bool = False, **dataloader_kwargs):
        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = EpochSampler(dataset, sampler, seed, fold)
        self.drop_last = drop_last
        self.dataloader_kwargs = dataloader_kwargs
        self.epoch = 0
        self._torch_loader: Optional[DataLoader] = None

    def __len__(self) -> int:
        """Number of mini-batches per epoch."""
        count = len(self.sampler)
        if self.drop_last:
            return count // self.batch_size
        return -(-count // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration run epoch ``epoch``."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """Return the loader's state (the epoch of the next iteration)."""
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state given by :meth:`state_dict`."""
        self.set_epoch(state["epoch"])

    def batch_positions(self, epoch: int) -> List[np.ndarray]:
        """Return the positions of each mini-batch of ``epoch``.

        A batch of the "random" and "weighted_random" samplers is a random set of
        samples listed in ascending position order, so that it is read from the
        arrays in file order without a reordering copy.
        """
        positions = self.sampler.positions(epoch)
        size = self.batch_size
        stop = len(positions) - len(positions) % size if self.drop_last else len(positions)
        batches = [positions[start:start + size] for start in range(0, stop, size)]
        if self.sampler.kind in ("random", "weighted_random"):
            batches = [np.sort(batch) for batch in batches]
        return batches

    def __iter__(self) -> Iterator[DataItem]:
        """Run one epoch, then move the epoch counter to the next."""
        epoch = self.epoch
        self.epoch += 1
        batches = self.batch_positions(epoch)
        if self._uses_torch_loader():
            return self._iter_torch_loader(epoch, batches)
        return (self.dataset.get_batch(positions, epoch) for positions in batches)

    def _uses_torch_loader(self) -> bool:
        kwargs = self.dataloader_kwargs
        return kwargs.get("num_workers", 0) > 0 or bool(kwargs.get("pin_memory", False))

    def _iter_torch_loader(self, epoch: int, batches: List[np.ndarray]) -> Iterator[DataItem]:
        if self._torch_loader is None:
            self._torch_loader = DataLoader(
                _BatchDataset(self.dataset), batch_size=None, sampler=_PlannedBatches(),
                collate_fn=_keep, **self.dataloader_kwargs)
        self._torch_loader.sampler.plan = [(epoch, positions) for positions in batches]
        return iter(self._torch_loader)
