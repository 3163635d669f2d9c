"""The conditional variational autoencoder (CVAE) plugin.

Importing this package registers:

- networks: :class:`CVAE`, :class:`Encoder`, :class:`Decoder`, :class:`DigitClassifier`;
- losses (and metrics): :class:`DecodeLoss`, :class:`VAELoss`, :class:`ClassificationLoss`;
- observers: ``sampling`` (:class:`ConditionalSampler`).
"""

from .grid import make_grid, save_grid_png
from .losses import ClassificationLoss, DecodeLoss, VAELoss
from .model import CVAE, Decoder, DigitClassifier, Encoder, idx2onehot
from .observers import ConditionalSampler, sampling

__all__ = [
    "CVAE", "Encoder", "Decoder", "DigitClassifier", "idx2onehot",
    "DecodeLoss", "VAELoss", "ClassificationLoss",
    "ConditionalSampler", "sampling", "make_grid", "save_grid_png",
]
