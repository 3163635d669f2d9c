"""Data-parallel training over several processes (``torchrun``).

Launch the same script once per process with ``torchrun --nproc_per_node=N
script.py`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``). :class:`~pynet_cvae.interfaces.DeepLearningInterface`
then, by default (``distributed=None``: whenever ``WORLD_SIZE`` > 1):

- joins the process group (``gloo`` on the CPU, ``nccl`` on CUDA; a group the script
  initialised itself is used as it is), and on CUDA takes the GPU ``cuda:LOCAL_RANK``;
- wraps the model in :class:`torch.nn.parallel.DistributedDataParallel` for the
  training steps (``interface.model`` stays the plain module: checkpoints and
  ``state_dict`` keys are the same as in one process);
- shards each epoch of the training loader (:meth:`BatchLoader.shard
  <pynet_cvae.datasets.loading.BatchLoader.shard>`): every process draws the same
  permutation from ``(seed, fold, epoch)``, cuts it into *global* batches of
  ``world_size x batch_size`` samples and takes its slice of each. The manager's
  ``batch_size`` is per process, as with torch's ``DistributedSampler``; a run on N
  processes takes the steps of a one-process run with ``batch_size x N`` (up to float
  rounding). When the number of samples is not a multiple of N, the first samples of
  the permutation are repeated to fill the last global batch (as
  ``DistributedSampler`` does), so that every process runs as many steps;
- sums the epoch's loss and metric sums and sample counts over the processes once per
  epoch (one ``all_reduce``): every process gets the means over all samples;
- runs validation whole on every process with the plain module, in batches of
  ``world_size x batch_size`` (the batches of the one-process run it equals; no
  communication, every process gets the same values), and testing whole with the
  manager's batch size;
- emits every signal on every process (:mod:`pynet_cvae.observable`): schedules and
  other observers that change the training act alike everywhere, while observers
  marked :func:`~pynet_cvae.observable.rank_zero_only` (files, boards, printing) run
  on rank 0 only; after each epoch the fold stops when any process's observers set
  ``stop_training``, and the processes check that their weights are still the same
  (a ``RuntimeError`` names the epoch otherwise);
- writes checkpoints, the initial state and the histories on rank 0 only. To resume,
  every process reads the checkpoint folder, which must be visible to all of them
  (a shared file system on several machines).

Every process seeds its generators alike (``seed=``), so the random draws outside the
batch (a CVAE's prior samples) are the same on each process. Noise drawn per sample
with :func:`batch_noise_like` (a VAE's reparameterization) or :func:`batch_draw` (any
draw with one entry per sample, such as an augmentation's random shifts) is drawn for
the whole global batch, alike on every process, each keeping its rows: the run then
equals the one-process run with ``batch_size x N`` up to float rounding, noise included.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable, Iterator, NamedTuple, Optional

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "launched_world_size", "launched_rank",
           "join_process_group", "wrap_model", "shard_training_loader",
           "global_validation_batches", "sharded_steps", "shared_draws", "batch_noise_like",
           "batch_draw"]

logger = logging.getLogger("pynet_cvae")

_current_shard: Optional["DistributedContext"] = None
"""The process's place while the training loop runs sharded steps (see
:func:`sharded_steps`)."""

_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class DistributedContext(NamedTuple):
    """Where this process stands in a distributed run.

    Attributes
    ----------
    rank : int
        This process's rank, 0 to ``world_size - 1``.
    world_size : int
        The number of processes.
    local_rank : int
        The rank on this machine (the GPU index on CUDA).
    """

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes files and notifies."""
        return self.rank == 0

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the processes, in place.

        Parameters
        ----------
        tensor : torch.Tensor
            The same shape and dtype on every process, on the process's device.

        Returns
        -------
        torch.Tensor
            ``tensor``, now holding the sum.
        """
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any_(self, value: bool, device: torch.device) -> bool:
        """Whether ``value`` is True on any process (the answer of every process).

        Parameters
        ----------
        value : bool
            This process's value.
        device : torch.device
            Where the message tensor lives (a CUDA device with nccl).

        Returns
        -------
        bool
            True when at least one process passed True.
        """
        flag = torch.tensor([1 if value else 0], dtype=torch.int32, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def same_everywhere(self, tensor: torch.Tensor) -> bool:
        """Whether ``tensor`` holds exactly rank 0's values on every process.

        Parameters
        ----------
        tensor : torch.Tensor
            The same shape and dtype on every process, on the process's device.

        Returns
        -------
        bool
            The same answer on every process.
        """
        reference = tensor.clone()
        dist.broadcast(reference, src=0)
        return not self.any_(not torch.equal(reference, tensor), tensor.device)

    def barrier(self) -> None:
        """Wait until every process gets here."""
        dist.barrier()


def launched_world_size() -> int:
    """``WORLD_SIZE`` as set by ``torchrun`` (1 when not launched so)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable WORLD_SIZE={value!r} is not an integer") \
            from None


def launched_rank() -> int:
    """``RANK`` as set by ``torchrun`` (0 when unset): the process that writes files.

    Raises
    ------
    ValueError
        If ``RANK`` is not an integer.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    value = os.environ.get("RANK", "0")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable RANK={value!r} is not an integer") from None


def local_rank() -> int:
    """``LOCAL_RANK`` as set by ``torchrun`` (0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def wanted(distributed: Optional[bool]) -> bool:
    """Whether to train distributed: ``distributed``, or by default (None) when
    ``WORLD_SIZE`` > 1 or a process group is initialised with several processes.

    Raises
    ------
    ValueError
        If ``distributed`` is True but nothing launched this process as one of a group.
    """
    if distributed is None:
        return launched_world_size() > 1
    if not isinstance(distributed, bool):
        raise ValueError(f"distributed must be True, False or None, got {distributed!r}")
    if distributed and not (dist.is_available() and dist.is_initialized()):
        missing = [name for name in _LAUNCH_VARIABLES if name not in os.environ]
        if missing:
            raise ValueError(
                f"distributed=True but the environment variables {missing} are not set: "
                "launch the script with torchrun --nproc_per_node=N (or set RANK, "
                "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)")
    return distributed


def join_process_group(device: torch.device) -> DistributedContext:
    """Initialise the default process group from the environment (unless it is).

    Parameters
    ----------
    device : torch.device
        This process's device: the backend is ``nccl`` for a CUDA device and ``gloo``
        otherwise.

    Returns
    -------
    DistributedContext
        This process's rank, the world size and the local rank.
    """
    if not dist.is_available():
        raise ValueError("distributed training asked for, but this torch build has no "
                         "torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        options = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **options)
        if dist.get_rank() == 0:
            logger.info("joined the process group of %d processes (%s)",
                        dist.get_world_size(), backend)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank())


def wrap_model(model: torch.nn.Module, device: torch.device
               ) -> torch.nn.parallel.DistributedDataParallel:
    """Wrap ``model`` for data-parallel training.

    Parameters
    ----------
    model : torch.nn.Module
        The model, already on ``device``.
    device : torch.device
        This process's device.

    Returns
    -------
    torch.nn.parallel.DistributedDataParallel
        The wrapper, sharing ``model``'s parameters; building it copies rank 0's
        weights to every process.
    """
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ValueError(f"the model {type(model).__name__} has no trainable parameter "
                         "to train in parallel")
    device_ids = [device.index] if device.type == "cuda" and device.index is not None \
        else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def shard_training_loader(loader: Any, context: DistributedContext) -> Any:
    """Make ``loader`` yield this process's share of each epoch.

    Parameters
    ----------
    loader : BatchLoader
        A training loader of the DataManager.
    context : DistributedContext
        This process's place in the run.

    Returns
    -------
    BatchLoader
        ``loader``, sharded.

    Raises
    ------
    ValueError
        If the loader cannot be sharded (it has no ``shard(rank, world_size)``).
    """
    shard = getattr(loader, "shard", None)
    if not callable(shard):
        raise ValueError(
            f"the training loader {type(loader).__name__} cannot be split between "
            f"{context.world_size} processes: expected a DataManager loader (with "
            "shard(rank, world_size))")
    shard(context.rank, context.world_size)
    return loader


def global_validation_batches(loader: Any, context: DistributedContext) -> Any:
    """Make a validation ``loader`` read batches of ``world_size x batch_size``.

    Every process validates on the whole set; with the global batch size its batches,
    and the random draws of a stochastic model in them, are those of the one-process
    run. A loader without a ``batch_size`` attribute is left as it is.

    Parameters
    ----------
    loader : BatchLoader or None
        A validation loader of the DataManager.
    context : DistributedContext
        This process's place in the run.

    Returns
    -------
    BatchLoader or None
        ``loader``.
    """
    size = getattr(loader, "batch_size", None)
    if isinstance(size, int) and hasattr(loader, "batch_positions"):
        loader.batch_size = size * context.world_size
    return loader


@contextlib.contextmanager
def sharded_steps(context: Optional[DistributedContext]) -> Iterator[None]:
    """While the training loop runs this process's share of global batches.

    :func:`batch_noise_like` then draws noise for the global batch. Nothing changes
    when ``context`` is None (one process).
    """
    global _current_shard
    previous, _current_shard = _current_shard, context
    try:
        yield
    finally:
        _current_shard = previous


@contextlib.contextmanager
def shared_draws() -> Iterator[None]:
    """While computing on samples every process holds alike (a prior's draws, rather
    than this process's rows of the global batch).

    :func:`batch_noise_like` and :func:`batch_draw` then draw as in one process: every
    process gets the same draws, those of the one-process run.

    Examples
    --------
    >>> with shared_draws():
    ...     batch_noise_like(torch.zeros(3)).shape
    torch.Size([3])
    """
    global _current_shard
    previous, _current_shard = _current_shard, None
    try:
        yield
    finally:
        _current_shard = previous


def batch_noise_like(tensor: torch.Tensor, distribution: str = "normal") -> torch.Tensor:
    """Random noise shaped like ``tensor``, one row per sample of the batch.

    In one process, ``torch.randn_like(tensor)`` (or ``torch.rand_like``). In a
    distributed training step, the noise of the whole global batch (``world_size``
    times as many rows, the same draws on every process, which are seeded alike) with
    this process's rows kept: each sample gets the noise it gets in the one-process run
    with the global batch, the processes' samples get independent noise, and every
    process's generator moves on as that run's does.

    Parameters
    ----------
    tensor : torch.Tensor
        ``(batch, ...)``, ``batch`` being this process's samples (the same count on
        every process, as the sharded loader gives).
    distribution : {"normal", "uniform"}
        Standard normal draws, or uniform ones in ``[0, 1)``.

    Returns
    -------
    torch.Tensor
        Noise of the shape, dtype and device of ``tensor``.

    Raises
    ------
    ValueError
        For another ``distribution``.

    Examples
    --------
    >>> batch_noise_like(torch.zeros(4, 2)).shape
    torch.Size([4, 2])
    """
    if distribution not in _DRAWS:
        raise ValueError(f"distribution must be one of {sorted(_DRAWS)}, got "
                         f"{distribution!r}")
    if tensor.dim() == 0:
        return _DRAWS[distribution]((), dtype=tensor.dtype, device=tensor.device)
    return batch_draw(lambda rows: _DRAWS[distribution](
        (rows,) + tuple(tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device),
        tensor.shape[0])


def batch_draw(draw: Callable[[int], torch.Tensor], rows: int, dim: int = 0
               ) -> torch.Tensor:
    """A random draw with one entry per sample of the batch along ``dim``.

    In one process, ``draw(rows)``. In a distributed training step,
    ``draw(world_size * rows)`` (the draws of the one-process run with the global batch,
    the same on every process), narrowed to this process's rows: every sample gets
    what it gets in that run, and every process's generator moves on as that run's
    does. :func:`batch_noise_like` is this for normal or uniform noise.

    Parameters
    ----------
    draw : callable
        ``draw(count)`` returns the draws of ``count`` samples, ``count`` along ``dim``
        (e.g. ``lambda count: torch.randint(0, 5, (2, count))`` with ``dim=1``).
    rows : int
        This process's samples (the same count on every process, as the sharded
        loader gives).
    dim : int, default 0
        The axis of the samples in the draw.

    Returns
    -------
    torch.Tensor
        This process's ``rows`` entries along ``dim``.

    Examples
    --------
    >>> batch_draw(lambda count: torch.randint(0, 5, (2, count)), 3, dim=1).shape
    torch.Size([2, 3])
    """
    shard = _current_shard
    if shard is None or shard.world_size == 1:
        return draw(rows)
    return draw(rows * shard.world_size).narrow(dim, shard.rank * rows, rows)


_DRAWS = {"normal": torch.randn, "uniform": torch.rand}
