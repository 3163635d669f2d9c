"""Per-image log-densities: the reconstruction likelihoods and the divergences.

Every function returns one value per row, in nats; the objective's terms
(:mod:`.terms`) sum and scale them.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as func

__all__ = ["Bernoulli", "Gaussian", "LIKELIHOODS", "make_likelihood", "gaussian_kl",
           "class_kl", "bernoulli_nll"]


def bernoulli_nll(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z, c) of each row under independent Bernoulli pixels.

    Parameters
    ----------
    x_logits : torch.Tensor
        ``(batch, pixels)`` logits.
    x : torch.Tensor
        ``(batch, pixels)`` images in [0, 1].

    Returns
    -------
    torch.Tensor
        ``(batch,)`` negative log-likelihoods.
    """
    return func.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=-1)


def gaussian_kl(z_mu: torch.Tensor, z_var: torch.Tensor,
                prior_mu: Optional[torch.Tensor] = None,
                prior_var: Optional[torch.Tensor] = None) -> torch.Tensor:
    """KL(N(z_mu, exp(z_var)) || prior) of each row; the prior is N(0, I) by default.

    Parameters
    ----------
    z_mu, z_var : torch.Tensor
        ``(batch, latent_dim)`` mean and log-variance.
    prior_mu, prior_var : torch.Tensor, optional
        The prior's mean and log-variance (a learned conditional prior).

    Returns
    -------
    torch.Tensor
        ``(batch,)`` divergences.
    """
    if prior_mu is None:
        return 0.5 * torch.sum(torch.exp(z_var) + z_mu ** 2 - 1.0 - z_var, dim=-1)
    return 0.5 * torch.sum(prior_var - z_var - 1.0
                           + (torch.exp(z_var) + (z_mu - prior_mu) ** 2) / torch.exp(prior_var),
                           dim=-1)


def class_kl(logits: torch.Tensor) -> torch.Tensor:
    """KL(q(y|x) || uniform) of each row of classifier logits, in [0, log(n_classes)]."""
    log_q = func.log_softmax(logits, dim=1)
    return torch.sum(log_q.exp() * log_q, dim=1) + math.log(logits.shape[1])


class Bernoulli:
    """Independent Bernoulli pixels: the decoder gives logits; images lie in [0, 1]."""

    name = "bernoulli"

    def nll(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(batch,)`` -log p(x|z, c) from the decoder's output."""
        return bernoulli_nll(output, x)

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        """The expected image: ``sigmoid(output)``."""
        return torch.sigmoid(output)

    def __repr__(self) -> str:
        return "Bernoulli()"


class Gaussian:
    """Independent Gaussian pixels of a fixed standard deviation around the decoder's
    output.

    Parameters
    ----------
    sigma : float, default 0.1
        The standard deviation (> 0), in the images' units.
    """

    name = "gaussian"

    def __init__(self, sigma: float = 0.1) -> None:
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"sigma must be a number > 0, got {sigma!r}")
        self.sigma = float(sigma)

    def nll(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(batch,)`` -log p(x|z, c) from the decoder's output (the mean)."""
        constant = math.log(2 * math.pi * self.sigma ** 2)
        return 0.5 * (((x - output) / self.sigma) ** 2 + constant).sum(dim=-1)

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        """The expected image: the output itself."""
        return output

    def __repr__(self) -> str:
        return f"Gaussian(sigma={self.sigma})"


LIKELIHOODS = {"bernoulli": Bernoulli, "gaussian": Gaussian}
"""The reconstruction likelihoods by name."""


def make_likelihood(name: str, sigma: float = 0.1):
    """The likelihood called ``name`` (``"bernoulli"`` or ``"gaussian"`` with ``sigma``)."""
    if name == "gaussian":
        return Gaussian(sigma)
    if name == "bernoulli":
        return Bernoulli()
    raise ValueError(f"likelihood {name!r} unknown; expected one of {sorted(LIKELIHOODS)}")
