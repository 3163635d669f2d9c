"""Metrics of the zoo's models, read from their ``layer_outputs``."""

from __future__ import annotations

from typing import Optional

import torch

from ...registry import Metrics
from .zoo.tutorial.losses import _LayerOutputsLoss


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
