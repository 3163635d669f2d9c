"""The networks the zoo's models are built from, each registered by name.

A model takes flattened images, ``(batch, prod(image_shape))``, and builds its parts
from two kinds of network, given as modules (injection) or as registered names:

*trunks* ``Trunk(image_shape, features)``
    An image to ``features`` numbers: :class:`DenseTrunk`, :class:`Conv2dTrunk`,
    :class:`Conv2dGroupNormTrunk` and :class:`Conv2dBatchNormTrunk` (deeper, for
    classifiers), :class:`Conv3dTrunk`, :class:`VolumeTrunk` (brain volumes). An
    encoder is a trunk and a :class:`GaussianHead` (which also sees the condition); a
    classifier is a trunk (its own, or the encoder's) and a :class:`ClassifierHead`;
    a :class:`ConditionMap` adds each pixel's own function of the condition to a
    decoder's output.
*decoders* ``Decoder(input_dim, hidden_dim, image_shape)``
    A latent vector and the encoded condition, concatenated (``input_dim``
    numbers), to the logits (or means) of every pixel: :class:`DenseDecoder`,
    :class:`Conv2dDecoder`, :class:`Conv3dDecoder`, :class:`VolumeDecoder`.

:func:`build_network` makes one from a name; a plugin registers its own with
``@Networks.register`` and the same constructor arguments.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import torch.nn as nn

from ....registry import Networks
from .blocks import Conv2dBatchNormTrunk, Conv2dBlockTrunk, Conv2dGroupNormTrunk
from .convolutional import (Conv2dDecoder, Conv2dTrunk, Conv3dDecoder, Conv3dTrunk,
                            VolumeDecoder, VolumeTrunk)
from .dense import DenseDecoder, DenseTrunk
from .heads import ClassifierHead, ConditionMap, GaussianHead

__all__ = ["DenseTrunk", "DenseDecoder", "Conv2dTrunk", "Conv2dDecoder",
           "Conv2dBlockTrunk", "Conv2dGroupNormTrunk", "Conv2dBatchNormTrunk", "Conv3dTrunk",
           "Conv3dDecoder", "VolumeTrunk", "VolumeDecoder", "GaussianHead", "ClassifierHead",
           "ConditionMap", "build_network"]


def build_network(network: Union[str, nn.Module], role: str, *arguments: Any) -> nn.Module:
    """A network given as a module, or built from its registered name.

    Parameters
    ----------
    network : str or torch.nn.Module
        A module (returned as it is) or a name registered in
        :class:`~pynet_cvae.registry.Networks`.
    role : str
        What it is for, named in errors (``"encoder"``, ``"decoder"``...).
    *arguments
        The constructor arguments of a named network: ``(image_shape, features)``
        for a trunk, ``(input_dim, hidden_dim, image_shape)`` for a decoder.

    Returns
    -------
    torch.nn.Module
    """
    if isinstance(network, nn.Module):
        return network
    if not isinstance(network, str) or not Networks.contains(network):
        raise ValueError(f"{role} {network!r} is not a registered network: expected one of "
                         f"{sorted(Networks.get_registry())} or a torch.nn.Module")
    try:
        return Networks.get(network)(*arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(f"cannot build {role} {network} from {_describe(arguments)}: "
                         f"{error}") from None


def _describe(arguments: Sequence[Any]) -> str:
    return ", ".join(repr(argument) for argument in arguments)
