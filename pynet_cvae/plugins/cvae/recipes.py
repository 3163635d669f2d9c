"""Training recipes: a model, its loss, metrics and schedules, from a name and options.

``"tutorial"``
    pynet's tutorial exactly: :class:`~pynet_cvae.plugins.cvae.CVAE` (hidden 128,
    latent 20), :class:`~pynet_cvae.plugins.cvae.DecodeLoss` with classification
    weight 10, Adam at 1e-3. The encoder never sees the class.
``"conditional"``
    :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`: encoder conditioned on the class,
    true class fed to the decoder, trained with its objective (with a consistency
    term); with missing labels :class:`~pynet_cvae.plugins.cvae.SemiSupervisedCVAE`
    (semi-supervised, with pseudo-labels on augmented views of the unlabelled
    images). Its defaults
    (:data:`RECIPE_DEFAULTS`) were chosen from the measurements of
    ``benchmarks/cvae_quality.py``.

``pynet-cvae train --model NAME`` and the benchmarks build their runs with
:func:`build_recipe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .metrics import ClassifierAccuracy
from .schedules import KLWarmup, TemperatureSchedule
from .zoo import (CVAE, ClassificationLoss, ConditionalCVAE, DecodeLoss, SemiSupervisedCVAE,
                  VAELoss)

RECIPES = ("conditional", "tutorial")

#: The default options of each recipe.
RECIPE_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "tutorial": {"hidden_dim": 128, "latent_dim": 20, "learning_rate": 1e-3,
                 "classification_weight": 10.0},
    "conditional": {"hidden_dim": 512, "latent_dim": 20, "learning_rate": 3e-3,
                    "classification_weight": 10.0, "architecture": "conv",
                    "shared_trunk": True, "consistency_weight": 1.0,
                    "consistency_samples": 64, "kl_warmup": 0, "unlabelled": "marginal",
                    "temperature": 1.0, "temperature_end": None, "temperature_epochs": 10,
                    "pseudo_labels": False, "pseudo_label_threshold": 0.95,
                    "pseudo_label_weight": 10.0, "augment_flip": False,
                    "classifier_average": 0.0, "elbo_trains_classifier": True},
}


@dataclass
class Recipe:
    """What a training run needs, built by :func:`build_recipe`.

    Parameters
    ----------
    name : str
        The recipe's name.
    network : str
        The registered network's name (for ``model_config.json``).
    model_kwargs : dict
        The network's constructor arguments.
    model : torch.nn.Module
    loss : callable
    metrics : list of callable
    learning_rate : float
    add_labels : bool
        Whether the model is called as ``model(inputs, labels)``.
    observers : list of (str, callable)
        ``(signal, observer)`` pairs to attach (schedules).
    options : dict
        Every option's value, defaults included.
    """

    name: str
    network: str
    model_kwargs: Dict[str, Any]
    model: torch.nn.Module
    loss: Callable[..., Any]
    metrics: List[Callable[..., Any]]
    learning_rate: float
    add_labels: bool
    observers: List[Tuple[str, Callable[..., Any]]] = field(default_factory=list)
    options: Dict[str, Any] = field(default_factory=dict)


def recipe_options(name: str, **options: Any) -> Dict[str, Any]:
    """The recipe's defaults updated with the options that are not None.

    Parameters
    ----------
    name : str
        The recipe.
    **options
        Option values (None keeps the default).

    Returns
    -------
    dict
        Every option of the recipe with its value.

    Raises
    ------
    ValueError
        If the recipe is unknown or an option does not apply to it.
    """
    if name not in RECIPE_DEFAULTS:
        raise ValueError(f"recipe {name!r} unknown: expected one of {list(RECIPES)}")
    merged = dict(RECIPE_DEFAULTS[name])
    for key, value in options.items():
        if value is None:
            continue
        if key not in merged:
            raise ValueError(f"option {key!r} does not apply to the {name!r} recipe; it "
                             f"takes {sorted(merged)}")
        merged[key] = value
    return merged


def build_recipe(name: str, input_dim: int, n_classes: int,
                 image_shape: Optional[Sequence[int]] = None, semi_supervised: bool = False,
                 classifier_only: bool = False, **options: Any) -> Recipe:
    """Build the model, loss, metrics and schedules of recipe ``name``.

    Parameters
    ----------
    name : {"conditional", "tutorial"}
        The recipe (see the module documentation).
    input_dim : int
        The size of a flattened image.
    n_classes : int
        The number of classes.
    image_shape : sequence of int, optional
        ``(height, width)`` (the conditional model's convolutions need it).
    semi_supervised : bool, default False
        Some labels are missing: the classifier's accuracy, undefined on a batch
        without labels, is not among the metrics (the loss still reports the
        cross-entropy of the labelled images). The tutorial's recipe needs every label.
    classifier_only : bool, default False
        Train the model's classifier alone, with the cross-entropy
        (:class:`~pynet_cvae.plugins.cvae.ClassificationLoss`): the baseline of
        semi-supervised training, on the labelled images alone.
    **options
        Overrides of :data:`RECIPE_DEFAULTS` (None keeps the default).

    Returns
    -------
    Recipe
    """
    settings = recipe_options(name, **options)
    if name == "tutorial":
        if classifier_only:
            raise ValueError("classifier_only applies to the 'conditional' recipe")
        if semi_supervised:
            raise ValueError("the 'tutorial' recipe needs every label: use the "
                             "'conditional' recipe for semi-supervised training")
        return _tutorial(input_dim, n_classes, settings)
    if classifier_only:
        if semi_supervised:
            raise ValueError("classifier_only trains on labelled images alone: it excludes "
                             "semi_supervised")
        settings["consistency_weight"] = 0.0
        settings["pseudo_labels"] = False
    recipe = _conditional(input_dim, n_classes, image_shape, settings, semi_supervised)
    if classifier_only:
        recipe.loss = ClassificationLoss()
        recipe.metrics = [ClassifierAccuracy()]
        recipe.observers = []
    if semi_supervised:
        recipe.metrics = [metric for metric in recipe.metrics
                          if not isinstance(metric, ClassifierAccuracy)]
    return recipe


def _tutorial(input_dim: int, n_classes: int, settings: Dict[str, Any]) -> Recipe:
    kwargs = {"input_dim": input_dim, "hidden_dim": settings["hidden_dim"],
              "latent_dim": settings["latent_dim"], "n_classes": n_classes}
    return Recipe(
        name="tutorial", network="CVAE", model_kwargs=kwargs, model=CVAE(**kwargs),
        loss=DecodeLoss(classification_weight=settings["classification_weight"]),
        metrics=[ClassificationLoss(), VAELoss()], learning_rate=settings["learning_rate"],
        add_labels=False, options=settings)


#: The registered networks of each ``architecture`` option: (trunk, decoder).
ARCHITECTURE_NETWORKS = {"mlp": ("DenseTrunk", "DenseDecoder"),
                         "conv": ("Conv2dTrunk", "Conv2dDecoder")}
ARCHITECTURES = tuple(ARCHITECTURE_NETWORKS)


def _conditional(input_dim: int, n_classes: int, image_shape: Optional[Sequence[int]],
                 settings: Dict[str, Any], semi_supervised: bool) -> Recipe:
    if settings["architecture"] not in ARCHITECTURE_NETWORKS:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got "
                         f"{settings['architecture']!r}")
    trunk, decoder = ARCHITECTURE_NETWORKS[settings["architecture"]]
    consistency_samples = settings["consistency_samples"] if settings[
        "consistency_weight"] else 0
    kwargs = {"input_dim": input_dim, "hidden_dim": settings["hidden_dim"],
              "latent_dim": settings["latent_dim"], "n_classes": n_classes,
              "image_shape": None if image_shape is None else list(image_shape),
              "encoder": trunk, "decoder": decoder,
              "classifier_trunk": None if settings["shared_trunk"] else trunk,
              "classifier_average": settings["classifier_average"],
              "classification_weight": settings["classification_weight"],
              "consistency_weight": settings["consistency_weight"],
              "consistency_samples": consistency_samples}
    network = ConditionalCVAE
    if semi_supervised:
        network = SemiSupervisedCVAE
        kwargs.update({"unlabelled": settings["unlabelled"],
                       "temperature": settings["temperature"],
                       "pseudo_labels": bool(settings["pseudo_labels"]),
                       "pseudo_label_threshold": settings["pseudo_label_threshold"],
                       "pseudo_label_weight": settings["pseudo_label_weight"],
                       "augment_flip": bool(settings["augment_flip"]),
                       "elbo_trains_classifier": bool(settings["elbo_trains_classifier"])})
    model = network(**kwargs)
    observers: List[Tuple[str, Callable[..., Any]]] = list(model.training_observers())
    if settings["kl_warmup"]:
        observers.append(("before_epoch", KLWarmup(settings["kl_warmup"])))
    if settings["temperature_end"] is not None:
        observers.append(("before_epoch", TemperatureSchedule(
            settings["temperature"], settings["temperature_end"],
            settings["temperature_epochs"])))
    return Recipe(
        name="conditional", network=network.__name__, model_kwargs=model.config_dict(),
        model=model, loss=model.objective,
        metrics=[VAELoss(), ClassifierAccuracy()], learning_rate=settings["learning_rate"],
        add_labels=True, observers=observers, options=settings)
