"""The conditional variational autoencoder (CVAE) plugin.

Importing this package registers:

- networks: :class:`CVAE` (the tutorial's recipe), :class:`Encoder`, :class:`Decoder`,
  :class:`DigitClassifier`, and :class:`ConditionalCVAE` (encoder conditioned on the
  class, semi-supervised);
- losses (and metrics): :class:`DecodeLoss`, :class:`VAELoss`, :class:`ClassificationLoss`,
  :class:`ConditionalELBOLoss`, and the metric :class:`ClassifierAccuracy`;
- observers: ``sampling`` (:class:`ConditionalSampler`).

Both models have the generation API of :class:`GenerativeMixin` (``sample``,
``encode``, ``reconstruct``, ``interpolate``); :mod:`.evaluation` and :mod:`.judge`
measure them, :mod:`.trained` loads what ``pynet-cvae train`` wrote,
:mod:`.semisupervised` prepares partly labelled data and :mod:`.augmentation` makes the
augmented views of pseudo-labelling.
"""

from .conditional_losses import ClassifierAccuracy, ConditionalELBOLoss
from .conditional_model import ConditionalCVAE
from .generation import Encoding, GenerativeMixin, sample_grid, write_sample_grid
from .grid import make_grid, save_grid_png
from .losses import ClassificationLoss, DecodeLoss, VAELoss
from .model import CVAE, Decoder, DigitClassifier, Encoder, idx2onehot
from .observers import ConditionalSampler, sampling
from .schedules import KLWarmup, TemperatureSchedule
from .trained import load_trained_model, save_model_config

__all__ = [
    "CVAE", "Encoder", "Decoder", "DigitClassifier", "idx2onehot",
    "DecodeLoss", "VAELoss", "ClassificationLoss",
    "ConditionalSampler", "sampling", "make_grid", "save_grid_png",
    "ConditionalCVAE", "ConditionalELBOLoss", "ClassifierAccuracy",
    "GenerativeMixin", "Encoding", "sample_grid", "write_sample_grid",
    "KLWarmup", "TemperatureSchedule", "load_trained_model", "save_model_config",
]
