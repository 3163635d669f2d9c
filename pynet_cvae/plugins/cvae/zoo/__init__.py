"""The model zoo: one folder per model family, each a typed config and the model.

``tutorial/``
    pynet's tutorial CVAE (:class:`CVAE`): a classifier picks the class the decoder
    sees; the encoder never sees it. Trained with :class:`DecodeLoss`.
``conditional/``
    The label-conditioned CVAE (:class:`ConditionalCVAE`): the encoder and the
    decoder see the condition (a class, or any set of covariates).
``m2/``
    The semi-supervised CVAE (:class:`SemiSupervisedCVAE`): Kingma et al.'s M2 on
    partly labelled data, with pseudo-labels.

Each model but the tutorial's is a :class:`~.base.ZooModel`: it owns its objective
(``model.objective``, the list of its terms), builds its networks from registered
names or takes them injected, and offers the generation interface. A family is
added by a folder and its registration here.
"""

from .base import ZooModel
from .conditional import ConditionalConfig, ConditionalCVAE
from .m2 import ConditionalELBOLoss, SemiSupervisedConfig, SemiSupervisedCVAE
from .tutorial import (CVAE, ClassificationLoss, DecodeLoss, Decoder, DigitClassifier,
                       Encoder, TutorialConfig, VAELoss, idx2onehot)

__all__ = ["ZooModel", "TutorialConfig", "CVAE", "Encoder", "Decoder", "DigitClassifier",
           "idx2onehot", "VAELoss", "ClassificationLoss", "DecodeLoss", "ConditionalConfig",
           "ConditionalCVAE", "SemiSupervisedConfig", "SemiSupervisedCVAE",
           "ConditionalELBOLoss"]
