"""The CVAE losses: reconstruction + KL divergence, and classification.

Each loss reads the model's extra outputs from its ``layer_outputs`` attribute, which
the training loop sets before every call, and is called as
``loss(x_sample, x, y)``: the reconstruction, the image and the class ids.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as func

from .....registry import Losses, Metrics


class _LayerOutputsLoss:
    """A loss that needs the model's ``layer_outputs``."""

    required = ("z_mu", "z_var")

    def __init__(self) -> None:
        self.layer_outputs: Optional[Dict[str, Any]] = None

    def _outputs(self) -> Dict[str, Any]:
        if self.layer_outputs is None:
            raise ValueError(
                f"{type(self).__name__} needs the model to return (prediction, "
                f"layer_outputs) with {list(self.required)} in layer_outputs")
        missing = [key for key in self.required if key not in self.layer_outputs]
        if missing:
            raise ValueError(
                f"{type(self).__name__} needs {missing} in the model's layer_outputs, "
                f"which holds {sorted(self.layer_outputs)}")
        return self.layer_outputs


@Losses.register
@Metrics.register
class VAELoss(_LayerOutputsLoss):
    """The negative ELBO per image: binary cross-entropy + KL(q(z|x) || N(0, I)).

    Examples
    --------
    >>> loss = VAELoss()
    >>> loss.layer_outputs = {"z_mu": torch.zeros(2, 3), "z_var": torch.zeros(2, 3)}
    >>> float(loss(torch.full((2, 4), 0.5), torch.full((2, 4), 0.5)))  # 4 * log 2
    2.772588...
    """

    def __call__(self, x_sample: torch.Tensor, x: torch.Tensor,
                 y: Optional[torch.Tensor] = None) -> torch.Tensor:
        outputs = self._outputs()
        z_mu, z_var = outputs["z_mu"], outputs["z_var"]
        if x_sample.shape != x.shape:
            raise ValueError(
                f"reconstruction shape {tuple(x_sample.shape)} differs from target shape "
                f"{tuple(x.shape)}; with add_input=True the target is the (transformed) input")
        reconstruction = func.binary_cross_entropy(x_sample, x, reduction="sum")
        kl_divergence = 0.5 * torch.sum(torch.exp(z_var) + z_mu ** 2 - 1.0 - z_var)
        return (reconstruction + kl_divergence) / x_sample.size(0)


@Losses.register
@Metrics.register
class ClassificationLoss(_LayerOutputsLoss):
    """Cross-entropy between the classifier's logits and the class ids."""

    required = ("logits",)

    def __call__(self, x_sample: torch.Tensor, x: torch.Tensor,
                 y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if y is None:
            raise ValueError(
                "ClassificationLoss needs class ids: give the DataManager labels=[...]")
        return func.cross_entropy(self._outputs()["logits"], y, reduction="mean")


@Losses.register
class DecodeLoss(_LayerOutputsLoss):
    """The tutorial's training loss: ``VAELoss + classification_weight * ClassificationLoss``.

    Parameters
    ----------
    classification_weight : float, default 10.0
        The weight of the classification term (the tutorial's value).
    return_terms : bool, default False
        Return ``(loss, {"VAELoss": ..., "ClassificationLoss": ...})``: the two terms,
        detached, as the loss's extra values. The training loop reports them under
        those names and does not compute the metrics ``VAELoss`` and
        ``ClassificationLoss`` again (each costs a forward of its loss per batch).
        By default the loss alone, a tensor.

    Examples
    --------
    >>> loss = DecodeLoss(return_terms=True)
    >>> loss.layer_outputs = {"z_mu": torch.zeros(2, 3), "z_var": torch.zeros(2, 3),
    ...                       "logits": torch.zeros(2, 5)}
    >>> value, terms = loss(torch.full((2, 4), 0.5), torch.full((2, 4), 0.5),
    ...                     torch.tensor([0, 1]))
    >>> sorted(terms), bool(value == terms["VAELoss"] + 10 * terms["ClassificationLoss"])
    (['ClassificationLoss', 'VAELoss'], True)
    """

    required = ("z_mu", "z_var", "logits")

    def __init__(self, classification_weight: float = 10.0,
                 return_terms: bool = False) -> None:
        super().__init__()
        self.classification_weight = float(classification_weight)
        self.return_terms = bool(return_terms)
        self.auto_encode = VAELoss()
        self.classification = ClassificationLoss()

    def __call__(self, x_sample: torch.Tensor, x: torch.Tensor,
                 y: Optional[torch.Tensor] = None
                 ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
        outputs = self._outputs()
        self.auto_encode.layer_outputs = outputs
        self.classification.layer_outputs = outputs
        auto_encode = self.auto_encode(x_sample, x, y)
        classification = self.classification(x_sample, x, y)
        loss = auto_encode + self.classification_weight * classification
        if not self.return_terms:
            return loss
        return loss, {"VAELoss": auto_encode.detach(),
                      "ClassificationLoss": classification.detach()}
