"""The CVAE with a learned conditional prior p(z|c): each condition gets its own region
of the latent space."""

from .config import PriorConfig
from .model import LearnedPriorCVAE

__all__ = ["PriorConfig", "LearnedPriorCVAE"]
