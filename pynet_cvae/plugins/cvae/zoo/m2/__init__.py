"""The semi-supervised CVAE (M2) with pseudo-labels: labels may be missing."""

from .config import UNLABELLED_MODES, SemiSupervisedConfig
from .model import ConditionalELBOLoss, SemiSupervisedCVAE

__all__ = ["SemiSupervisedConfig", "SemiSupervisedCVAE", "ConditionalELBOLoss",
           "UNLABELLED_MODES"]
