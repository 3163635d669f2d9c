"""The model zoo: one folder per model family, each a typed config and the model.

Each sub-package is a family, and its page says what it models: ``tutorial/``
holds pynet's tutorial CVAE (:class:`CVAE`), ``conditional/`` the label-conditioned
CVAE (:class:`ConditionalCVAE`), ``m2/`` the semi-supervised M2 with pseudo-labels
(:class:`SemiSupervisedCVAE`); the tree shows the others.

Each model but the tutorial's is a :class:`~.base.ZooModel`: it owns its objective
(``model.objective``, the list of its terms), builds its networks from registered
names or takes them injected, and offers the generation interface. A family is
added by its folder and one line below importing it, which registers its model.
"""

from .base import ZooModel
from .conditional import ConditionalConfig, ConditionalCVAE
from .m2 import ConditionalELBOLoss, SemiSupervisedConfig, SemiSupervisedCVAE
from .prior import LearnedPriorCVAE, PriorConfig  # noqa: F401  (a learned prior p(z|c))
from .tutorial import (CVAE, ClassificationLoss, DecodeLoss, Decoder, DigitClassifier,
                       Encoder, TutorialConfig, VAELoss, idx2onehot)

__all__ = ["ZooModel", "TutorialConfig", "CVAE", "Encoder", "Decoder", "DigitClassifier",
           "idx2onehot", "VAELoss", "ClassificationLoss", "DecodeLoss", "ConditionalConfig",
           "ConditionalCVAE", "SemiSupervisedConfig", "SemiSupervisedCVAE",
           "ConditionalELBOLoss"]
