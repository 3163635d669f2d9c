"""The label-conditioned CVAE: q(z|x, c) and p(x|z, c), trained with the true condition.

In the tutorial's recipe the encoder never sees the class, so the class also lives in
z and the decoder can ignore its one-hot input. Here, as in Sohn et al. (2015), the
encoder is conditioned too and the decoder is trained with each image's *true*
condition: z only has to encode what the condition does not say (style), and the
condition decides what a generated image shows.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.func import functional_call

from .....averaging import AveragedWeights, WeightAverage
from .....distributed import batch_noise_like
from .....registry import Networks
from .....conditions import as_condition
from ...networks import ClassifierHead, ConditionMap, GaussianHead, build_network
from ...objective import (Classification, Consistency, ForwardState, KLDivergence,
                          LatentIndependence, Objective, Reconstruction, Term,
                          make_likelihood)
from ...aggregate_prior import AggregatePrior
from ..base import ZooModel, image_shape_of
from .config import ConditionalConfig


@Networks.register
class ConditionalCVAE(ZooModel):
    """A CVAE whose encoder and decoder see the condition (see the module documentation).

    Call it as ``model(x, labels)`` (``DeepLearningInterface(..., add_labels=True)``),
    ``labels`` holding each image's condition values: its class ids for a class-only
    condition. Train it with its :attr:`objective`.

    Parameters
    ----------
    config : ConditionalConfig or dict, optional
        The configuration; keyword arguments override its fields (see
        :class:`ConditionalConfig` for each field).
    encoder, decoder, classifier_trunk : torch.nn.Module or str, optional
        Networks to use instead of the registered names of the config (injection; a
        string is the config field, a registered name):
        a trunk ``(batch, input_dim) -> (batch, hidden_dim)`` for the encoder and the
        classifier, a decoder ``(batch, latent_dim + condition width) -> (batch,
        input_dim)``.
    **fields
        Config fields.

    Attributes
    ----------
    condition : Condition
        The covariates.
    objective : Objective
        The loss: reconstruction, KL, and with a classifier its cross-entropy and the
        consistency term, as configured.

    Notes
    -----
    ``forward`` returns the reconstruction (the likelihood's mean) and the
    ``layer_outputs`` ``{"z_mu", "z_var", "x_logits", "condition", "labels"}``, plus
    ``logits`` with a classifier and, in training, the outputs of the objective's
    terms (``generated_logits``, ``generated_labels`` for consistency). Without
    labels, in evaluation, the classifier's most probable class is the condition.
    """

    config_class = ConditionalConfig

    def __init__(self, config: Any = None, *, encoder: Optional[nn.Module] = None,
                 decoder: Optional[nn.Module] = None,
                 classifier_trunk: Optional[nn.Module] = None, **fields: Any) -> None:
        injected = {"encoder": encoder, "decoder": decoder, "classifier_trunk": classifier_trunk}
        for name, value in injected.items():
            if value is None or isinstance(value, str):  # a registered name: a config field
                if value is not None:
                    fields[name] = value
                injected[name] = None
        encoder, decoder, classifier_trunk = injected.values()
        super().__init__(config, **fields)
        config = self.config
        self.condition = as_condition(config.condition,
                                      None if config.condition else config.n_classes)
        self.input_dim, self.hidden_dim = config.input_dim, config.hidden_dim
        self.latent_dim = config.latent_dim
        self.image_shape = image_shape_of(config.input_dim, config.image_shape)
        self.likelihood = make_likelihood(config.likelihood, config.likelihood_sigma)
        width = self.condition.width
        self.encoder_trunk = build_network(encoder or config.encoder, "encoder",
                                           self.image_shape, self.hidden_dim)
        self.encoder_head = GaussianHead(self.hidden_dim, width, self.hidden_dim,
                                         self.latent_dim)
        self.decoder = build_network(decoder or config.decoder, "decoder",
                                     self.latent_dim + width, self.hidden_dim,
                                     self.image_shape)
        self.condition_map = ConditionMap(width, self.condition.continuous_columns,
                                          config.condition_map, config.input_dim) \
            if config.condition_map else None
        self._build_classifier(classifier_trunk)
        self.aggregate_prior = self._build_aggregate_prior()
        self.objective = Objective(self.objective_terms())

    def _build_classifier(self, trunk: Optional[nn.Module]) -> None:
        config = self.config
        self.has_classifier = bool(config.classifier)
        self.classifier_trunk = self.classifier_head = self.classifier_average = None
        if not self.has_classifier:
            return
        if not self.condition.is_class_only:
            raise ValueError(f"a classifier needs a class-only condition; the condition has "
                             f"{self.condition.names}: give classifier=False")
        if trunk is not None or config.classifier_trunk is not None:
            self.classifier_trunk = build_network(trunk or config.classifier_trunk,
                                                  "classifier trunk", self.image_shape,
                                                  self.hidden_dim)
        self.classifier_head = ClassifierHead(self.hidden_dim, self.n_classes)
        path = nn.Sequential(self.classifier_trunk or self.encoder_trunk, self.classifier_head)
        self.__dict__["_classifier"] = path  # the parts are registered above, not twice
        if config.classifier_average:
            self.classifier_average = AveragedWeights(path)

    def _build_aggregate_prior(self) -> Optional[AggregatePrior]:
        components = self.config.aggregate_prior
        if not components:
            return None
        if not self.condition.is_class_only:
            raise ValueError(f"an aggregate prior is fitted per class: the condition has "
                             f"{self.condition.names}; give aggregate_prior=0")
        return AggregatePrior(self.n_classes, components, self.latent_dim)

    def prior_latent(self, noise: torch.Tensor, values: torch.Tensor,
                     condition: torch.Tensor,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Latent vectors to generate from: the aggregate prior's once it is fitted,
        the prior's otherwise.

        Parameters
        ----------
        noise : torch.Tensor
            ``(n, latent_dim)`` standard normal draws (scaled by a temperature).
        values : torch.Tensor
            The ``n`` condition values (class ids).
        condition : torch.Tensor
            ``(n, width)`` their encodings.
        generator : torch.Generator, optional
            Draws the aggregate prior's components (the global generator when None).

        Returns
        -------
        torch.Tensor
            ``(n, latent_dim)`` latent vectors.
        """
        if self.aggregate_prior is not None and self.aggregate_prior.fitted:
            return self.aggregate_prior.latent(values, noise, generator)
        return super().prior_latent(noise, values, condition, generator)

    def objective_terms(self) -> List[Term]:
        """Reconstruction and KL; with a classifier, its cross-entropy and the
        consistency term when their weights (and samples) are not 0; the latent
        independence term when its weight is not 0."""
        config = self.config
        terms: List[Term] = [Reconstruction(self.likelihood), KLDivergence(config.kl_weight)]
        if self.has_classifier and config.classification_weight:
            terms.append(Classification(config.classification_weight))
        if self.has_classifier and config.consistency_samples and config.consistency_weight:
            terms.append(Consistency(config.consistency_weight, config.consistency_samples))
        if config.independence_weight:
            terms.append(LatentIndependence(config.independence_weight))
        return terms

    def training_observers(self) -> List[Tuple[str, Callable[..., Any]]]:
        """The classifier's weight average, updated after each step (when configured)."""
        if self.classifier_average is None:
            return []
        return [("after_step", WeightAverage(self.config.classifier_average,
                                             target="classifier_average"))]

    # ------------------------------------------------------------------ parts
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits, q(y|x).

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes)`` logits (of the averaged weights in evaluation, with
            ``classifier_average``).
        """
        if not self.has_classifier:
            raise ValueError(f"{type(self).__name__} was built with classifier=False")
        if self.classifier_average is not None and not self.training:
            return self.classifier_average(x)
        return self._classifier(x)

    def frozen_classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits with its weights detached: gradients reach ``x`` only."""
        weights = {name: value.detach() for name, value in self._classifier.named_parameters()}
        return functional_call(self._classifier, weights, (x,))

    def encode_latent(self, x: torch.Tensor, condition: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian q(z|x, c): mean and log-variance, ``(batch, latent_dim)`` each.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.
        condition : torch.Tensor
            ``(batch, width)`` encoded conditions.
        """
        return self.encoder_head(self.encoder_trunk(x), condition.to(x.dtype))

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The decoder's output (pixel logits for the Bernoulli likelihood).

        Parameters
        ----------
        z : torch.Tensor
            ``(batch, latent_dim)`` latent vectors.
        condition : torch.Tensor
            ``(batch, width)`` encoded conditions.
        """
        condition = condition.to(z.dtype)
        output = self.decoder(torch.cat([z, condition], dim=1))
        if self.condition_map is not None:
            output = output + self.condition_map(condition)
        return output

    def decode(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Images (the likelihood's mean) from latent vectors and encoded conditions."""
        return self.likelihood.mean(self.decode_logits(z, condition))

    def reconstruction_nll(self, z: torch.Tensor, condition: torch.Tensor,
                           x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z, c) of each row, in nats."""
        return self.likelihood.nll(self.decode_logits(z, condition), x)

    def generate(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Decode latent vectors with condition values (class ids of a class-only model)."""
        return self.decode(z, self.condition.encode(labels).to(z.device))

    @staticmethod
    def reparameterize(z_mu: torch.Tensor, z_var: torch.Tensor,
                       noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Sample z ~ N(z_mu, exp(z_var)) differentiably.

        The noise is drawn per sample of the batch
        (:func:`~pynet_cvae.distributed.batch_noise_like`), so that a run over several
        processes draws what the one-process run with the global batch draws; pass
        ``noise`` for rows that are not one per sample.
        """
        if noise is None:
            noise = batch_noise_like(z_mu)
        return z_mu + noise * torch.exp(z_var / 2)

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Reconstruct images through the latent space.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.
        labels : torch.Tensor, optional
            The images' condition values (class ids: ``(batch,)``).

        Returns
        -------
        prediction : torch.Tensor
            ``(batch, input_dim)`` reconstructions.
        layer_outputs : dict
            See the class notes.
        """
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, {self.input_dim}), "
                f"got {tuple(x.shape)}; flatten the images (e.g. input_transforms=[Flatten()])")
        features = self.encoder_trunk(x)
        logits = self._logits(x, features) if self.has_classifier else None
        state = self._state(x, labels, logits)
        z_mu, z_var = self.encoder_head(features, state.condition)
        x_logits = self.decode_logits(self.reparameterize(z_mu, z_var), state.condition)
        outputs = {"z_mu": z_mu, "z_var": z_var, "x_logits": x_logits,
                   "condition": state.condition, "labels": state.labels}
        if logits is not None:
            outputs["logits"] = logits
        outputs.update(self._extra_outputs(state, features, logits))
        if self.training:
            self.objective.add_outputs(self, state, outputs)
        return self.likelihood.mean(x_logits), outputs

    def _logits(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        if self.classifier_average is not None and not self.training:
            return self.classifier_average(x)
        if self.classifier_trunk is None:
            return self.classifier_head(features)
        return self.classifier_head(self.classifier_trunk(x))

    def _state(self, x: torch.Tensor, labels: Optional[torch.Tensor],
               logits: Optional[torch.Tensor]) -> ForwardState:
        """The batch's condition: the labels, or the classifier's classes in evaluation."""
        if labels is None:
            if self.training or logits is None:
                raise ValueError(f"{type(self).__name__} needs each image's condition "
                                 f"{self.condition.names}: call model(x, labels) "
                                 "(add_labels=True)")
            labels = logits.argmax(dim=1)
        values = self.condition.values(labels).to(x.device)
        if values.shape[0] != x.shape[0]:
            raise ValueError(f"expected one label per image ({x.shape[0]}), got "
                             f"{values.shape[0]}")
        if self.condition.is_class_only and values.numel() and int(values.min()) < 0:
            raise ValueError(f"{type(self).__name__} needs every label, got a missing one "
                             f"({int(values.min())}): train SemiSupervisedCVAE for partly "
                             "labelled data")
        known = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        return ForwardState(x, values, known, self.condition.encode(values).to(x.dtype))

    def _extra_outputs(self, state: ForwardState, features: torch.Tensor,
                       logits: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Outputs a subclass adds to every forward (none here)."""
        return {}
