"""Sample transforms, and how a mini-batch runs them.

A transform is a callable applied to each sample (a NumPy array without the batch
axis). A transform whose ``batched`` attribute is True is *batch-capable*: it is
applied once to the whole mini-batch (batch axis first) instead, which is faster; it
must give the same result as applying it sample by sample. :func:`batched` marks a
function so; :class:`Flatten` and :class:`Standardize` are batch-capable.

:func:`run_transforms` runs a list of transforms on a mini-batch,
:func:`run_transforms_on_sample` on one sample, with the same results, and
:func:`augment_pair` runs augmentations on an input and its output under one seed.

pynet's hooks
-------------
Before each call, a transform with a ``seed`` attribute gets the sample's seed
(the same value for an input and its output, so that a random transform such as
pynet's ``augmentation.Transformer`` makes the same choices on both), and one with a
``dtype`` attribute gets ``"input"`` or ``"output"``. A transform with a ``seed``
attribute always runs sample by sample.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .seeding import seed_global_rngs

__all__ = ["Transform", "Flatten", "Standardize", "batched", "stack_samples",
           "run_transforms", "run_transforms_on_sample", "augment_pair", "takes_seed"]

Transform = Callable[[Any], Any]


def batched(function: Callable[[np.ndarray], np.ndarray]) -> Transform:
    """Mark ``function`` as batch-capable: called once on the batch array.

    ``function`` gets an array whose first axis is the batch axis and must treat each
    sample independently (its result for a batch is its results for each sample,
    stacked).

    Examples
    --------
    >>> @batched
    ... def double(batch):
    ...     return batch * 2
    >>> double.batched
    True
    """
    @functools.wraps(function)
    def transform(batch):
        return function(batch)

    transform.batched = True
    return transform


class Flatten:
    """Flatten each sample to 1-D (e.g. ``(1, 28, 28)`` to ``(784,)``), batch by batch.

    Examples
    --------
    >>> Flatten()(np.zeros((64, 1, 8, 8))).shape
    (64, 64)
    """

    batched = True

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return batch.reshape(batch.shape[0], -1)

    def __repr__(self) -> str:
        return "Flatten()"


class Standardize:
    """Give each sample zero mean and unit variance (over all its values), batch by batch.

    Parameters
    ----------
    epsilon : float
        Added to the standard deviation, so that a constant sample stays finite.

    Examples
    --------
    >>> batch = Standardize()(np.arange(8.0).reshape(2, 4))
    >>> np.allclose(batch.mean(axis=1), 0), np.allclose(batch.std(axis=1), 1, atol=1e-5)
    (True, True)
    """

    batched = True

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = float(epsilon)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        axes = tuple(range(1, batch.ndim))
        mean = batch.mean(axis=axes, keepdims=True)
        std = batch.std(axis=axes, keepdims=True)
        return ((batch - mean) / (std + self.epsilon)).astype(
            np.result_type(batch.dtype, np.float32), copy=False)

    def __repr__(self) -> str:
        return f"Standardize(epsilon={self.epsilon!r})"


def stack_samples(samples: Union[np.ndarray, Sequence[Any]]) -> np.ndarray:
    """Stack per-sample arrays (or CPU tensors) into one batch array."""
    if isinstance(samples, np.ndarray):
        return samples
    return np.stack([np.asarray(sample) for sample in samples])


def takes_seed(transforms: Sequence[Transform]) -> bool:
    """Tell whether a transform has pynet's ``seed`` attribute (see the module doc)."""
    return any(hasattr(transform, "seed") for transform in transforms)


def _is_batched(transform: Transform) -> bool:
    return bool(getattr(transform, "batched", False)) and not hasattr(transform, "seed")


def _call(transform: Transform, sample, role: Optional[str], seed: Optional[int]):
    """Call ``transform`` on one sample after setting pynet's hooks."""
    if seed is not None and hasattr(transform, "seed"):
        transform.seed = seed
    if role is not None and hasattr(transform, "dtype"):
        transform.dtype = role
    return transform(sample)


def run_transforms(samples, transforms: Sequence[Transform], role: Optional[str] = None,
                   seeds: Optional[Sequence[int]] = None):
    """Run ``transforms`` in order on a batch (an array or a list of samples).

    A batch-capable transform gets the whole batch array once; a run of other
    transforms is applied sample by sample, the results written into one array.
    ``role`` (``"input"`` / ``"output"``) and ``seeds`` (one per sample) feed pynet's
    ``dtype`` and ``seed`` hooks.
    """
    start = 0
    while start < len(transforms):
        if _is_batched(transforms[start]):
            samples = _call(transforms[start], stack_samples(samples), role, None)
            start += 1
            continue
        stop = start
        while stop < len(transforms) and not _is_batched(transforms[stop]):
            stop += 1
        samples = _map_samples(samples, transforms[start:stop], role, seeds)
        start = stop
    return samples


def run_transforms_on_sample(sample, transforms: Sequence[Transform],
                             role: Optional[str] = None, seed: Optional[int] = None):
    """Run ``transforms`` in order on one sample, as :func:`run_transforms` would."""
    for transform in transforms:
        if _is_batched(transform):
            sample = np.asarray(_call(transform, np.asarray(sample)[np.newaxis], role,
                                      None))[0]
        else:
            sample = _call(transform, sample, role, seed)
    return sample


def augment_pair(inputs, outputs: Optional[Any], transforms: Sequence[Transform], seed: int):
    """Augment one input (and its output) with the same global random seed.

    Call inside :func:`~pynet_cvae.datasets.seeding.restored_global_rngs`. Random
    augmentations that draw from ``random``, ``numpy.random`` or torch's default
    generator thus make the same choices for the input and its output; a transform
    with pynet's ``seed`` attribute gets ``seed`` for both.
    """
    seed_global_rngs(seed)
    inputs = run_transforms_on_sample(inputs, transforms, "input", seed)
    if outputs is not None:
        seed_global_rngs(seed)
        outputs = run_transforms_on_sample(outputs, transforms, "output", seed)
    return inputs, outputs


def _chain(transforms: Sequence[Transform], role: Optional[str]) -> Callable:
    def chained(sample, seed):
        for transform in transforms:
            sample = _call(transform, sample, role, seed)
        return sample
    return chained


def _map_samples(samples, transforms: Sequence[Transform], role: Optional[str],
                 seeds: Optional[Sequence[int]]) -> np.ndarray:
    apply = _chain(transforms, role)
    first = np.asarray(apply(samples[0], None if seeds is None else seeds[0]))
    batch = np.empty((len(samples),) + first.shape, dtype=first.dtype)
    batch[0] = first
    for index in range(1, len(samples)):
        sample = apply(samples[index], None if seeds is None else seeds[index])
        if type(sample) is not np.ndarray or sample.shape != first.shape \
                or sample.dtype != batch.dtype:
            sample = np.asarray(sample)
            if sample.shape != first.shape:
                raise ValueError(f"transforms gave samples of shapes {first.shape} and "
                                 f"{sample.shape}: expected one shape per batch")
            batch = batch.astype(np.result_type(batch.dtype, sample.dtype), copy=False)
        batch[index] = sample
    return batch
