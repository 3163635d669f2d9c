"""The CVAE with a learned conditional prior.

The label-conditioned CVAE pulls every code towards N(0, I), whatever the
condition. Here a small network maps the encoded condition to the prior's mean and
log-variance, p(z|c) = N(mu(c), diag(exp(log_var(c)))): the KL term compares
q(z|x, c) with that prior, and generation draws z from it. The prior network starts
at N(0, I) (its output layers are zero), so training starts from the conditional
CVAE and moves away only as far as the data ask.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn

from .....registry import Networks
from ...networks import GaussianHead
from ...objective import ForwardState
from ..conditional.model import ConditionalCVAE
from .config import PriorConfig


@Networks.register
class LearnedPriorCVAE(ConditionalCVAE):
    """A label-conditioned CVAE whose prior p(z|c) is learned (see the module
    documentation).

    Parameters
    ----------
    config : PriorConfig or dict, optional
        The configuration (see :class:`PriorConfig`); keyword arguments override its
        fields.
    encoder, decoder, classifier_trunk : torch.nn.Module, optional
        Injected networks (see :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`).
    **fields
        Config fields.

    Notes
    -----
    ``layer_outputs`` hold those of :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`
    and ``prior_mu``, ``prior_var``: the prior of each image's condition, which the
    objective's KL term reads.
    """

    config_class = PriorConfig

    def __init__(self, config: Any = None, **fields: Any) -> None:
        super().__init__(config, **fields)
        self.prior = GaussianHead(0, self.condition.width, self.config.prior_hidden_dim,
                                  self.latent_dim)
        for layer in (self.prior.mu, self.prior.var):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def prior_parameters(self, condition: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The learned prior p(z|c): mean and log-variance, ``(batch, latent_dim)`` each.

        Parameters
        ----------
        condition : torch.Tensor
            ``(batch, width)`` encoded conditions.
        """
        condition = condition.to(self.prior.hidden.weight.dtype)
        return self.prior(condition.new_zeros(condition.shape[0], 0), condition)

    def _extra_outputs(self, state: ForwardState, features: torch.Tensor,
                       logits: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        prior_mu, prior_var = self.prior_parameters(state.condition)
        return {"prior_mu": prior_mu, "prior_var": prior_var}
