"""The config of the tutorial's CVAE."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import check_positive


@dataclass
class TutorialConfig:
    """pynet's tutorial CVAE: a classifier chooses the class the decoder sees.

    Parameters
    ----------
    input_dim : int, default 784
        The size of a flattened image.
    hidden_dim : int, default 128
        The size of the hidden layers.
    latent_dim : int, default 20
        The latent dimension.
    n_classes : int, default 10
        The number of classes.
    """

    input_dim: int = 784
    hidden_dim: int = 128
    latent_dim: int = 20
    n_classes: int = 10

    def __post_init__(self) -> None:
        for name in ("input_dim", "hidden_dim", "latent_dim", "n_classes"):
            check_positive(name, getattr(self, name))
