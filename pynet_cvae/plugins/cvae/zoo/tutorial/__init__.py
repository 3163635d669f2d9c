"""The tutorial's CVAE: its networks, its losses and its config."""

from .config import TutorialConfig
from .losses import ClassificationLoss, DecodeLoss, VAELoss
from .model import CVAE, Decoder, DigitClassifier, Encoder, idx2onehot

__all__ = ["TutorialConfig", "CVAE", "Encoder", "Decoder", "DigitClassifier", "idx2onehot",
           "VAELoss", "ClassificationLoss", "DecodeLoss"]
