"""Array-backed datasets: samples read from (memory-mapped) arrays, batch by batch.

:meth:`ArrayDataset.get_batch` reads the rows of a mini-batch with one indexing
operation per array (through a :class:`~pynet_cvae.datasets.mapped.RowReader`, so
memory-mapped arrays are never copied whole and their pages do not pile up in
memory), crops patches, runs the transforms and builds each tensor once.
:meth:`ArrayDataset.__getitem__` is the per-sample path; it gives the same values as
the batched path, sample by sample. The batched loader that calls ``get_batch``
lives in :mod:`~pynet_cvae.datasets.loading`.
"""

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .items import DataItem, collate_items, to_tensor
from .labels import prepare_labels
from .mapped import RowReader, portable, restore
from .seeding import derive_seed, restored_global_rngs
from .transforms import Transform, augment_pair, run_transforms, run_transforms_on_sample, \
    takes_seed

__all__ = ["ArrayDataset", "normalize_patch_size", "patch_slices", "grid_slices"]


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
    return _slices(starts, patch)


def grid_slices(patch: Tuple[int, ...], grid: Tuple[int, ...], number: int) -> tuple:
    """Slices of patch ``number`` of a grid of ``grid`` patches, in C order (pynet's)."""
    starts = [int(cell) * size for cell, size in zip(np.unravel_index(number, grid), patch)]
    return _slices(starts, patch)


def _slices(starts, patch: Tuple[int, ...]) -> tuple:
    return (Ellipsis,) + tuple(slice(start, start + size) for start, size in zip(starts, patch))


class ArrayDataset(Dataset):
    """Samples taken from (memory-mapped) arrays at the given rows.

    Each sample is processed in this order: patch crop (same crop for input and
    output), ``input_transforms`` / ``output_transforms``, augmentation (shared
    per-sample seed), then ``add_input`` makes the processed input the target,
    after the output's channels when there is an output. The first arguments keep
    pynet's order.

    Parameters
    ----------
    inputs : numpy.ndarray
        Input array of shape ``(N, ...)``; kept as given (a memmap stays a memmap).
    indices : sequence of int, optional
        The rows of ``inputs`` in this dataset (all rows by default).
    labels : numpy.ndarray, optional
        Labels with ``N`` rows, already int64 or float32 (or mapped by
        ``label_mapping``).
    outputs : numpy.ndarray, optional
        Output array with ``N`` rows.
    add_input : bool
        Make the processed input the target ``outputs``.
    input_transforms, output_transforms : list of callable
        Per-sample callables (``batched = True``: called once on the batch array);
        pynet's ``seed`` / ``dtype`` hooks are set before each call (see
        :mod:`~pynet_cvae.datasets.transforms`).
    label_mapping : dict, optional
        Replaces each label by ``label_mapping[label]`` (int64 class ids).
    patch_size : int or sequence of int, optional
        Crop a patch of this size (see :func:`normalize_patch_size`).
    strata : numpy.ndarray, optional
        Integer class codes with ``N`` rows, used by the weighted sampler (-1 for an
        unlabelled row).
    augmentation_transforms : list of callable
        Always run per sample, under the sample's seed.
    random_patches : bool
        Random patch position per sample and epoch (training); centered otherwise.
    patch_grid : bool
        Cut each sample into the grid of non-overlapping patches, as pynet does:
        every patch is a sample (``len`` is rows x patches per row), patch ``k`` of
        row position ``i`` at position ``i * patches_per_row + k``; a remainder
        smaller than a patch at the end of an axis is left out.
    seed : int
        Seed of the per-sample random choices, with the epoch and the row.

    Notes
    -----
    A dataset sent to a worker process (pickled) carries its memory-mapped arrays
    as file references (:func:`~pynet_cvae.datasets.mapped.portable`), not their data.
    """

    def __init__(self, inputs: np.ndarray, indices: Optional[Sequence[int]] = None,
                 labels: Optional[np.ndarray] = None, outputs: Optional[np.ndarray] = None,
                 add_input: bool = False,
                 input_transforms: Optional[Sequence[Transform]] = None,
                 output_transforms: Optional[Sequence[Transform]] = None,
                 label_mapping: Optional[dict] = None, patch_size=None, *,
                 strata: Optional[np.ndarray] = None,
                 augmentation_transforms: Optional[Sequence[Transform]] = None,
                 random_patches: bool = False, patch_grid: bool = False, seed: int = 42):
        for name, array in (("outputs", outputs), ("labels", labels), ("strata", strata)):
            if array is not None and len(array) != len(inputs):
                raise ValueError(f"{name} has {len(array)} rows, expected {len(inputs)} "
                                 "(the number of input rows)")
        if labels is not None and label_mapping is not None:
            labels = prepare_labels(labels, label_mapping)
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
        self.patch_grid = None
        if patch_grid:
            if self.patch is None:
                raise ValueError("patch_grid=True needs a patch_size to cut the grid with")
            self.patch_grid = tuple(axis // size for axis, size
                                    in zip(inputs.shape[cropped], self.patch))
        self.patches_per_row = int(np.prod(self.patch_grid)) if self.patch_grid else 1
        self.seed = seed
        self.epoch = 0
        self._open_readers()

    def _open_readers(self) -> None:
        self._input_reader = RowReader(self.inputs)
        self._output_reader = None if self.outputs is None else RowReader(self.outputs)

    def __getstate__(self) -> dict:
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("_input_reader", "_output_reader")}
        state["inputs"], state["outputs"] = portable(self.inputs), portable(self.outputs)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.inputs, self.outputs = restore(self.inputs), restore(self.outputs)
        self._open_readers()

    def __len__(self) -> int:
        """Number of samples (patches with ``patch_grid``)."""
        return len(self.indices) * self.patches_per_row

    @property
    def sample_rows(self) -> np.ndarray:
        """The row of ``inputs`` of each sample position."""
        return np.repeat(self.indices, self.patches_per_row)

    def _locate(self, positions) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """The rows of sample ``positions``, and their grid patch numbers (or None)."""
        positions = np.asarray(positions, dtype=np.intp)
        if self.patch_grid is None:
            return self.indices[positions], None
        images, patches = np.divmod(positions, self.patches_per_row)
        return self.indices[images], patches

    def _needs_seed(self) -> bool:
        return bool(self.augmentation_transforms) or takes_seed(
            self.input_transforms + self.output_transforms) or (
            self.patch is not None and self.random_patches and self.patch_grid is None)

    def _sample_seed(self, row: int, epoch: int, patch: Optional[int] = None) -> int:
        return derive_seed(self.seed, epoch, row) if patch is None else \
            derive_seed(self.seed, epoch, row, patch)

    def _seeds(self, rows: np.ndarray, patches: Optional[np.ndarray], epoch: int):
        if not self._needs_seed():
            return None
        if patches is None:
            return [self._sample_seed(row, epoch) for row in rows]
        return [self._sample_seed(row, epoch, patch) for row, patch in zip(rows, patches)]

    def _crop_slices(self, shape: Tuple[int, ...], seed: Optional[int],
                     patch: Optional[int]) -> tuple:
        if patch is not None:
            return grid_slices(self.patch, self.patch_grid, int(patch))
        return patch_slices(shape, self.patch, seed if self.random_patches else None)

    def __getitem__(self, position: int) -> DataItem:
        """Return sample ``position`` (at epoch ``self.epoch``) as tensors, no batch axis."""
        rows, patches = self._locate([position])
        inputs = self._input_reader.read(rows)[0]
        outputs = None if self.outputs is None else self._output_reader.read(rows)[0]
        seeds = self._seeds(rows, patches, self.epoch)
        seed = None if seeds is None else seeds[0]
        if self.patch is not None:
            slices = self._crop_slices(inputs.shape, seed,
                                       None if patches is None else patches[0])
            inputs = inputs[slices]
            outputs = None if outputs is None else outputs[slices]
        inputs = self._transform_sample(inputs, self.input_transforms, "input", seed)
        if outputs is not None:
            outputs = self._transform_sample(outputs, self.output_transforms, "output", seed)
        if self.augmentation_transforms:
            with restored_global_rngs():
                inputs, outputs = augment_pair(inputs, outputs, self.augmentation_transforms,
                                               seed)
        labels = None if self.labels is None else self.labels[rows[0]]
        return self._as_item(inputs, outputs, labels, axis=0)

    def get_batch(self, positions: Sequence[int], epoch: Optional[int] = None) -> DataItem:
        """Return the samples at ``positions`` as one mini-batch of tensors.

        Each array is read with one indexing operation; the values are those of
        ``[self[p] for p in positions]`` stacked (at the same epoch). A subclass that
        overrides ``__getitem__`` gets its samples stacked, one call per sample.
        """
        epoch = self.epoch if epoch is None else epoch
        if type(self).__getitem__ is not ArrayDataset.__getitem__:
            self.epoch = epoch
            return collate_items([self[int(position)] for position in positions])
        rows, patches = self._locate(positions)
        inputs = self._input_reader.read(rows)
        outputs = None if self.outputs is None else self._output_reader.read(rows)
        seeds = self._seeds(rows, patches, epoch)
        if self.patch is not None:
            inputs, outputs = self._crop_batch(inputs, outputs, seeds, patches)
        inputs = self._transform(inputs, self.input_transforms, "input", seeds)
        if outputs is not None:
            outputs = self._transform(outputs, self.output_transforms, "output", seeds)
        if self.augmentation_transforms:
            inputs, outputs = self._augment_batch(inputs, outputs, seeds)
        labels = None if self.labels is None else self.labels[rows]
        return self._as_item(inputs, outputs, labels, axis=1)

    @staticmethod
    def _transform(batch, transforms, role: str, seeds):
        if seeds is None or not takes_seed(transforms):
            return run_transforms(batch, transforms, role)
        with restored_global_rngs():  # pynet's seeded transforms reseed numpy
            return run_transforms(batch, transforms, role, seeds)

    @staticmethod
    def _transform_sample(sample, transforms, role: str, seed: Optional[int]):
        if seed is None or not takes_seed(transforms):
            return run_transforms_on_sample(sample, transforms, role)
        with restored_global_rngs():
            return run_transforms_on_sample(sample, transforms, role, seed)

    def _crop_batch(self, inputs, outputs, seeds, patches):
        if not self.random_patches and patches is None:
            slices = patch_slices(inputs.shape, self.patch, None)
            return inputs[slices], None if outputs is None else outputs[slices]
        all_slices = [self._crop_slices(inputs.shape[1:], None if seeds is None else seeds[i],
                                        None if patches is None else patches[i])
                      for i in range(len(inputs))]
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
