"""The config of the label-conditioned CVAE family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ...objective.likelihoods import LIKELIHOODS
from ..base import check_positive, check_weight


@dataclass
class ConditionalConfig:
    """A CVAE whose encoder and decoder both see the condition: q(z|x, c), p(x|z, c).

    Parameters
    ----------
    input_dim : int
        The size of a flattened image.
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(depth, height, width)``; by default a square image
        of ``input_dim`` pixels.
    hidden_dim : int, default 512
        The size of the hidden layers (and of the trunks' features).
    latent_dim : int, default 20
        The latent dimension.
    n_classes : int, default 10
        The classes of a class-only condition (ignored when ``condition`` is given).
    condition : list of dict, optional
        The covariates (see :meth:`~pynet_cvae.conditions.Condition.to_spec`), e.g.
        ``[{"kind": "continuous", "name": "age", "mean": 60, "std": 10}]``; by
        default the ``n_classes`` classes.
    encoder : str, default "DenseTrunk"
        The registered trunk of the encoder (``DenseTrunk``, ``Conv2dTrunk``,
        ``Conv3dTrunk`` or a plugin's).
    decoder : str, default "DenseDecoder"
        The registered decoder (``DenseDecoder``, ``Conv2dDecoder``,
        ``Conv3dDecoder`` or a plugin's).
    classifier : bool, default True
        Give the model a classifier q(y|x) of the class (class-only conditions):
        it predicts the condition of an image given without one, and serves the
        classification and consistency terms.
    classifier_trunk : str, optional
        The classifier's own registered trunk; by default it shares the encoder's.
    classifier_average : float, default 0.0
        When in (0, 1): classify in evaluation with a moving average of the
        classifier's weights of this decay (the model's
        :meth:`training_observers` keep it up to date after each step).
    likelihood : {"bernoulli", "gaussian"}, default "bernoulli"
        The pixels' likelihood.
    likelihood_sigma : float, default 0.1
        The standard deviation of the Gaussian likelihood.
    kl_weight : float, default 1.0
        The weight of KL(q(z|x, c) || p(z)); a KL warm-up scales it.
    classification_weight : float, default 10.0
        The weight of the classifier's cross-entropy (0: no such term).
    consistency_weight : float, default 1.0
        The weight of the consistency term (the frozen classifier's cross-entropy on
        images decoded from the prior with random classes).
    consistency_samples : int, default 0
        Prior draws per training batch for the consistency term (0: no such term).
    independence_weight : float, default 0.0
        The weight of the latent independence term (0: no such term): the squared
        correlations over a batch between the latent means and the condition
        (:class:`~pynet_cvae.plugins.cvae.objective.LatentIndependence`), so that
        decoding under other covariates moves the image as the covariates do.
    condition_map : int, default 0
        Add to the decoder's output each pixel's (or voxel's) own polynomial of the
        encoded condition, of this degree in the continuous covariates (0: none; 3:
        each voxel's cubic ageing curve and its sex and site offsets, the
        mass-univariate regression inside the model:
        :class:`~pynet_cvae.plugins.cvae.networks.ConditionMap`). The decoder's
        convolutions share their weights across the image; the map gives every voxel
        its own effects of the covariates and leaves the latent code the subject's own
        anatomy.
    aggregate_prior : int, default 0
        Generate from a mixture of this many Gaussians per class fitted to the
        training images' latent means (ex-post density estimation:
        :class:`~pynet_cvae.plugins.cvae.AggregatePrior`; class-only conditions) instead
        of the prior; 0: from the prior. The training recipes refit it after each epoch.
    aggregate_prior_images : int, default 1000
        The training images of each class it is fitted to.
    """

    input_dim: int = 784
    image_shape: Optional[Tuple[int, ...]] = None
    hidden_dim: int = 512
    latent_dim: int = 20
    n_classes: int = 10
    condition: Optional[List[Dict[str, Any]]] = None
    encoder: str = "DenseTrunk"
    decoder: str = "DenseDecoder"
    classifier: bool = True
    classifier_trunk: Optional[str] = None
    classifier_average: float = 0.0
    likelihood: str = "bernoulli"
    likelihood_sigma: float = 0.1
    kl_weight: float = 1.0
    classification_weight: float = 10.0
    consistency_weight: float = 1.0
    consistency_samples: int = 0
    independence_weight: float = 0.0
    condition_map: int = 0
    aggregate_prior: int = 0
    aggregate_prior_images: int = 1000

    def __post_init__(self) -> None:
        for name in ("input_dim", "hidden_dim", "latent_dim", "n_classes"):
            check_positive(name, getattr(self, name))
        if isinstance(self.condition_map, bool) or not isinstance(self.condition_map, int) \
                or self.condition_map < 0:
            raise ValueError(f"condition_map must be an integer >= 0 (the map's degree, 0: "
                             f"no map), got {self.condition_map!r}")
        for name in ("aggregate_prior", "aggregate_prior_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.aggregate_prior and self.aggregate_prior_images < 2 * self.aggregate_prior:
            raise ValueError(f"aggregate_prior_images must be at least twice the components "
                             f"({2 * self.aggregate_prior}), got "
                             f"{self.aggregate_prior_images}")
        if self.image_shape is not None:
            self.image_shape = tuple(int(side) for side in self.image_shape)
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got "
                             f"{self.likelihood!r}")
        if isinstance(self.consistency_samples, bool) \
                or not isinstance(self.consistency_samples, int) or self.consistency_samples < 0:
            raise ValueError(f"consistency_samples must be an integer >= 0, got "
                             f"{self.consistency_samples!r}")
        for name in ("kl_weight", "classification_weight", "consistency_weight",
                     "independence_weight"):
            check_weight(name, getattr(self, name))
        check_weight("likelihood_sigma", self.likelihood_sigma, positive=True)
        if not 0 <= self.classifier_average < 1:
            raise ValueError(f"classifier_average must lie in [0, 1), got "
                             f"{self.classifier_average!r}")
