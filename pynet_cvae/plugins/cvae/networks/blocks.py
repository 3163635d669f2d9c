"""Deeper 2-D trunks: blocks of two normalised 3x3 convolutions and a 2x2 max-pooling.

The architecture of small image classifiers that reach 0.93 on Fashion-MNIST (and of
:class:`~pynet_cvae.plugins.cvae.judge.JudgeCNN`): about ten times the computation of
the two strided convolutions of :class:`~pynet_cvae.plugins.cvae.networks.Conv2dTrunk`,
for a classifier that must learn from few labels. Two normalisations are registered:

:class:`Conv2dGroupNormTrunk`
    Group normalisation (Wu & He 2018) works on each image alone: a batch gives the
    same outputs whatever else it holds, in training and in evaluation, and a run on
    several processes keeps taking the steps of the one-process run (the dropout
    draws each image's mask as :func:`~pynet_cvae.distributed.batch_noise_like` does).
:class:`Conv2dBatchNormTrunk`
    Batch normalisation (Ioffe & Szegedy 2015) normalises with the statistics of the
    batch in training and with running averages in evaluation. Under ``torchrun`` each
    process normalises its own part of the global batch, so the run differs from
    the one-process run with the global batch.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ....distributed import batch_noise_like
from ....registry import Networks

#: The channels of the two blocks.
BLOCK_CHANNELS = (32, 64)
#: The groups of :class:`Conv2dGroupNormTrunk`'s normalisations.
GROUPS = 8
#: The dropout before the trunk's dense layer.
DROPOUT = 0.25


def conv_block(in_channels: int, out_channels: int, normalization: str = "batch"
               ) -> nn.Sequential:
    """Two 3x3 convolutions, each normalised and rectified, then a 2x2 max-pooling.

    Parameters
    ----------
    in_channels, out_channels : int
        The channels before and after the block.
    normalization : {"batch", "group"}, default "batch"
        ``BatchNorm2d``, or ``GroupNorm`` with :data:`GROUPS` groups.

    Returns
    -------
    torch.nn.Sequential
        Halves the height and the width.
    """
    layers = []
    for before in (in_channels, out_channels):
        layers += [nn.Conv2d(before, out_channels, 3, padding=1, bias=False),
                   _normalization(normalization, out_channels), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


def _normalization(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(GROUPS, channels), channels)
    raise ValueError(f"normalization must be 'batch' or 'group', got {kind!r}")


class SampleDropout(nn.Dropout):
    """``torch.nn.Dropout`` whose masks are drawn one row per sample with
    :func:`~pynet_cvae.distributed.batch_noise_like`: under ``torchrun`` each image
    gets the mask of the one-process run with the global batch (``nn.Dropout`` would
    draw the same masks on every process, for other images)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero each entry with probability ``p`` in training, scaling the others by
        ``1 / (1 - p)``; the identity in evaluation."""
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        kept = batch_noise_like(x, "uniform") >= self.p
        return x * kept.to(x.dtype) / (1 - self.p)


class Conv2dBlockTrunk(nn.Module):
    """2-D images to ``features`` numbers: two blocks of two normalised 3x3 convolutions
    and a max-pooling, then dropout (:class:`SampleDropout`) and a dense layer.

    Parameters
    ----------
    image_shape : sequence of int
        ``(height, width)``, at least 4 x 4 (sides not a multiple of 4 lose their
        last rows or columns to the poolings).
    features : int
        The number of outputs.
    normalization : {"group", "batch"}, default "group"
        See the module documentation.
    """

    def __init__(self, image_shape: Sequence[int], features: int,
                 normalization: str = "group") -> None:
        super().__init__()
        shape = tuple(int(side) for side in image_shape)
        if len(shape) != 2:
            raise ValueError(f"{type(self).__name__} needs a 2-D image_shape, got {shape}")
        multiple = 2 ** len(BLOCK_CHANNELS)
        if any(side < multiple for side in shape):
            raise ValueError(f"{type(self).__name__} needs images of at least {multiple} x "
                             f"{multiple} pixels, got image_shape {shape}")
        self.image_shape = shape
        height, width = (side // multiple for side in shape)
        blocks = [conv_block(before, after, normalization) for before, after in
                  zip((1,) + BLOCK_CHANNELS[:-1], BLOCK_CHANNELS)]
        self.layers = nn.Sequential(
            *blocks, nn.Flatten(), SampleDropout(DROPOUT),
            nn.Linear(BLOCK_CHANNELS[-1] * height * width, features), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, prod(image_shape))`` to ``(batch, features)``."""
        return self.layers(x.reshape(x.shape[0], 1, *self.image_shape))


@Networks.register
class Conv2dGroupNormTrunk(Conv2dBlockTrunk):
    """:class:`Conv2dBlockTrunk` with group normalisation, built as
    ``Conv2dGroupNormTrunk(image_shape, features)``: each image is normalised on its
    own."""

    def __init__(self, image_shape: Sequence[int], features: int) -> None:
        super().__init__(image_shape, features, "group")


@Networks.register
class Conv2dBatchNormTrunk(Conv2dBlockTrunk):
    """:class:`Conv2dBlockTrunk` with batch normalisation, built as
    ``Conv2dBatchNormTrunk(image_shape, features)``: batch statistics in training,
    running averages in evaluation."""

    def __init__(self, image_shape: Sequence[int], features: int) -> None:
        super().__init__(image_shape, features, "batch")
