"""The epoch sampler and the batched loader.

1. :class:`EpochSampler` draws the positions of an epoch, a pure function of
   ``(seed, fold, epoch)``.
2. :class:`BatchLoader` cuts them into mini-batches and asks the dataset for each
   with ``dataset.get_batch(positions, epoch)``: one call per mini-batch, which
   reads the arrays with one indexing operation (see
   :meth:`~pynet_cvae.datasets.arrays.ArrayDataset.get_batch`).

With ``num_workers > 0`` or ``pin_memory``, a ``torch.utils.data.DataLoader`` builds
the same mini-batches (the same values, in the same order) in worker processes.

``iter(loader)`` runs the loader's current epoch (0 at first, or the one chosen by
:meth:`BatchLoader.set_epoch`). An iteration run to its end moves the loader to the
next epoch, so that a loop of your own (``for epoch in ...: for batch in loader``) gets
a fresh order each epoch, as with a torch ``DataLoader``; an iteration started and
dropped, or left unfinished (a progress bar or another wrapper calling ``iter()``),
moves nothing. The training loop sets the epoch before each one, so that a resumed run
draws what the uninterrupted one drew.

In a distributed run, :meth:`BatchLoader.shard` makes each process take its slice of
every *global* mini-batch of ``world_size x batch_size`` samples (see
:mod:`pynet_cvae.distributed`).
"""

from typing import Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .items import DataItem
from .seeding import seeded_generator

__all__ = ["SamplerSpec", "EpochSampler", "BatchLoader", "balanced_weights"]

SamplerSpec = Union[None, str, type, Sampler]


def balanced_weights(codes: np.ndarray) -> np.ndarray:
    """Draw weights that balance the classes of ``codes``; -1 marks unlabelled rows.

    Unlabelled rows are drawn at their natural frequency: each has weight ``1 / N``, so
    they keep their share ``U / N`` of the draws. The labelled rows share the rest,
    ``1 - U / N``, equally between their classes (each row of a class of ``n_c``
    members having ``(1 - U / N) / (K * n_c)``, ``K`` the number of classes).
    """
    codes = np.asarray(codes)
    count = len(codes)
    weights = np.full(count, 1.0 / max(count, 1))
    labelled = codes >= 0
    if labelled.any():
        members = np.bincount(codes[labelled])
        classes = np.count_nonzero(members)
        share = labelled.sum() / count
        weights[labelled] = share / (classes * members[codes[labelled]])
    return weights


class EpochSampler:
    """The positions of one epoch, a pure function of ``(seed, fold, epoch)``.

    Parameters
    ----------
    dataset : Dataset
        The split's dataset (``ArrayDataset`` or ``DatasetAdapter``).
    sampler : None, "random", "weighted_random", Sampler subclass or instance
        ``None``: sequential; ``"random"``: a permutation per epoch;
        ``"weighted_random"``: ``len(dataset)`` draws with replacement, weighted by
        :func:`balanced_weights` of ``dataset.strata`` (each class equally likely;
        unlabelled rows, code -1, at their natural frequency); a ``Sampler`` subclass
        is instantiated as ``sampler(dataset)`` and yields positions. A sampler with a
        ``generator`` attribute gets the epoch's generator, one with ``set_epoch``
        the epoch, one with ``set_world_size`` the number of processes sharing each
        global mini-batch (a sampler that lays out mini-batches, such as
        :class:`~pynet_cvae.datasets.mixing.LabelledMixSampler`).
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
        if isinstance(sampler, str) and sampler == "weighted_random":
            strata = getattr(dataset, "strata", None)
            if strata is None:
                raise ValueError("sampler 'weighted_random' needs class labels to "
                                 "balance: give stratify_label")
            codes = np.asarray(strata)[getattr(dataset, "sample_rows", dataset.indices)]
            self.weights = torch.from_numpy(balanced_weights(codes))

    def __len__(self) -> int:
        """Number of positions drawn per epoch."""
        return len(self.custom) if self.custom is not None else len(self.dataset)

    def set_world_size(self, world_size: int) -> None:
        """Tell a sampler that lays out mini-batches how many processes share each."""
        if hasattr(self.custom, "set_world_size"):
            self.custom.set_world_size(world_size)

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
    """Iterate a dataset by mini-batches of :class:`~pynet_cvae.datasets.items.DataItem`.

    ``iter(loader)`` runs the current epoch (0 at first, or the one chosen by
    :meth:`set_epoch`), whose order depends only on ``(seed, fold, epoch)``. An
    iteration run to its end moves the loader to the next epoch; one that is dropped
    or unfinished changes nothing.

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
        self.rank, self.world_size = 0, 1
        self._torch_loader: Optional[DataLoader] = None

    def __len__(self) -> int:
        """Number of mini-batches per epoch (per process when sharded)."""
        count = _padded(len(self.sampler), self.world_size, self.drop_last)
        size = self.batch_size * self.world_size
        if self.drop_last:
            return count // size
        return -(-count // size)

    def shard(self, rank: int, world_size: int) -> None:
        """Yield only process ``rank``'s share of each epoch, out of ``world_size``.

        Every process draws the epoch's positions alike, cuts them into global
        mini-batches of ``world_size * batch_size`` and takes slice ``rank`` of each:
        the union over the processes of their ``k``-th mini-batches is the ``k``-th
        mini-batch of an unsharded loader with ``batch_size * world_size``. Unless
        ``drop_last``, the first positions are repeated at the end so that their number
        is a multiple of ``world_size`` and every process gets as many samples.

        Parameters
        ----------
        rank : int
            This process's rank.
        world_size : int
            The number of processes (1: no sharding).

        Raises
        ------
        ValueError
            If ``rank`` is not in ``[0, world_size)``.
        """
        if isinstance(world_size, bool) or not isinstance(world_size, (int, np.integer)) \
                or world_size < 1:
            raise ValueError(f"world_size must be an integer >= 1, got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
                or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank!r} out of range: expected an int in "
                             f"[0, {world_size - 1}]")
        self.rank, self.world_size = int(rank), int(world_size)
        self.sampler.set_world_size(self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the iterations run epoch ``epoch`` (from 0).

        Raises
        ------
        ValueError
            If ``epoch`` is not an integer >= 0.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """Return the loader's state (the epoch its iterations run)."""
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
        world = self.world_size
        if world > 1 and not self.drop_last:
            positions = _repeat_to(positions, _padded(len(positions), world, False))
        size = self.batch_size * world
        stop = len(positions) - len(positions) % size if self.drop_last else len(positions)
        batches = [positions[start:start + size] for start in range(0, stop, size)]
        if self.sampler.kind in ("random", "weighted_random"):
            batches = [np.sort(batch) for batch in batches]
        if world > 1:
            batches = [batch[len(batch) * self.rank // world:
                             len(batch) * (self.rank + 1) // world] for batch in batches]
        return batches

    def __iter__(self) -> Iterator[DataItem]:
        """Run the current epoch; at its end, move to the next one."""
        epoch = self.epoch
        batches = self.batch_positions(epoch)
        if self._uses_torch_loader():
            return self._ended(epoch, self._iter_torch_loader(epoch, batches))
        return self._ended(epoch, (self.dataset.get_batch(positions, epoch)
                                   for positions in batches))

    def _ended(self, epoch: int, batches: Iterator[DataItem]) -> Iterator[DataItem]:
        """Yield ``batches``; once all are yielded, move to the epoch after ``epoch``
        (unless :meth:`set_epoch` chose another one meanwhile)."""
        yield from batches
        if self.epoch == epoch:
            self.epoch = epoch + 1

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


def _padded(count: int, world_size: int, drop_last: bool) -> int:
    """The number of positions of a sharded epoch: ``count`` rounded up to a multiple
    of ``world_size`` (unchanged with ``drop_last``, which drops the incomplete tail)."""
    if world_size == 1 or drop_last:
        return count
    return -(-count // world_size) * world_size


def _repeat_to(positions: np.ndarray, count: int) -> np.ndarray:
    """``positions`` followed by its first ones again, ``count`` in all."""
    if count <= len(positions) or not len(positions):
        return positions
    repeats = -(-count // len(positions))
    return np.tile(positions, repeats)[:count]
