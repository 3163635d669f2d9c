"""Dense networks: one hidden layer each way."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

from ....registry import Networks


@Networks.register
class DenseTrunk(nn.Module):
    """Flattened images to ``features`` numbers: one dense layer and a ReLU.

    Parameters
    ----------
    image_shape : sequence of int
        The shape of an image (any number of axes; only its size matters).
    features : int
        The number of outputs.
    """

    def __init__(self, image_shape: Sequence[int], features: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(math.prod(image_shape), features), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, prod(image_shape))`` to ``(batch, features)``."""
        return self.layers(x)


@Networks.register
class DenseDecoder(nn.Module):
    """A latent vector and a condition to pixel logits: two dense layers.

    Parameters
    ----------
    input_dim : int
        The size of ``cat([z, condition])``.
    hidden_dim : int
        The hidden layer's size.
    image_shape : sequence of int
        The shape of an image.
    """

    def __init__(self, input_dim: int, hidden_dim: int, image_shape: Sequence[int]) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(),
                                    nn.Linear(hidden_dim, math.prod(image_shape)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, input_dim)`` to ``(batch, prod(image_shape))`` logits."""
        return self.layers(inputs)
