"""Small heads: the encoder's Gaussian and the classifier on a trunk's features, and
the per-pixel map of the condition beside a decoder."""

from __future__ import annotations

from typing import Sequence, Tuple

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


class ConditionMap(nn.Module):
    """Each pixel's own polynomial of the encoded condition, added to a decoder's output.

    The map's inputs are the encoded condition and, for the continuous columns, their
    powers 2 to ``degree``: with age standardised and sex and site one-hot, each voxel
    gets its own intercept, sex and site offsets and cubic ageing curve (``degree=3``),
    as the mass-univariate regression gives it. It starts at zero.

    Parameters
    ----------
    condition_dim : int
        The size of the encoded condition.
    continuous : sequence of int
        The columns of the encoded condition that hold continuous covariates.
    degree : int
        The polynomial's degree in the continuous columns (at least 1).
    output_dim : int
        The pixels (the decoder's output size).
    """

    def __init__(self, condition_dim: int, continuous: Sequence[int], degree: int,
                 output_dim: int) -> None:
        super().__init__()
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise ValueError(f"degree {degree!r} is invalid: expected an int >= 1")
        self.degree = degree
        self.register_buffer("continuous", torch.as_tensor(list(continuous),
                                                           dtype=torch.long))
        powers = (degree - 1) * len(self.continuous)
        self.linear = nn.Linear(condition_dim + powers, output_dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        """``(batch, output_dim)``: every pixel's value of its polynomial."""
        values = condition[:, self.continuous]
        features = [condition] + [values ** power for power in range(2, self.degree + 1)]
        return self.linear(torch.cat(features, dim=1))
