"""The semi-supervised CVAE: Kingma et al. (2014)'s M2, with FixMatch's pseudo-labels.

Labels may be missing (any negative class id, e.g. ``-1``). For a labelled image
(x, y) the objective is the negative ELBO of log p(x|y) plus the classifier's
weighted cross-entropy; for an unlabelled one the class is a latent variable::

    sum_y q(y|x) [-log p(x|z_y, y) + kl_weight * KL(q(z|x, y) || N(0, I))]
        + KL(q(y|x) || uniform)

summed exactly over the classes (``unlabelled="marginal"``) or estimated with one
class sampled from q(y|x) (``unlabelled="sample"``); with ``pseudo_labels`` the
classifier also learns from its confident guesses on unlabelled images.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as func

from .....distributed import batch_noise_like
from .....registry import Losses, Networks
from ...objective import (ClassPrior, Classification, Consistency, ForwardState,
                          KLDivergence, Objective, PseudoLabels, Reconstruction, Term)
from ..conditional.model import ConditionalCVAE
from .config import SemiSupervisedConfig


@Networks.register
class SemiSupervisedCVAE(ConditionalCVAE):
    """The label-conditioned CVAE on partly labelled images (see the module documentation).

    Call it as ``model(x, labels)``: labelled images (``labels >= 0``) are encoded
    and decoded with their true class, unlabelled ones (a negative label, or
    ``labels=None``) with the classifier's (every class in training with
    ``unlabelled="marginal"``).

    Parameters
    ----------
    config : SemiSupervisedConfig or dict, optional
        The configuration (see :class:`SemiSupervisedConfig`); keyword arguments
        override its fields.
    encoder, decoder, classifier_trunk : torch.nn.Module, optional
        Injected networks (see :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`).
    **fields
        Config fields.

    Notes
    -----
    ``layer_outputs`` hold those of :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`
    (``labels`` with -1 for unlabelled images), ``elbo_logits`` when the ELBO must not
    train the classifier, and in training ``marginal_rows``, ``marginal_weights``,
    ``marginal_x_logits``, ``marginal_z_mu``, ``marginal_z_var`` (one row per
    unlabelled image and class) and the pseudo-labelling outputs (``pseudo_logits``,
    ``pseudo_labels``, ``pseudo_mask``, ``augmented_logits``).
    """

    config_class = SemiSupervisedConfig

    def __init__(self, config: Any = None, **fields: Any) -> None:
        super().__init__(config, **fields)
        if not self.condition.is_class_only:
            raise ValueError(f"the semi-supervised CVAE's condition is the class; got "
                             f"{self.condition.names}")
        self.temperature = float(self.config.temperature)

    def objective_terms(self) -> List[Term]:
        """The conditional CVAE's terms, the class prior of unlabelled images and, with
        ``pseudo_labels``, the pseudo-label term."""
        config = self.config
        terms = super().objective_terms()
        terms.insert(2, ClassPrior())
        if config.pseudo_labels:
            terms.append(PseudoLabels(config.pseudo_label_weight,
                                      config.pseudo_label_threshold, config.augment_flip))
        return terms

    def _state(self, x: torch.Tensor, labels: Optional[torch.Tensor],
               logits: Optional[torch.Tensor]) -> ForwardState:
        """The true class of labelled images; the classifier's for the others."""
        labels = self._known_labels(x, labels)
        known = labels >= 0
        elbo_logits = self._elbo_logits(logits)
        onehot = func.one_hot(labels.clamp(min=0), self.n_classes).to(x.dtype)
        if not bool(known.all()):
            if self.training:
                guessed = gumbel_softmax(elbo_logits, self.temperature, self.config.hard)
            else:
                guessed = func.one_hot(elbo_logits.argmax(dim=1), self.n_classes).to(x.dtype)
            onehot = torch.where(known[:, None], onehot, guessed)
        return ForwardState(x, labels, known, onehot)

    def _elbo_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.config.elbo_trains_classifier else logits.detach()

    def _known_labels(self, x: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        if labels is None:
            return torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        labels = labels.reshape(-1).long()
        if labels.numel() != x.shape[0]:
            raise ValueError(f"expected one label per image ({x.shape[0]}), got "
                             f"{labels.numel()}")
        if labels.numel() and int(labels.max()) >= self.n_classes:
            raise ValueError(f"class ids must lie in [0, {self.n_classes}) (or be negative "
                             f"for a missing label), got {int(labels.max())}")
        return labels

    def _extra_outputs(self, state: ForwardState, features: torch.Tensor,
                       logits: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        outputs: Dict[str, torch.Tensor] = {}
        elbo_logits = self._elbo_logits(logits)
        if not self.config.elbo_trains_classifier:
            outputs["elbo_logits"] = elbo_logits
        if self.training and self.config.unlabelled == "marginal" \
                and not bool(state.known.all()):
            outputs.update(self._marginal_outputs(features, state.known, elbo_logits))
        return outputs

    def _marginal_outputs(self, features: torch.Tensor, known: torch.Tensor,
                          elbo_logits: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Every class for every unlabelled image: rows ``image * n_classes + class``."""
        rows = torch.nonzero(~known).reshape(-1)
        count = rows.numel()
        repeated = features[rows].repeat_interleave(self.n_classes, dim=0)
        classes = torch.eye(self.n_classes, dtype=features.dtype, device=features.device)
        classes = classes.repeat(count, 1)
        z_mu, z_var = self.encoder_head(repeated, classes)
        x_logits = self.decode_logits(
            self.reparameterize(z_mu, z_var), classes)
        return {"marginal_rows": rows, "marginal_x_logits": x_logits,
                "marginal_z_mu": z_mu, "marginal_z_var": z_var,
                "marginal_weights": func.softmax(elbo_logits[~known], dim=1)}


def gumbel_softmax(logits: torch.Tensor, temperature: float, hard: bool) -> torch.Tensor:
    """A class sampled from ``softmax(logits)`` by the Gumbel-softmax relaxation.

    As ``torch.nn.functional.gumbel_softmax``, with the Gumbel noise drawn per sample
    of the batch (:func:`~pynet_cvae.distributed.batch_noise_like`): in a run over
    several processes each image gets the noise of the one-process run with the global
    batch, where ``torch``'s function would give every process the same draws.

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, classes)`` unnormalised log-probabilities.
    temperature : float
        The relaxation's temperature (> 0).
    hard : bool
        Return one-hot vectors whose gradient is the relaxed sample's.

    Returns
    -------
    torch.Tensor
        ``(batch, classes)``.
    """
    uniform = batch_noise_like(logits, "uniform")
    tiny = torch.finfo(logits.dtype).tiny
    gumbels = -torch.log(-torch.log(uniform.clamp(min=tiny)))
    relaxed = func.softmax((logits + gumbels) / temperature, dim=-1)
    if not hard:
        return relaxed
    onehot = func.one_hot(relaxed.argmax(dim=-1), logits.shape[-1]).to(relaxed.dtype)
    return onehot - relaxed.detach() + relaxed


@Losses.register
class ConditionalELBOLoss(Objective):
    """The semi-supervised objective with the given weights, as a loss on its own.

    :attr:`SemiSupervisedCVAE.objective` is built from the model's config; this
    loss, with every term of the M2 family, trains any model giving the same outputs
    (a term whose outputs are absent counts 0).

    Parameters
    ----------
    classification_weight : float, default 10.0
        The weight of the classifier's cross-entropy on labelled images.
    consistency_weight : float, default 0.0
        The weight of the consistency term.
    kl_weight : float, default 1.0
        The weight of the KL divergence of z.
    pseudo_label_weight : float, default 10.0
        The weight of the pseudo-label cross-entropy.

    Returns
    -------
    loss, values
        The scalar loss and ``reconstruction``, ``kl``, ``class_kl``,
        ``cross_entropy``, ``consistency`` and ``pseudo_label``.
    """

    def __init__(self, classification_weight: float = 10.0, consistency_weight: float = 0.0,
                 kl_weight: float = 1.0, pseudo_label_weight: float = 10.0) -> None:
        super().__init__([Reconstruction(), KLDivergence(kl_weight), ClassPrior(),
                          Classification(classification_weight),
                          Consistency(consistency_weight), PseudoLabels(pseudo_label_weight)])

    @property
    def kl_weight(self) -> float:
        """The weight of the KL term."""
        return self["kl"].weight

    @kl_weight.setter
    def kl_weight(self, value: float) -> None:
        self["kl"].weight = float(value)
