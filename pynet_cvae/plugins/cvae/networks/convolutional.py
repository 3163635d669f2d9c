"""Convolutional networks for 2-D images and 3-D volumes.

Each trunk halves the image twice with strided convolutions (4 x 4 kernels, 32 then
64 channels) before a dense layer; each decoder mirrors it with transposed
convolutions. Image sides must be multiples of 4.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn as nn

from ....registry import Networks

#: The channels after the first and the second strided convolution.
CHANNELS = (32, 64)


def _spatial_shape(image_shape: Sequence[int], dims: int, network: str) -> Tuple[int, ...]:
    shape = tuple(int(side) for side in image_shape)
    if len(shape) != dims:
        raise ValueError(f"{network} needs a {dims}-D image_shape, got {shape}")
    if any(side < 4 or side % 4 for side in shape):
        raise ValueError(f"{network} needs image sides that are multiples of 4, got "
                         f"image_shape {shape}")
    return shape


class _ConvTrunk(nn.Module):
    dims = 2

    def __init__(self, image_shape: Sequence[int], features: int) -> None:
        super().__init__()
        self.image_shape = _spatial_shape(image_shape, self.dims, type(self).__name__)
        conv = nn.Conv2d if self.dims == 2 else nn.Conv3d
        reduced = math.prod(side // 4 for side in self.image_shape)
        self.layers = nn.Sequential(
            conv(1, CHANNELS[0], 4, stride=2, padding=1), nn.ReLU(),
            conv(CHANNELS[0], CHANNELS[1], 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(CHANNELS[1] * reduced, features), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, prod(image_shape))`` to ``(batch, features)``."""
        return self.layers(x.reshape(x.shape[0], 1, *self.image_shape))


class _ConvDecoder(nn.Module):
    dims = 2

    def __init__(self, input_dim: int, hidden_dim: int, image_shape: Sequence[int]) -> None:
        super().__init__()
        self.image_shape = _spatial_shape(image_shape, self.dims, type(self).__name__)
        transposed = nn.ConvTranspose2d if self.dims == 2 else nn.ConvTranspose3d
        reduced = tuple(side // 4 for side in self.image_shape)
        self.layers = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, CHANNELS[1] * math.prod(reduced)), nn.ReLU(),
            nn.Unflatten(1, (CHANNELS[1], *reduced)),
            transposed(CHANNELS[1], CHANNELS[0], 4, stride=2, padding=1), nn.ReLU(),
            transposed(CHANNELS[0], 1, 4, stride=2, padding=1))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, input_dim)`` to ``(batch, prod(image_shape))`` logits."""
        return self.layers(inputs).reshape(inputs.shape[0], -1)


@Networks.register
class Conv2dTrunk(_ConvTrunk):
    """2-D images to ``features`` numbers: two strided convolutions and a dense layer.

    Parameters
    ----------
    image_shape : sequence of int
        ``(height, width)``, multiples of 4.
    features : int
        The number of outputs.
    """

    dims = 2


@Networks.register
class Conv3dTrunk(_ConvTrunk):
    """3-D volumes to ``features`` numbers: two strided convolutions and a dense layer.

    Parameters
    ----------
    image_shape : sequence of int
        ``(depth, height, width)``, multiples of 4.
    features : int
        The number of outputs.
    """

    dims = 3


@Networks.register
class Conv2dDecoder(_ConvDecoder):
    """A latent vector and a condition to 2-D pixel logits: two dense layers, then two
    transposed convolutions.

    Parameters
    ----------
    input_dim : int
        The size of ``cat([z, condition])``.
    hidden_dim : int
        The first dense layer's size.
    image_shape : sequence of int
        ``(height, width)``, multiples of 4.
    """

    dims = 2


@Networks.register
class Conv3dDecoder(_ConvDecoder):
    """A latent vector and a condition to 3-D voxel logits: two dense layers, then two
    transposed convolutions.

    Parameters
    ----------
    input_dim : int
        The size of ``cat([z, condition])``.
    hidden_dim : int
        The first dense layer's size.
    image_shape : sequence of int
        ``(depth, height, width)``, multiples of 4.
    """

    dims = 3
