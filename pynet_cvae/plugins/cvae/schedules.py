"""Per-epoch schedules, as ``before_epoch`` observers: KL warm-up, Gumbel temperature.

Each observer sets its value from the signal's epoch alone, so a resumed run gets the
same value as an uninterrupted one::

    interface.add_observer("before_epoch", KLWarmup(epochs=5))
    interface.add_observer("before_epoch", TemperatureSchedule(1.0, 0.5, epochs=10))

A schedule composes with the model's own weights: :class:`KLWarmup` sets the
``scale`` of the objective's KL terms, which multiplies their ``weight``, so a
model configured with ``kl_weight=4`` (a beta-VAE) warms up from near 0 to 4.
"""

from __future__ import annotations

from typing import Any

from .objective import KLDivergence, Objective


class KLWarmup:
    """Scale the KL divergence's weight linearly from ``1 / (epochs + 1)`` to 1.

    Epoch ``e`` (from 0) trains with the KL term's weight times
    ``min(1, (e + 1) / (epochs + 1))``: the first epochs learn to reconstruct before
    the KL term pulls the codes to the prior. ``epochs=0`` keeps the scale at 1. The
    loss is an :class:`~pynet_cvae.plugins.cvae.objective.Objective` (its
    :class:`~pynet_cvae.plugins.cvae.objective.KLDivergence` terms are scaled), or any
    loss with a ``kl_weight`` attribute (set to the scale).

    Parameters
    ----------
    epochs : int
        The number of warm-up epochs.
    """

    def __init__(self, epochs: int) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
        self.epochs = epochs

    def weight(self, epoch: int) -> float:
        """The KL weight of an epoch.

        Parameters
        ----------
        epoch : int
            The epoch, from 0.

        Returns
        -------
        float
            The weight, in (0, 1].
        """
        return min(1.0, (epoch + 1) / (self.epochs + 1))

    def __call__(self, signal: Any) -> None:
        loss = signal.object.loss
        weight = self.weight(signal.epoch)
        terms = loss.terms_of(KLDivergence) if isinstance(loss, Objective) else []
        if terms:
            for term in terms:
                term.scale = weight
        elif hasattr(loss, "kl_weight") and not isinstance(loss, Objective):
            loss.kl_weight = weight
        else:
            raise AttributeError(f"KLWarmup needs an objective with a KL term (a zoo model's "
                                 f"objective) or a loss with a kl_weight attribute; got "
                                 f"{type(loss).__name__}")

    def __repr__(self) -> str:
        return f"KLWarmup(epochs={self.epochs})"


class TemperatureSchedule:
    """Anneal the model's Gumbel-softmax ``temperature`` geometrically.

    Epoch ``e`` uses ``start * (end / start) ** min(1, e / epochs)``.

    Parameters
    ----------
    start, end : float
        The first and last temperatures (> 0).
    epochs : int
        The number of epochs from ``start`` to ``end``.
    """

    def __init__(self, start: float = 1.0, end: float = 0.5, epochs: int = 10) -> None:
        if not (start > 0 and end > 0):
            raise ValueError(f"temperatures must be > 0, got start={start!r}, end={end!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        self.start, self.end, self.epochs = float(start), float(end), epochs

    def temperature(self, epoch: int) -> float:
        """The temperature of an epoch.

        Parameters
        ----------
        epoch : int
            The epoch, from 0.

        Returns
        -------
        float
            The Gumbel-softmax temperature.
        """
        progress = min(1.0, epoch / self.epochs)
        return self.start * (self.end / self.start) ** progress

    def __call__(self, signal: Any) -> None:
        model = signal.object.model
        if not hasattr(model, "temperature"):
            raise AttributeError(f"TemperatureSchedule needs a model with a temperature "
                                 f"attribute (like SemiSupervisedCVAE); got {type(model).__name__}")
        model.temperature = self.temperature(signal.epoch)

    def __repr__(self) -> str:
        return f"TemperatureSchedule(start={self.start}, end={self.end}, epochs={self.epochs})"
