"""The config of the semi-supervised M2 family."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import check_weight
from ..conditional.config import ConditionalConfig

#: How the class of an unlabelled image is trained.
UNLABELLED_MODES = ("marginal", "sample")


@dataclass
class SemiSupervisedConfig(ConditionalConfig):
    """The label-conditioned CVAE trained on partly labelled data (Kingma et al. 2014's
    M2), with pseudo-labels (Sohn et al. 2020). Its condition is the class.

    Parameters
    ----------
    unlabelled : {"marginal", "sample"}, default "marginal"
        How unlabelled images are trained: every class decoded and weighted by
        q(y|x), or one class sampled from q(y|x) (Gumbel-softmax, cheaper).
    temperature : float, default 1.0
        The Gumbel-softmax temperature of the sampled classes
        (:class:`~pynet_cvae.plugins.cvae.TemperatureSchedule` anneals it).
    hard : bool, default True
        Sample one-hot classes (straight-through gradients) rather than soft ones.
    pseudo_labels : bool, default False
        Teach the classifier on unlabelled images too: the class it gives a weakly
        augmented view with a probability of at least ``pseudo_label_threshold``
        becomes the target of a strongly augmented view.
    pseudo_label_threshold : float, default 0.95
        The confidence a guess needs to become a target, in (0, 1].
    pseudo_label_weight : float, default 10.0
        The weight of the pseudo-label cross-entropy.
    augment_flip : bool, default False
        The augmented views are also mirrored left to right at random (clothes, not
        digits).
    elbo_trains_classifier : bool, default True
        Whether the ELBO of unlabelled images (through the class it sums or samples
        under q(y|x), and KL(q(y|x) || uniform)) trains the classifier, as in M2.
        With False the classifier learns from labels and pseudo-labels only; give it
        its own trunk then (``classifier_trunk``), or the shared trunk still learns
        from the ELBO through the encoder.
    """

    unlabelled: str = "marginal"
    temperature: float = 1.0
    hard: bool = True
    pseudo_labels: bool = False
    pseudo_label_threshold: float = 0.95
    pseudo_label_weight: float = 10.0
    augment_flip: bool = False
    elbo_trains_classifier: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unlabelled not in UNLABELLED_MODES:
            raise ValueError(f"unlabelled must be one of {UNLABELLED_MODES}, got "
                             f"{self.unlabelled!r}")
        if not self.classifier:
            raise ValueError("the semi-supervised CVAE needs its classifier: "
                             "classifier=True")
        if not 0 < self.pseudo_label_threshold <= 1:
            raise ValueError(f"pseudo_label_threshold must lie in (0, 1], got "
                             f"{self.pseudo_label_threshold!r}")
        check_weight("temperature", self.temperature, positive=True)
        check_weight("pseudo_label_weight", self.pseudo_label_weight)
