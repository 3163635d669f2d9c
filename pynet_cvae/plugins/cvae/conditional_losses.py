"""The objective of :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`, labels or not.

For a labelled image (x, y) the loss is the negative ELBO of log p(x|y) plus the
weighted cross-entropy of the classifier (as in the tutorial)::

    BCE(x, decode(z, y)) + kl_weight * KL(q(z|x, y) || N(0, I))
        + classification_weight * CE(q(y|x), y)

For an unlabelled image the class is a latent variable: the negative ELBO of
log p(x) with p(y) uniform, without cross-entropy (Kingma et al. 2014, M2)::

    sum_y q(y|x) [BCE(x, decode(z_y, y)) + kl_weight * KL(q(z|x, y) || N(0, I))]
        + KL(q(y|x) || uniform)

summed exactly over the classes (``unlabelled="marginal"`` model outputs) or
estimated with one class sampled from q(y|x) (``unlabelled="sample"``). The
reconstruction and KL terms are summed over the batch's images and divided by the
batch size (nats per image); the cross-entropy is the mean over the labelled images.

With pseudo-labelling (``ConditionalCVAE(pseudo_labels=True)``) the classifier's
cross-entropy is taken on weakly augmented views of the labelled images, and the
unlabelled images add (FixMatch, Sohn et al. 2020)::

    pseudo_label_weight * mean_u [confident_u * CE(q(y|strong(x_u)), argmax q(y|weak(x_u)))]
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as func

from ...registry import Losses, Metrics
from .losses import _LayerOutputsLoss


def gaussian_kl(z_mu: torch.Tensor, z_var: torch.Tensor) -> torch.Tensor:
    """KL(N(z_mu, exp(z_var)) || N(0, I)) of each row, in nats.

    Parameters
    ----------
    z_mu, z_var : torch.Tensor
        ``(batch, latent_dim)`` mean and log-variance.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` divergences.
    """
    return 0.5 * torch.sum(torch.exp(z_var) + z_mu ** 2 - 1.0 - z_var, dim=1)


def bernoulli_nll(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z, y) of each row under independent Bernoulli pixels.

    Parameters
    ----------
    x_logits : torch.Tensor
        ``(batch, pixels)`` logits of the pixels.
    x : torch.Tensor
        ``(batch, pixels)`` images in [0, 1].

    Returns
    -------
    torch.Tensor
        ``(batch,)`` negative log-likelihoods, in nats.
    """
    return func.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1)


def class_kl(logits: torch.Tensor) -> torch.Tensor:
    """KL(q(y|x) || uniform) of each row of classifier logits.

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, n_classes)`` logits.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` divergences, in [0, log(n_classes)].
    """
    log_q = func.log_softmax(logits, dim=1)
    return torch.sum(log_q.exp() * log_q, dim=1) + math.log(logits.shape[1])


@Losses.register
class ConditionalELBOLoss(_LayerOutputsLoss):
    """The (semi-)supervised loss of :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`.

    Parameters
    ----------
    classification_weight : float, default 10.0
        The weight of the classifier's cross-entropy on labelled images.
    consistency_weight : float, default 0.0
        The weight of the cross-entropy of the frozen classifier on images decoded
        from the prior with random classes. The model gives them in training when
        built with ``consistency_samples > 0``; the term is 0 otherwise (and in
        evaluation).
    kl_weight : float, default 1.0
        The weight of KL(q(z|x, y) || N(0, I)); :class:`~pynet_cvae.plugins.cvae.KLWarmup`
        raises it from 0 to 1 over the first epochs.
    pseudo_label_weight : float, default 10.0
        The weight of the pseudo-label cross-entropy on unlabelled images, when the
        model gives it (``pseudo_labels=True``, in training); by default a
        pseudo-label counts as much as a label.

    Returns
    -------
    loss, values
        The scalar loss and the values reported beside it: ``reconstruction``,
        ``kl`` (of z), ``class_kl`` (unlabelled images), ``cross_entropy``,
        ``consistency`` and ``pseudo_label``.
    """

    required = ("z_mu", "z_var", "logits", "labels", "x_logits")

    def __init__(self, classification_weight: float = 10.0, consistency_weight: float = 0.0,
                 kl_weight: float = 1.0, pseudo_label_weight: float = 10.0) -> None:
        super().__init__()
        self.classification_weight = float(classification_weight)
        self.pseudo_label_weight = float(pseudo_label_weight)
        self.consistency_weight = float(consistency_weight)
        self.kl_weight = float(kl_weight)

    def __call__(self, x_sample: torch.Tensor, x: torch.Tensor,
                 y: Optional[torch.Tensor] = None
                 ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        outputs = self._outputs()
        if x_sample.shape != x.shape:
            raise ValueError(
                f"reconstruction shape {tuple(x_sample.shape)} differs from target shape "
                f"{tuple(x.shape)}; with add_input=True the target is the (transformed) input")
        labels = outputs["labels"]
        known = labels >= 0
        batch_size = x.shape[0]
        reconstruction, kl, y_kl = self._elbo_terms(outputs, x, known)
        cross_entropy = self._cross_entropy(outputs, known, labels[known], x)
        pseudo_label = self._pseudo_label_term(outputs, x)
        consistency = x.new_zeros(())
        if "generated_logits" in outputs:
            consistency = func.cross_entropy(outputs["generated_logits"],
                                             outputs["generated_labels"])
        loss = ((reconstruction + self.kl_weight * kl + y_kl) / batch_size
                + self.classification_weight * cross_entropy
                + self.consistency_weight * consistency
                + self.pseudo_label_weight * pseudo_label)
        return loss, {"reconstruction": reconstruction.detach() / batch_size,
                      "kl": kl.detach() / batch_size, "class_kl": y_kl.detach() / batch_size,
                      "cross_entropy": cross_entropy.detach(),
                      "consistency": consistency.detach(),
                      "pseudo_label": pseudo_label.detach()}

    @staticmethod
    def _cross_entropy(outputs: Dict[str, torch.Tensor], known: torch.Tensor,
                       labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The classifier's mean cross-entropy on the labelled images (on their
        augmented views when the model gives them)."""
        if not len(labels):
            return x.new_zeros(())
        if "augmented_logits" in outputs:
            return func.cross_entropy(outputs["augmented_logits"], labels)
        return func.cross_entropy(outputs["logits"][known], labels)

    @staticmethod
    def _pseudo_label_term(outputs: Dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The masked pseudo-label cross-entropy, averaged over the unlabelled images."""
        if "pseudo_logits" not in outputs:
            return x.new_zeros(())
        losses = func.cross_entropy(outputs["pseudo_logits"], outputs["pseudo_labels"],
                                    reduction="none")
        return (losses * outputs["pseudo_mask"]).mean()

    @staticmethod
    def _elbo_terms(outputs: Dict[str, torch.Tensor], x: torch.Tensor, known: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Summed reconstruction, z-KL and class-KL terms of the batch."""
        reconstruction = bernoulli_nll(outputs["x_logits"], x)
        kl = gaussian_kl(outputs["z_mu"], outputs["z_var"])
        unknown = ~known
        if not bool(unknown.any()):
            return reconstruction.sum(), kl.sum(), x.new_zeros(())
        logits = outputs.get("elbo_logits", outputs["logits"])[unknown]
        y_kl = class_kl(logits).sum()
        if "marginal_rows" not in outputs:
            # one class sampled from q(y|x) per unlabelled image: the main pass holds it
            return reconstruction.sum(), kl.sum(), y_kl
        rows = outputs["marginal_rows"]
        n_classes = logits.shape[1]
        targets = x[rows].repeat_interleave(n_classes, dim=0)
        weights = func.softmax(logits, dim=1)
        marginal_reconstruction = bernoulli_nll(outputs["marginal_x_logits"], targets)
        marginal_kl = gaussian_kl(outputs["marginal_z_mu"], outputs["marginal_z_var"])
        reconstruction = (reconstruction[known].sum()
                          + (weights * marginal_reconstruction.view(-1, n_classes)).sum())
        kl = kl[known].sum() + (weights * marginal_kl.view(-1, n_classes)).sum()
        return reconstruction, kl, y_kl


@Metrics.register
class ClassifierAccuracy(_LayerOutputsLoss):
    """The accuracy of the classifier's logits on the labelled images of a batch.

    Images without a label (a negative class id) are left out; a batch without any
    labelled image counts as NaN.
    """

    required = ("logits",)

    def __call__(self, x_sample: torch.Tensor, x: torch.Tensor,
                 y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if y is None:
            raise ValueError("ClassifierAccuracy needs class ids: give the DataManager "
                             "labels=[...]")
        known = y >= 0
        if not bool(known.any()):
            return torch.tensor(float("nan"))
        predicted = self._outputs()["logits"].argmax(dim=1)
        return (predicted[known] == y[known]).float().mean()
