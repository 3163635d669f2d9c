"""The terms of an objective: each adds the outputs it needs and its loss.

A term is a small object with a ``name`` (under which its value is reported), a
``weight`` (the model's own, from its config) and a ``scale`` (1, set by schedules
such as :class:`~pynet_cvae.plugins.cvae.KLWarmup`): it contributes
``weight * scale * value`` to the loss. Its two methods:

``outputs(model, state)``
    Called by the model's training forward: the extra outputs the term needs (prior
    draws decoded for the consistency term, augmented views for pseudo-labels), put
    into ``layer_outputs``. Most terms need none.
``value(outputs, x)``
    Its unweighted value on a batch, from the model's ``layer_outputs`` and the
    images; 0 when the outputs it reads are absent (training-only terms in
    evaluation).

The reconstruction and KL terms are summed over the images and divided by the batch
size (nats per image). When a semi-supervised model decodes every class of its
unlabelled images (``marginal_*`` outputs), both sum the labelled rows and the
classes of the unlabelled ones weighted by q(y|x) (``marginal_weights``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as func

from ....distributed import shared_draws
from ..augmentation import strong_view, weak_view
from .likelihoods import Bernoulli, class_kl, gaussian_kl

__all__ = ["ForwardState", "Term", "Reconstruction", "KLDivergence", "ClassPrior",
           "Classification", "Consistency", "PseudoLabels", "LatentIndependence"]


@dataclass
class ForwardState:
    """What a model's forward knows about a batch, handed to the terms' ``outputs``.

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, input_dim)`` images.
    labels : torch.Tensor
        The condition values (class ids, -1 for a missing one, or a table).
    known : torch.Tensor
        ``(batch,)`` True where the condition is known.
    condition : torch.Tensor
        ``(batch, width)`` the encoded condition the networks saw.
    """

    x: torch.Tensor
    labels: torch.Tensor
    known: torch.Tensor
    condition: torch.Tensor


class Term:
    """The base of the objective's terms (see the module documentation).

    Parameters
    ----------
    weight : float, default 1.0
        The term's weight.
    """

    name = "term"

    def __init__(self, weight: float = 1.0) -> None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"the weight of {type(self).__name__} must be a number, got "
                             f"{weight!r}")
        self.weight = float(weight)
        self.scale = 1.0

    @property
    def effective_weight(self) -> float:
        """``weight * scale``: what multiplies the value in the loss."""
        return self.weight * self.scale

    def outputs(self, model: Any, state: ForwardState) -> Dict[str, torch.Tensor]:
        """The extra outputs of the model's training forward (none by default)."""
        return {}

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        """The term's unweighted value on the batch."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight:g})"


def _elbo_sum(outputs: Dict[str, Any], main: torch.Tensor,
              marginal: Optional[torch.Tensor]) -> torch.Tensor:
    """The sum of a per-row quantity over the ELBO's rows (see the module docs)."""
    if marginal is None:
        return main.sum()
    known = outputs["labels"] >= 0
    weights = outputs["marginal_weights"]
    return main[known].sum() + (weights * marginal.view(weights.shape)).sum()


class Reconstruction(Term):
    """-log p(x|z, c), nats per image.

    Parameters
    ----------
    likelihood : Bernoulli or Gaussian, optional
        The pixels' likelihood (default Bernoulli, on the decoder's logits).
    weight : float, default 1.0
    """

    name = "reconstruction"

    def __init__(self, likelihood: Any = None, weight: float = 1.0) -> None:
        super().__init__(weight)
        self.likelihood = likelihood if likelihood is not None else Bernoulli()

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        main = self.likelihood.nll(outputs["x_logits"], x)
        marginal = None
        if "marginal_rows" in outputs:
            n_classes = outputs["marginal_weights"].shape[1]
            targets = x[outputs["marginal_rows"]].repeat_interleave(n_classes, dim=0)
            marginal = self.likelihood.nll(outputs["marginal_x_logits"], targets)
        return _elbo_sum(outputs, main, marginal) / x.shape[0]

    def __repr__(self) -> str:
        return f"Reconstruction({self.likelihood!r}, weight={self.weight:g})"


class KLDivergence(Term):
    """KL(q(z|x, c) || p(z|c)), nats per image: N(0, I) unless the model gives a learned
    prior (``prior_mu``, ``prior_var`` outputs).

    Parameters
    ----------
    weight : float, default 1.0
        The weight (beta of a beta-VAE); a warm-up scales it (``scale``).
    """

    name = "kl"

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        main = gaussian_kl(outputs["z_mu"], outputs["z_var"], outputs.get("prior_mu"),
                           outputs.get("prior_var"))
        marginal = None
        if "marginal_rows" in outputs:
            marginal = gaussian_kl(outputs["marginal_z_mu"], outputs["marginal_z_var"],
                                   outputs.get("marginal_prior_mu"),
                                   outputs.get("marginal_prior_var"))
        return _elbo_sum(outputs, main, marginal) / x.shape[0]


class ClassPrior(Term):
    """KL(q(y|x) || uniform) of the unlabelled images, nats per image of the batch: the
    class of an unlabelled image is a latent variable (Kingma et al. 2014's M2).

    It reads ``elbo_logits`` (the classifier's logits as the ELBO sees them,
    detached when the ELBO must not train the classifier) or ``logits``.
    """

    name = "class_kl"

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        unknown = outputs["labels"] < 0
        if not bool(unknown.any()):
            return x.new_zeros(())
        logits = outputs.get("elbo_logits", outputs["logits"])[unknown]
        return class_kl(logits).sum() / x.shape[0]


class Classification(Term):
    """The classifier's cross-entropy, mean over the labelled images (their weakly
    augmented views when the model gives ``augmented_logits``).

    Parameters
    ----------
    weight : float, default 10.0
        The tutorial's weight.
    """

    name = "cross_entropy"

    def __init__(self, weight: float = 10.0) -> None:
        super().__init__(weight)

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        labels = outputs["labels"]
        known = labels >= 0
        if not bool(known.any()):
            return x.new_zeros(())
        if "augmented_logits" in outputs:
            return func.cross_entropy(outputs["augmented_logits"], labels[known])
        return func.cross_entropy(outputs["logits"][known], labels[known])


class LatentIndependence(Term):
    """The squared correlations, over the batch, between the latent means and the
    condition: a latent code that says nothing linear about the covariates.

    A CVAE's encoder sees the condition, yet its latent code can still carry what
    varies with a covariate (the ventricles, which grow with age); the decoder then
    splits that effect between ``z`` and the covariate, and decoding a subject at
    another age moves its image the wrong way. This term is the sum over latent
    dimensions and condition columns of their Pearson correlation squared across the
    batch's rows (columns constant over the batch are left out).

    It is a statistic of the batch: under ``torchrun`` each process computes it on its
    own slice, so the training is not the one-process training with the global batch.

    Parameters
    ----------
    weight : float, default 1.0
        The weight.
    """

    name = "independence"

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        condition = outputs.get("condition")
        if condition is None or x.shape[0] < 3:
            return x.new_zeros(())
        latent = _standardised_columns(outputs["z_mu"])
        covariates = _standardised_columns(condition.to(latent.dtype))
        correlation = latent.T @ covariates / x.shape[0]
        return (correlation ** 2).sum()


def _standardised_columns(values: torch.Tensor) -> torch.Tensor:
    """The columns of ``values`` centred and scaled to unit variance, those constant
    over the rows dropped."""
    centred = values - values.mean(dim=0, keepdim=True)
    spread = centred.pow(2).mean(dim=0).sqrt()
    varying = spread > 1e-6
    return centred[:, varying] / spread[varying]


class Consistency(Term):
    """The frozen classifier's cross-entropy on images decoded from the prior p(z|c)
    with random classes: it asks the decoder to draw the class it is given.

    The draws are the same on every process of a distributed run
    (:func:`~pynet_cvae.distributed.shared_draws`), as in the one-process run.

    Parameters
    ----------
    weight : float, default 1.0
    samples : int, default 64
        Prior draws per training batch.
    """

    name = "consistency"

    def __init__(self, weight: float = 1.0, samples: int = 64) -> None:
        super().__init__(weight)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        self.samples = samples

    def outputs(self, model: Any, state: ForwardState) -> Dict[str, torch.Tensor]:
        with shared_draws():
            return self._generated(model, state.x.device)

    def _generated(self, model: Any, device: torch.device) -> Dict[str, torch.Tensor]:
        labels = torch.randint(model.n_classes, (self.samples,), device=device)
        noise = torch.randn(self.samples, model.latent_dim, device=device)
        condition = model.condition.encode(labels).to(device)
        prior_mu, prior_var = model.prior_parameters(condition)
        images = model.decode(prior_mu + noise * torch.exp(prior_var / 2), condition)
        return {"generated_logits": model.frozen_classify(images),
                "generated_labels": labels}

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        if "generated_logits" not in outputs:
            return x.new_zeros(())
        return func.cross_entropy(outputs["generated_logits"], outputs["generated_labels"])

    def __repr__(self) -> str:
        return f"Consistency(weight={self.weight:g}, samples={self.samples})"


class PseudoLabels(Term):
    """FixMatch's pseudo-labels (Sohn et al. 2020): the classifier's confident guess on a
    weakly augmented view of an unlabelled image is the target of a strongly augmented
    view; the labelled images train the classifier on weak views
    (``augmented_logits``, read by :class:`Classification`).

    Parameters
    ----------
    weight : float, default 10.0
        By default a pseudo-label counts as much as a label.
    threshold : float, default 0.95
        The confidence a guess needs to become a target, in (0, 1].
    flip : bool, default False
        Also mirror the views left to right at random (clothes, not digits).
    """

    name = "pseudo_label"

    def __init__(self, weight: float = 10.0, threshold: float = 0.95,
                 flip: bool = False) -> None:
        super().__init__(weight)
        if not 0 < threshold <= 1:
            raise ValueError(f"pseudo_label_threshold must lie in (0, 1], got {threshold!r}")
        self.threshold, self.flip = float(threshold), bool(flip)

    def outputs(self, model: Any, state: ForwardState) -> Dict[str, torch.Tensor]:
        x, known, shape = state.x, state.known, model.image_shape
        outputs = {}
        if bool(known.any()):
            outputs["augmented_logits"] = model.classify(weak_view(x[known], shape, self.flip))
        unlabelled = x[~known]
        if not len(unlabelled):
            return outputs
        with torch.no_grad():
            guesses = func.softmax(model.classify(weak_view(unlabelled, shape, self.flip)), 1)
            confidence, labels = guesses.max(dim=1)
        outputs["pseudo_logits"] = model.classify(strong_view(unlabelled, shape, self.flip))
        outputs["pseudo_labels"] = labels
        outputs["pseudo_mask"] = (confidence >= self.threshold).to(x.dtype)
        return outputs

    def value(self, outputs: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        if "pseudo_logits" not in outputs:
            return x.new_zeros(())
        losses = func.cross_entropy(outputs["pseudo_logits"], outputs["pseudo_labels"],
                                    reduction="none")
        return (losses * outputs["pseudo_mask"]).mean()

    def __repr__(self) -> str:
        return (f"PseudoLabels(weight={self.weight:g}, threshold={self.threshold:g}, "
                f"flip={self.flip})")
