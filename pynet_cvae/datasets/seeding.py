"""Seeds of the data layer's random choices.

Every random choice of the data layer (shuffling, weighted draws, patches,
augmentation) is a pure function of integer keys such as ``(seed, fold, epoch)`` or
``(seed, epoch, row)``, so that a run is reproducible and resumable, and the same in
worker processes as in the main one.
"""

import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

__all__ = ["derive_seed", "seeded_generator", "restored_global_rngs", "seed_global_rngs"]


def derive_seed(*keys: int) -> int:
    """Return a 32-bit seed that depends on every key (all non-negative ints)."""
    sequence = np.random.SeedSequence([int(key) for key in keys])
    return int(sequence.generate_state(1)[0])


def seeded_generator(*keys: int) -> torch.Generator:
    """Return a ``torch.Generator`` seeded from ``derive_seed(*keys)``."""
    generator = torch.Generator()
    generator.manual_seed(derive_seed(*keys))
    return generator


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
