"""torch's intra-op threads, set for a block of a test."""

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int = 1) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous count.

    With one thread a run repeated in another process (also with one thread)
    reproduces it bit for bit, and the suite's small networks train several times
    faster than with a thread per core when other processes share the cores.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
