"""The conditional variational autoencoder (CVAE) plugin: a zoo of conditional models.

Importing this package registers:

- networks: the zoo's models (:mod:`.zoo`: :class:`CVAE`, the tutorial's;
  :class:`ConditionalCVAE`; :class:`SemiSupervisedCVAE`), the tutorial's parts
  (:class:`Encoder`, :class:`Decoder`, :class:`DigitClassifier`) and the shared
  building blocks of :mod:`.networks` (dense, 2-D and 3-D convolutional trunks and
  decoders);
- losses (and metrics): :class:`DecodeLoss`, :class:`VAELoss`, :class:`ClassificationLoss`,
  :class:`ConditionalELBOLoss`, and the metric :class:`ClassifierAccuracy`;
- observers: ``sampling`` (:class:`ConditionalSampler`).

A model is conditioned on a :class:`Condition` (the core's
:mod:`pynet_cvae.conditions`): named covariates, categorical or continuous; its objective is a list of terms
(:mod:`.objective`). Every model has the generation interface of
:class:`GenerativeMixin` (``sample``, ``encode``, ``reconstruct``, ``interpolate``);
:class:`AggregatePrior` (:mod:`.aggregate_prior`) is a sampling prior fitted to the
training codes; :mod:`.evaluation` and :mod:`.judge` measure them, :mod:`.response` how generated
images follow a continuous covariate, :func:`load_trained_model` loads what
``pynet-cvae train`` wrote, :mod:`.recipes` are its recipes, :mod:`.semisupervised`
prepares partly labelled data and :mod:`.augmentation` makes the augmented views of
pseudo-labelling; :class:`CVAENormativeModel` (:mod:`.normative`) is the conditional
VAE of 3-D volumes as a normative model of brain images (``pynet-cvae normative cvae``).
"""

from ...conditions import Categorical, Condition, Continuous
from ...trained import load_trained_model, save_model_config  # noqa: F401  (their former place)
from . import networks
from .aggregate_prior import AggregatePrior, AggregatePriorFit, fit_aggregate_prior
from .generation import Encoding, GenerativeMixin, sample_grid, write_sample_grid
from .grid import make_grid, save_grid_png
from .metrics import ClassifierAccuracy
from .objective import Objective
from .observers import ConditionalSampler, sampling
from .response import Response, covariate_response
from .schedules import KLWarmup, TemperatureSchedule
from . import recipes  # noqa: F401  (registers the recipes)
from .zoo import (CVAE, ClassificationLoss, ConditionalConfig, ConditionalCVAE,
                  ConditionalELBOLoss, DecodeLoss, Decoder, DigitClassifier, Encoder,
                  SemiSupervisedConfig, SemiSupervisedCVAE, TutorialConfig, VAELoss,
                  ZooModel, idx2onehot)
from .normative import CVAENormativeModel

__all__ = [
    "CVAE", "Encoder", "Decoder", "DigitClassifier", "idx2onehot", "TutorialConfig",
    "DecodeLoss", "VAELoss", "ClassificationLoss",
    "ZooModel", "ConditionalCVAE", "ConditionalConfig", "SemiSupervisedCVAE",
    "SemiSupervisedConfig", "ConditionalELBOLoss", "ClassifierAccuracy", "Objective",
    "Condition", "Categorical", "Continuous",
    "ConditionalSampler", "sampling", "make_grid", "save_grid_png",
    "GenerativeMixin", "Encoding", "sample_grid", "write_sample_grid",
    "AggregatePrior", "AggregatePriorFit", "fit_aggregate_prior",
    "KLWarmup", "TemperatureSchedule",
    "covariate_response", "Response", "CVAENormativeModel",
    "networks",
]
