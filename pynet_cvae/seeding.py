"""Seeding and the random states of a run: Python's, NumPy's and torch's.

:func:`seed_everything` makes a run reproducible; :func:`rng_state` and
:func:`set_rng_state` capture and restore the generators so that a resumed run draws
exactly the numbers the uninterrupted run would have drawn. The captured state holds
only tensors, numbers and lists/dicts, so it fits in a checkpoint loaded with
``weights_only=True``.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any, Dict

import numpy as np
import torch

logger = logging.getLogger("pynet_cvae")

_MAX_SEED = 2 ** 32 - 1


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's and torch's global generators (every device).

    Parameters
    ----------
    seed : int
        In ``[0, 2**32 - 1]`` (NumPy's range).
    deterministic : bool, default False
        Also ask torch for deterministic algorithms (an error is raised by an
        operation that has none) and turn off cuDNN's autotuner. On the CPU the
        default algorithms already give identical runs.

    Examples
    --------
    >>> seed_everything(0)
    >>> first = torch.rand(2)
    >>> seed_everything(0)
    >>> torch.equal(first, torch.rand(2))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, {_MAX_SEED}], got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.manual_seed(int(seed))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def rng_state() -> Dict[str, Any]:
    """The states of Python's, NumPy's and torch's global generators.

    Returns
    -------
    dict
        ``python``, ``numpy``, ``torch`` and ``cuda`` (one state per device, empty
        when CUDA is not in use), made of tensors, numbers and dicts.
    """
    version, internal, gauss_next = random.getstate()
    algorithm, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "numpy": {"algorithm": algorithm, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "position": int(position), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
        "cuda": cuda,
    }


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the generators to a state given by :func:`rng_state`.

    CUDA states are restored when CUDA has as many devices as when they were saved;
    otherwise they are skipped with a warning (the run is then not bit-exact on GPU).

    Raises
    ------
    ValueError
        If ``state`` is not what :func:`rng_state` returns.
    """
    try:
        python, numpy_state = state["python"], state["numpy"]
        random.setstate((int(python["version"]),
                         tuple(int(value) for value in python["state"].tolist()),
                         python["gauss_next"]))
        np.random.set_state((numpy_state["algorithm"],
                             numpy_state["keys"].cpu().numpy().astype(np.uint32),
                             numpy_state["position"], numpy_state["has_gauss"],
                             numpy_state["cached_gaussian"]))
        torch.set_rng_state(state["torch"].cpu())  # a checkpoint may map it to a GPU
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a random state saved by pynet_cvae: {error!r}") from None
    _set_cuda_states([cuda_state.cpu() for cuda_state in state.get("cuda") or []])


def _set_cuda_states(states: list) -> None:
    if not states:
        return
    if not torch.cuda.is_available() or torch.cuda.device_count() != len(states):
        logger.warning("the checkpoint holds the random states of %d CUDA device(s) but "
                       "%d are available here: they are not restored", len(states),
                       torch.cuda.device_count() if torch.cuda.is_available() else 0)
        return
    torch.cuda.set_rng_state_all(states)
