"""Convolutional networks for 2-D images and 3-D volumes.

Each trunk halves the image with strided convolutions (4 x 4 kernels) before a dense
layer; each decoder mirrors it with transposed convolutions.

- :class:`Conv2dTrunk`, :class:`Conv3dTrunk` and their decoders halve the image twice
  (32 then 64 channels): image sides must be multiples of 4.
- :class:`VolumeTrunk` and :class:`VolumeDecoder`, for brain volumes, halve it four
  times (16, 32, 64, 64 channels), so that the dense layer sees a few thousand
  numbers even for a 50-voxel side, and take any side: the volume is zero-padded to
  multiples of 16 (half the padding on each side) and the decoder crops its output
  back.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn as nn

from ....registry import Networks

#: The channels after the first and the second strided convolution.
CHANNELS = (32, 64)
#: The channels after each of the volume networks' four strided convolutions.
VOLUME_CHANNELS = (16, 32, 64, 64)


def _spatial_shape(image_shape: Sequence[int], dims: int, network: str,
                   multiple: int) -> Tuple[int, ...]:
    shape = tuple(int(side) for side in image_shape)
    if len(shape) != dims:
        raise ValueError(f"{network} needs a {dims}-D image_shape, got {shape}")
    if any(side < multiple or side % multiple for side in shape):
        raise ValueError(f"{network} needs image sides that are multiples of {multiple}, "
                         f"got image_shape {shape}")
    return shape


class _Geometry:
    """The image shape a network works on, and the padding that brings it there."""

    dims = 2
    channels: Tuple[int, ...] = CHANNELS
    pad = False  # zero-pad sides to multiples of 2 ** levels instead of refusing them

    def _set_geometry(self, image_shape: Sequence[int]) -> None:
        multiple = 2 ** len(self.channels)
        if self.pad:
            shape = _spatial_shape(image_shape, self.dims, type(self).__name__, 1)
            padded = tuple(-(-side // multiple) * multiple for side in shape)
        else:
            shape = padded = _spatial_shape(image_shape, self.dims, type(self).__name__,
                                            multiple)
        self.image_shape, self.padded_shape = shape, padded
        before = [(outer - side) // 2 for side, outer in zip(shape, padded)]
        # torch's pad lists the last axis first: (last_before, last_after, ...)
        self._padding = [amount for side, outer, start in reversed(list(zip(
            shape, padded, before))) for amount in (start, outer - side - start)]
        self._crop = tuple(slice(start, start + side) for start, side in zip(before, shape))
        self.reduced = tuple(side // multiple for side in padded)


class _ConvTrunk(_Geometry, nn.Module):
    def __init__(self, image_shape: Sequence[int], features: int) -> None:
        super().__init__()
        self._set_geometry(image_shape)
        conv = nn.Conv2d if self.dims == 2 else nn.Conv3d
        layers = []
        for before, after in zip((1,) + self.channels[:-1], self.channels):
            layers += [conv(before, after, 4, stride=2, padding=1), nn.ReLU()]
        self.layers = nn.Sequential(
            *layers, nn.Flatten(),
            nn.Linear(self.channels[-1] * math.prod(self.reduced), features), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, prod(image_shape))`` to ``(batch, features)``."""
        x = x.reshape(x.shape[0], 1, *self.image_shape)
        if self.pad:
            x = nn.functional.pad(x, self._padding)
        return self.layers(x)


class _ConvDecoder(_Geometry, nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, image_shape: Sequence[int]) -> None:
        super().__init__()
        self._set_geometry(image_shape)
        transposed = nn.ConvTranspose2d if self.dims == 2 else nn.ConvTranspose3d
        channels = self.channels[::-1]
        layers = [nn.Linear(input_dim, hidden_dim), nn.ReLU(),
                  nn.Linear(hidden_dim, channels[0] * math.prod(self.reduced)), nn.ReLU(),
                  nn.Unflatten(1, (channels[0], *self.reduced))]
        for before, after in zip(channels, channels[1:] + (1,)):
            layers += [transposed(before, after, 4, stride=2, padding=1), nn.ReLU()]
        self.layers = nn.Sequential(*layers[:-1])  # logits: no ReLU after the last

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, input_dim)`` to ``(batch, prod(image_shape))`` logits."""
        outputs = self.layers(inputs)
        if self.pad:
            outputs = outputs[(slice(None), slice(None)) + self._crop]
        return outputs.reshape(inputs.shape[0], -1)


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


@Networks.register
class VolumeTrunk(_ConvTrunk):
    """3-D volumes of any shape to ``features`` numbers: four strided convolutions
    (16, 32, 64, 64 channels) on the volume zero-padded to multiples of 16, and a
    dense layer.

    Parameters
    ----------
    image_shape : sequence of int
        ``(depth, height, width)``.
    features : int
        The number of outputs.
    """

    dims = 3
    channels = VOLUME_CHANNELS
    pad = True


@Networks.register
class VolumeDecoder(_ConvDecoder):
    """A latent vector and a condition to 3-D voxel logits of any shape: two dense
    layers, four transposed convolutions, cropped to ``image_shape``.

    Parameters
    ----------
    input_dim : int
        The size of ``cat([z, condition])``.
    hidden_dim : int
        The first dense layer's size.
    image_shape : sequence of int
        ``(depth, height, width)``.
    """

    dims = 3
    channels = VOLUME_CHANNELS
    pad = True
