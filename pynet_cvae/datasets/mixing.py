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
"""

from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["LabelledMixSampler"]


class LabelledMixSampler(Sampler):
    """Positions of an epoch laid out as mini-batches of mixed labelled and unlabelled rows.

    An epoch is one pass over the unlabelled samples: ``ceil(U / (batch_size - k))``
    mini-batches, each made of ``k = labelled_per_batch`` labelled positions followed
    by ``batch_size - k`` unlabelled ones (fewer in the last). The labelled positions
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

    Raises
    ------
    ValueError
        If ``labelled_per_batch`` does not fit the batch, or the dataset lacks
        labelled or unlabelled samples.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, labelled_per_batch: int,
                 missing_label: int = -1, generator: Optional[torch.Generator] = None) -> None:
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

    @property
    def batches(self) -> int:
        """The number of mini-batches of an epoch."""
        return -(-len(self.unlabelled) // (self.batch_size - self.labelled_per_batch))

    def __len__(self) -> int:
        """The number of positions of an epoch."""
        return self.batches * self.labelled_per_batch + len(self.unlabelled)

    def __iter__(self) -> Iterator[int]:
        per_batch = self.batch_size - self.labelled_per_batch
        unlabelled = self.unlabelled[self._permutation(len(self.unlabelled))]
        labelled = self._labelled_stream(self.batches * self.labelled_per_batch)
        for batch in range(self.batches):
            yield from labelled[batch * self.labelled_per_batch:
                                (batch + 1) * self.labelled_per_batch].tolist()
            yield from unlabelled[batch * per_batch:(batch + 1) * per_batch].tolist()

    def _labelled_stream(self, count: int) -> np.ndarray:
        """``count`` labelled positions: successive permutations of the labelled pool."""
        rounds = -(-count // len(self.labelled))
        stream = [self.labelled[self._permutation(len(self.labelled))] for _ in range(rounds)]
        return np.concatenate(stream)[:count]

    def _permutation(self, count: int) -> np.ndarray:
        return torch.randperm(count, generator=self.generator).numpy()
