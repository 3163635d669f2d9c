"""The config of the learned-prior CVAE family."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import check_positive
from ..conditional.config import ConditionalConfig


@dataclass
class PriorConfig(ConditionalConfig):
    """The label-conditioned CVAE with a learned conditional prior p(z|c) = N(mu(c),
    sigma(c)^2) instead of N(0, I) (Sohn et al. 2015's conditional prior network).

    Parameters
    ----------
    prior_hidden_dim : int, default 64
        The hidden layer's size of the prior network (the condition to the prior's
        mean and log-variance).
    """

    prior_hidden_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("prior_hidden_dim", self.prior_hidden_dim)
