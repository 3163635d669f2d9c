"""Ready-made sample transforms.

A transform is a callable applied to each sample (a NumPy array without the batch
axis). A transform whose ``batched`` attribute is True is applied once to the whole
mini-batch (batch axis first) instead, which is faster; it must give the same
result as applying it sample by sample.
"""

from __future__ import annotations

import numpy as np


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
