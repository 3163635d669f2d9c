"""The tutorial's recipe, shared by every contender of the peer benchmark.

The CVAE of the tutorial (784 -> 128 -> 20 latent, 10 classes), its training loss
``DecodeLoss(classification_weight=10)``, its metrics ``ClassificationLoss`` and
``VAELoss``, Adam with a learning rate of 1e-3 and mini-batches of 64 images. The
model and the losses come from :mod:`pynet_cvae.plugins.cvae` for every contender,
so that only the training machinery differs between them.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch

from pynet_cvae.plugins.cvae import CVAE, ClassificationLoss, DecodeLoss, VAELoss

BATCH_SIZE = 64
LEARNING_RATE = 1e-3
CLASSIFICATION_WEIGHT = 10.0
INPUT_DIM = 28 * 28
HIDDEN_DIM = 128
LATENT_DIM = 20
N_CLASSES = 10
NUMBER_OF_FOLDS = 10


def build_model() -> CVAE:
    """The tutorial's CVAE."""
    return CVAE(INPUT_DIM, HIDDEN_DIM, LATENT_DIM, N_CLASSES)


def build_loss(return_terms: bool = False) -> DecodeLoss:
    """The tutorial's training loss.

    With ``return_terms`` it also returns its two terms, which pynet-cvae reports as
    the metrics of the same names instead of computing them again.
    """
    return DecodeLoss(classification_weight=CLASSIFICATION_WEIGHT, return_terms=return_terms)


def build_metrics() -> List[object]:
    """The tutorial's metrics, in the tutorial's order."""
    return [ClassificationLoss(), VAELoss()]


def build_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    """The tutorial's optimizer (torch's default Adam implementation)."""
    return torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)


def metric_name(metric: object) -> str:
    """A metric's name as the tutorial's interface reports it (its class name)."""
    return type(metric).__name__


def forward_loss(model: torch.nn.Module, loss: DecodeLoss, images: torch.Tensor,
                 labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Dict]:
    """Run the model on a batch; return ``(loss, reconstruction, layer_outputs)``.

    The image is its own reconstruction target, as with ``add_input=True``.
    """
    reconstruction, layer_outputs = model(images)
    loss.layer_outputs = layer_outputs
    return loss(reconstruction, images, labels), reconstruction, layer_outputs


def metric_values(metrics: Optional[List[object]], reconstruction: torch.Tensor,
                  images: torch.Tensor, labels: torch.Tensor,
                  layer_outputs: Dict) -> Dict[str, torch.Tensor]:
    """Each metric on a batch, without gradients, as device tensors (no host sync)."""
    values = {}
    if not metrics:
        return values
    with torch.no_grad():
        for metric in metrics:
            metric.layer_outputs = layer_outputs
            values[metric_name(metric)] = metric(reconstruction.detach(), images, labels)
    return values
