"""Small heads on a trunk's features: the encoder's Gaussian and the classifier."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as func


class GaussianHead(nn.Module):
    """q(z|x, c): image features and an encoded condition to a Gaussian's parameters.

    Parameters
    ----------
    features : int
        The size of the image features.
    condition_dim : int
        The size of the encoded condition (0: the encoder does not see it).
    hidden_dim : int
        The hidden layer's size.
    latent_dim : int
        The latent dimension.
    """

    def __init__(self, features: int, condition_dim: int, hidden_dim: int,
                 latent_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(features + condition_dim, hidden_dim)
        self.mu = nn.Linear(hidden_dim, latent_dim)
        self.var = nn.Linear(hidden_dim, latent_dim)

    def forward(self, features: torch.Tensor, condition: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(z_mu, z_var)``, ``z_var`` being the log-variance."""
        hidden = func.relu(self.hidden(torch.cat([features, condition], dim=1)))
        return self.mu(hidden), self.var(hidden)


class ClassifierHead(nn.Linear):
    """Image features to class logits: one linear layer.

    Parameters
    ----------
    features : int
        The size of the image features.
    n_classes : int
        The number of classes.
    """

    def __init__(self, features: int, n_classes: int) -> None:
        super().__init__(features, n_classes)
