"""Mini-batches that hold labelled and unlabelled samples in a fixed proportion.

In semi-supervised training a few labelled samples sit among many unlabelled ones
(say 1,000 among 27,000): drawn at random, a batch of 64 holds two or three of them,
so the classifier's cross-entropy is a noisy average over a handful of images and
each labelled image is seen once per epoch. :class:`LabelledMixSampler` puts
``labelled_per_batch`` labelled samples in every mini-batch instead (reshuffled each
time the labelled pool is used up) and fills the rest with unlabelled samples, each
seen once per epoch, as semi-supervised methods usually do (Kingma et al. 2014;
Sohn et al. 2020). ``DataManager(..., missing_label=-1, labelled_per_batch=k)``
builds it for the training loader.

In a run of ``W`` processes each taking ``batch_size`` samples of every global
mini-batch, the loader calls :meth:`LabelledMixSampler.set_world_size`: the epoch is
then laid out as global mini-batches of ``W x batch_size`` whose ``W`` slices each hold
``labelled_per_batch`` labelled samples, and the slices put end to end are the
mini-batch one process draws with ``W x batch_size`` and ``W x labelled_per_batch``.
"""

from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["LabelledMixSampler"]


class LabelledMixSampler(Sampler):
    """Positions of an epoch laid out as mini-batches of mixed labelled and unlabelled rows.

    An epoch is one pass over the unlabelled samples: ``ceil(U / (batch_size - k))``
    mini-batches, each made of ``k = labelled_per_batch`` labelled positions spread
    evenly among ``batch_size - k`` unlabelled ones (fewer in the last). The labelled positions
    are a stream of fresh permutations of the labelled pool, so every labelled sample
    is used equally often.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(n,)`` class ids of the dataset's positions; ``missing_label`` marks the
        unlabelled ones.
    batch_size : int
        The loader's mini-batch size (the layout is made for it).
    labelled_per_batch : int
        Labelled samples per mini-batch, in ``[1, batch_size - 1]``.
    missing_label : int, default -1
        The marker of an unlabelled sample.
    generator : torch.Generator, optional
        The random generator of the next epoch (:class:`~pynet_cvae.datasets.loading.EpochSampler`
        sets one per epoch, so that an epoch's order depends only on the seed, the
        fold and the epoch).
    world_size : int, default 1
        The number of processes sharing each global mini-batch (see
        :meth:`set_world_size`).

    Raises
    ------
    ValueError
        If ``labelled_per_batch`` does not fit the batch, or the dataset lacks
        labelled or unlabelled samples.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, labelled_per_batch: int,
                 missing_label: int = -1, generator: Optional[torch.Generator] = None,
                 world_size: int = 1) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"labelled_per_batch needs one class id per sample, got labels "
                             f"of shape {labels.shape}")
        if isinstance(labelled_per_batch, bool) or not isinstance(
                labelled_per_batch, (int, np.integer)) \
                or not 1 <= labelled_per_batch < batch_size:
            raise ValueError(f"labelled_per_batch must be an integer in [1, {batch_size - 1}] "
                             f"(below batch_size {batch_size}), got {labelled_per_batch!r}")
        unlabelled = labels == missing_label
        self.labelled = np.flatnonzero(~unlabelled)
        self.unlabelled = np.flatnonzero(unlabelled)
        if not len(self.labelled) or not len(self.unlabelled):
            kind = "labelled" if not len(self.labelled) else "unlabelled"
            raise ValueError(f"labelled_per_batch={labelled_per_batch} mixes labelled and "
                             f"unlabelled samples, but the training set has no {kind} "
                             f"sample (missing_label {missing_label!r})")
        self.batch_size, self.labelled_per_batch = int(batch_size), int(labelled_per_batch)
        self.generator = generator
        self.world_size = 1
        self.set_world_size(world_size)

    def set_world_size(self, world_size: int) -> None:
        """Lay the epochs out for ``world_size`` processes sharing each mini-batch.

        A global mini-batch of ``world_size x batch_size`` positions is then
        ``world_size`` consecutive slices of ``labelled_per_batch`` labelled positions
        followed by unlabelled ones; the last global mini-batch is completed with the
        epoch's first unlabelled positions to a multiple of ``world_size``, so that the
        loader's equal slices keep that layout.

        Raises
        ------
        ValueError
            If ``world_size`` is not an integer >= 1.
        """
        if isinstance(world_size, bool) or not isinstance(world_size, (int, np.integer)) \
                or world_size < 1:
            raise ValueError(f"world_size must be an integer >= 1, got {world_size!r}")
        self.world_size = int(world_size)

    @property
    def batches(self) -> int:
        """The number of (global) mini-batches of an epoch."""
        unlabelled_per_batch = (self.batch_size - self.labelled_per_batch) * self.world_size
        return -(-len(self.unlabelled) // unlabelled_per_batch)

    def __len__(self) -> int:
        """The number of positions of an epoch (of all processes together)."""
        world, labelled = self.world_size, self.labelled_per_batch * self.world_size
        last = len(self.unlabelled) - (self.batches - 1) * (
            self.batch_size * world - labelled)
        return (self.batches - 1) * self.batch_size * world + -(-(labelled + last) // world) \
            * world

    def __iter__(self) -> Iterator[int]:
        world, per_slice = self.world_size, self.labelled_per_batch
        unlabelled = self.unlabelled[self._permutation(len(self.unlabelled))]
        labelled = self._labelled_stream(self.batches * per_slice * world)
        per_batch = (self.batch_size - per_slice) * world
        for batch in range(self.batches):
            mine = unlabelled[batch * per_batch:(batch + 1) * per_batch]
            size = -(-(per_slice * world + len(mine)) // world)  # one process's slice
            mine = _repeat_to(mine, unlabelled, (size - per_slice) * world)
            for rank in range(world):
                start = (batch * world + rank) * per_slice
                yield from _spread(labelled[start:start + per_slice],
                                   mine[rank * (size - per_slice):
                                        (rank + 1) * (size - per_slice)]).tolist()

    def _labelled_stream(self, count: int) -> np.ndarray:
        """``count`` labelled positions: successive permutations of the labelled pool."""
        rounds = -(-count // len(self.labelled))
        stream = [self.labelled[self._permutation(len(self.labelled))] for _ in range(rounds)]
        return np.concatenate(stream)[:count]

    def _permutation(self, count: int) -> np.ndarray:
        return torch.randperm(count, generator=self.generator).numpy()


def _spread(labelled: np.ndarray, unlabelled: np.ndarray) -> np.ndarray:
    """One mini-batch: the ``k`` labelled positions at slots ``floor(i * n / k)`` of the
    ``n``, the unlabelled ones in the others, in order. Evenly spread, the slots of
    ``W`` such mini-batches put end to end are those of one mini-batch of ``W`` times
    the size and ``W`` times the labelled positions."""
    count = len(labelled) + len(unlabelled)
    slots = np.zeros(count, dtype=bool)
    slots[np.arange(len(labelled)) * count // len(labelled)] = True
    batch = np.empty(count, dtype=np.intp)
    batch[slots], batch[~slots] = labelled, unlabelled
    return batch


def _repeat_to(positions: np.ndarray, pool: np.ndarray, count: int) -> np.ndarray:
    """``positions`` completed to ``count`` with the first ones of ``pool``, repeated."""
    missing = count - len(positions)
    if missing <= 0:
        return positions
    return np.concatenate([positions, np.tile(pool, -(-missing // len(pool)))[:missing]])
