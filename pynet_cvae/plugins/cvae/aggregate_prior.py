"""A sampling prior fitted to the training images' codes (ex-post density estimation).

A VAE trained with the prior N(0, I) does not fill it: the codes of the training
images, the aggregate posterior q(z|c), leave regions of the prior empty ("holes"),
and latent vectors drawn there decode to blurred averages of several garments.
Ghosh et al. (2020, *From variational to deterministic autoencoders*) fit a density
to the codes after training and draw from it instead. :class:`AggregatePrior` is that
density for a class-conditioned model: for each class, a mixture of Gaussians with
full covariances fitted (scikit-learn's EM) to the latent means of that class's
training images. It changes what the model generates, not what it was trained for:
the likelihoods of ``pynet-cvae evaluate`` stay those of the model's own prior.

:func:`fit_aggregate_prior` fits it from images; :class:`AggregatePriorFit` is the
``after_epoch`` observer that refits it after each epoch of training.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn

logger = logging.getLogger("pynet_cvae")

__all__ = ["AggregatePrior", "AggregatePriorFit", "fit_aggregate_prior"]

#: Added to the diagonal of each component's covariance, as scikit-learn's
#: ``reg_covar``: a class whose codes lie on a lower-dimensional set keeps an
#: invertible covariance.
COVARIANCE_FLOOR = 1e-4
#: Images encoded at once while fitting.
ENCODE_BATCH = 500


class AggregatePrior(nn.Module):
    """Per class, a mixture of Gaussians over the latent space (see the module docs).

    Its parameters are buffers, saved in checkpoints with the model. Until it is fitted
    (:attr:`fitted` False) it holds one standard normal per class.

    Parameters
    ----------
    n_classes : int
        The classes.
    components : int
        Mixture components per class.
    latent_dim : int
        The latent dimension.
    """

    def __init__(self, n_classes: int, components: int, latent_dim: int) -> None:
        super().__init__()
        for name, value in (("n_classes", n_classes), ("components", components),
                            ("latent_dim", latent_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.n_classes, self.components, self.latent_dim = n_classes, components, latent_dim
        weights = torch.zeros(n_classes, components)
        weights[:, 0] = 1.0
        self.register_buffer("weights", weights)
        self.register_buffer("means", torch.zeros(n_classes, components, latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim).expand(
            n_classes, components, latent_dim, latent_dim).clone())
        self.register_buffer("is_fitted", torch.tensor(False))

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run (or a fitted prior was loaded)."""
        return bool(self.is_fitted)

    def fit(self, codes: np.ndarray, labels: np.ndarray, seed: int = 0) -> "AggregatePrior":
        """Fit each class's mixture to its codes.

        Parameters
        ----------
        codes : numpy.ndarray
            ``(N, latent_dim)`` latent vectors.
        labels : numpy.ndarray
            ``(N,)`` their class ids.
        seed : int, default 0
            Seeds the mixtures' initialisation.

        Returns
        -------
        AggregatePrior
            Itself.
        """
        from sklearn.mixture import GaussianMixture

        codes = np.asarray(codes, dtype=np.float64)
        labels = np.asarray(labels)
        if codes.ndim != 2 or codes.shape[1] != self.latent_dim \
                or labels.shape != (codes.shape[0],):
            raise ValueError(f"expected codes of shape (N, {self.latent_dim}) and N labels, "
                             f"got {codes.shape} and {labels.shape}")
        if not np.isfinite(codes).all():
            raise ValueError("the codes hold non-finite values: the model diverged")
        fitted = []
        for label in range(self.n_classes):
            members = codes[labels == label]
            if len(members) < 2 * self.components:
                raise ValueError(f"class {label} has {len(members)} codes: fitting "
                                 f"{self.components} components needs at least "
                                 f"{2 * self.components}")
            mixture = GaussianMixture(self.components, covariance_type="full",
                                      reg_covar=COVARIANCE_FLOOR, random_state=seed + label)
            fitted.append(mixture.fit(members))
        self._store(fitted)
        return self

    def _store(self, mixtures: list) -> None:
        def tensor(values: Any) -> torch.Tensor:
            return torch.as_tensor(np.stack(values), dtype=self.means.dtype,
                                   device=self.means.device)

        self.weights.copy_(tensor([mixture.weights_ for mixture in mixtures]))
        self.means.copy_(tensor([mixture.means_ for mixture in mixtures]))
        self.scale_tril.copy_(tensor([np.linalg.cholesky(mixture.covariances_)
                                      for mixture in mixtures]))
        self.is_fitted.fill_(True)

    def latent(self, labels: torch.Tensor, noise: torch.Tensor,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Latent vectors of the given classes from standard normal draws.

        Each row picks a component of its class's mixture (with ``generator``, a CPU
        generator; the global generator when None) and maps its draw through the
        component's mean and covariance.

        Parameters
        ----------
        labels : torch.Tensor
            ``(n,)`` class ids.
        noise : torch.Tensor
            ``(n, latent_dim)`` standard normal draws (scaled by a temperature).
        generator : torch.Generator, optional
            Draws the components.

        Returns
        -------
        torch.Tensor
            ``(n, latent_dim)`` latent vectors.
        """
        labels = labels.long().to(self.means.device)
        weights = self.weights[labels].cpu().double()
        chosen = torch.multinomial(weights, 1, replacement=True, generator=generator)[:, 0]
        chosen = chosen.to(self.means.device)
        noise = noise.to(self.means)
        return self.means[labels, chosen] + torch.einsum(
            "nij,nj->ni", self.scale_tril[labels, chosen], noise)


def fit_aggregate_prior(model: Any, images: np.ndarray, rows: np.ndarray,
                        labels: np.ndarray, images_per_class: int = 1000,
                        seed: int = 0) -> AggregatePrior:
    """Fit ``model.aggregate_prior`` to the latent means of some training images.

    Parameters
    ----------
    model : ConditionalCVAE
        A class-conditioned model built with ``aggregate_prior`` components.
    images : numpy.ndarray
        ``(N, ...)`` images, memory-mapped or not.
    rows, labels : numpy.ndarray
        The training rows of ``images`` and their classes.
    images_per_class : int, default 1000
        Encode at most this many images of each class, drawn with ``seed``.
    seed : int, default 0
        Seeds the choice of images and the mixtures.

    Returns
    -------
    AggregatePrior
        The model's fitted prior.
    """
    prior = getattr(model, "aggregate_prior", None)
    if prior is None:
        raise ValueError(f"{type(model).__name__} has no aggregate prior: build it with "
                         "aggregate_prior=K (components per class)")
    if images_per_class < 2 * prior.components:
        raise ValueError(f"images_per_class must be at least twice the components "
                         f"({2 * prior.components}), got {images_per_class}")
    rows, labels = np.asarray(rows), np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(prior.n_classes):
        members = rows[labels == label]
        chosen.append(rng.choice(members, min(images_per_class, len(members)),
                                 replace=False))
    chosen_rows = np.concatenate(chosen)
    chosen_labels = np.concatenate([np.full(len(part), label)
                                    for label, part in enumerate(chosen)])
    codes = _latent_means(model, images, chosen_rows, chosen_labels)
    return prior.fit(codes, chosen_labels, seed=seed)


def _latent_means(model: Any, images: np.ndarray, rows: np.ndarray,
                  labels: np.ndarray) -> np.ndarray:
    codes = []
    for start in range(0, len(rows), ENCODE_BATCH):
        block = rows[start:start + ENCODE_BATCH]
        x = torch.from_numpy(np.asarray(images[block], dtype=np.float32)).reshape(
            len(block), -1)
        encoding = model.encode(x.to(model._device()),
                                torch.from_numpy(labels[start:start + ENCODE_BATCH]))
        codes.append(encoding.z_mu.double().cpu().numpy())
    return np.concatenate(codes)


class AggregatePriorFit:
    """An ``after_epoch`` observer that refits the model's aggregate prior.

    Every process of a distributed run fits the same prior (the same images, the same
    seed), so that no rank samples from another prior.

    Parameters
    ----------
    input_path : str
        The images (``.npy``).
    rows, labels : numpy.ndarray
        The training rows and their classes.
    images_per_class : int, default 1000
        Images of each class encoded (see :func:`fit_aggregate_prior`).
    seed : int, default 0
        Seeds the choice of images and the mixtures.
    """

    def __init__(self, input_path: str, rows: np.ndarray, labels: np.ndarray,
                 images_per_class: int = 1000, seed: int = 0) -> None:
        self.input_path = input_path
        self.rows, self.labels = np.asarray(rows), np.asarray(labels)
        self.images_per_class, self.seed = images_per_class, seed

    def __call__(self, signal: Any) -> None:
        images = np.load(self.input_path, mmap_mode="r")
        fit_aggregate_prior(signal.object.model, images, self.rows, self.labels,
                            self.images_per_class, self.seed)
