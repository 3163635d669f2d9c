"""The CVAE networks of the tutorial: encoder, decoder, digit classifier.

The model has three sub-networks: the encoder maps an image to a Gaussian over the
latent space, q(z|x); the classifier predicts the class of the image; the decoder
maps a latent vector concatenated with a one-hot class back to an image. At
generation time, fixing the one-hot part chooses the class to draw.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as func

from .....distributed import batch_noise_like
from .....registry import Networks
from .....conditions import Condition
from ...generation import GenerativeMixin
from ..base import make_config
from .config import TutorialConfig


def idx2onehot(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Convert class ids to one-hot vectors, on the ids' device.

    Parameters
    ----------
    idx : torch.Tensor
        1-D tensor of integer class ids in ``[0, n)``.
    n : int
        The number of classes.

    Returns
    -------
    torch.Tensor
        A float tensor of shape ``(len(idx), n)``.

    Examples
    --------
    >>> idx2onehot(torch.tensor([2, 0]), 3)
    tensor([[0., 0., 1.],
            [1., 0., 0.]])
    """
    if idx.ndim != 1:
        raise ValueError(f"idx must be 1-D, got shape {tuple(idx.shape)}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(
            f"class ids must lie in [0, {n}), got values from {int(idx.min())} "
            f"to {int(idx.max())}")
    return func.one_hot(idx.long(), n).to(torch.get_default_dtype())


@Networks.register
class Encoder(nn.Module):
    """The encoder q(z|x): an image to the mean and log-variance of a Gaussian.

    Parameters
    ----------
    input_dim : int
        The size of a flattened input (28 * 28 for MNIST).
    hidden_dim : int
        The size of the hidden layer.
    z_dim : int
        The latent dimension.
    """

    def __init__(self, input_dim: int, hidden_dim: int, z_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, hidden_dim)
        self.mu = nn.Linear(hidden_dim, z_dim)
        self.var = nn.Linear(hidden_dim, z_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(z_mu, z_var)``, each ``(batch, z_dim)``; ``z_var`` is log(variance)."""
        hidden = func.relu(self.linear(x))
        return self.mu(hidden), self.var(hidden)


@Networks.register
class Decoder(nn.Module):
    """The decoder: a latent vector plus a one-hot class to an image in [0, 1].

    Parameters
    ----------
    z_dim : int
        The latent dimension.
    hidden_dim : int
        The size of the hidden layer.
    output_dim : int
        The size of a flattened image.
    n_classes : int
        The number of classes (the size of the one-hot part of the input).
    """

    def __init__(self, z_dim: int, hidden_dim: int, output_dim: int, n_classes: int) -> None:
        super().__init__()
        self.latent_to_hidden = nn.Linear(z_dim + n_classes, hidden_dim)
        self.hidden_to_out = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Decode ``(batch, z_dim + n_classes)`` into ``(batch, output_dim)``."""
        hidden = func.relu(self.latent_to_hidden(x))
        return torch.sigmoid(self.hidden_to_out(hidden))


@Networks.register
class DigitClassifier(nn.Module):
    """The auxiliary classifier: an image to class logits.

    Parameters
    ----------
    input_dim : int
        The size of a flattened input.
    hidden_dim : int
        The size of the hidden layer.
    n_classes : int
        The number of classes.
    """

    def __init__(self, input_dim: int, hidden_dim: int, n_classes: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(input_dim, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the ``(batch, n_classes)`` logits."""
        return self.linear2(func.relu(self.linear1(x)))


@Networks.register
class CVAE(GenerativeMixin, nn.Module):
    """The conditional VAE of the tutorial.

    Parameters
    ----------
    input_dim : int
        The size of a flattened input (28 * 28 for MNIST).
    hidden_dim : int
        The size of the hidden layers.
    latent_dim : int
        The latent dimension.
    n_classes : int
        The number of classes.

    Notes
    -----
    ``forward`` returns the reconstruction and the ``layer_outputs`` dict
    ``{"z_mu", "z_var", "logits", "y"}`` that :class:`VAELoss` and
    :class:`ClassificationLoss` read. ``y`` is a hard Gumbel-softmax sample of the
    predicted class: the decoder is conditioned on the class the classifier sees.
    The generation methods (``sample``, ``encode``, ``reconstruct``,
    ``interpolate``) come from :class:`~pynet_cvae.plugins.cvae.GenerativeMixin`;
    its condition is the class (:meth:`Condition.classes`).
    """

    config_class = TutorialConfig

    def __init__(self, input_dim: int, hidden_dim: int, latent_dim: int,
                 n_classes: int) -> None:
        super().__init__()
        self.config = make_config(TutorialConfig, None, {
            "input_dim": input_dim, "hidden_dim": hidden_dim, "latent_dim": latent_dim,
            "n_classes": n_classes})
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.condition = Condition.classes(n_classes)
        self.encoder = Encoder(input_dim, hidden_dim, latent_dim)
        self.decoder = Decoder(latent_dim, hidden_dim, input_dim, n_classes)
        self.classifier = DigitClassifier(input_dim, hidden_dim, n_classes)

    @classmethod
    def from_config(cls, config: Any) -> "CVAE":
        """Build the model from a :class:`TutorialConfig` (or a dict of its fields)."""
        config = make_config(TutorialConfig, config, {})
        return cls(config.input_dim, config.hidden_dim, config.latent_dim, config.n_classes)

    def config_dict(self) -> Dict[str, Any]:
        """The constructor arguments as JSON values (``model_config.json``)."""
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim,
                "latent_dim": self.latent_dim, "n_classes": self.n_classes}

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Reconstruct ``x`` (``(batch, input_dim)``) through the latent space."""
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"CVAE expects inputs of shape (batch, {self.input_dim}), got "
                f"{tuple(x.shape)}; flatten the images (e.g. input_transforms=[flatten])")
        z_mu, z_var = self.encoder(x)
        z = self.reparameterize(z_mu, z_var)
        logits = self.classifier(x)
        y = func.gumbel_softmax(logits, hard=True)
        predicted = self.decoder(torch.cat([z, y], dim=1))
        return predicted, {"z_mu": z_mu, "z_var": z_var, "logits": logits, "y": y}

    @staticmethod
    def reparameterize(z_mu: torch.Tensor, z_var: torch.Tensor) -> torch.Tensor:
        """Sample z ~ N(z_mu, exp(z_var)) differentiably (the reparameterization trick).

        The noise is drawn per sample (:func:`~pynet_cvae.distributed.batch_noise_like`):
        several processes draw what one process with the global batch draws.
        """
        std = torch.exp(z_var / 2)
        return z_mu + batch_noise_like(std) * std

    def generate(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Decode latent vectors ``z`` conditioned on class ids ``labels``."""
        onehot = idx2onehot(labels.to(z.device), self.n_classes).to(z.dtype)
        return self.decoder(torch.cat([z, onehot], dim=1))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes)`` logits.
        """
        return self.classifier(x)

    def encode_latent(self, x: torch.Tensor, onehot: Optional[torch.Tensor] = None
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian q(z|x): the tutorial's encoder never sees the class.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.
        onehot : torch.Tensor, optional
            Ignored (the generation API passes the class to every model).

        Returns
        -------
        z_mu, z_var : torch.Tensor
            ``(batch, latent_dim)`` mean and log-variance.
        """
        return self.encoder(x)

    def decode(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Decode latent vectors with classes into images.

        Parameters
        ----------
        z : torch.Tensor
            ``(batch, latent_dim)`` latent vectors.
        onehot : torch.Tensor
            ``(batch, n_classes)`` one-hot (or soft) classes.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` images in [0, 1].
        """
        return self.decoder(torch.cat([z, onehot.to(z.dtype)], dim=1))
