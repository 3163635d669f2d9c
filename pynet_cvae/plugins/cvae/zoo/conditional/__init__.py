"""The label-conditioned CVAE: the encoder and the decoder see the condition."""

from .config import ConditionalConfig
from .model import ConditionalCVAE

__all__ = ["ConditionalConfig", "ConditionalCVAE"]
