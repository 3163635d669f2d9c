"""The CVAE plugin's training recipes, registered in :class:`~pynet_cvae.registry.Recipes`.

``tutorial``
    pynet's tutorial exactly: :class:`~pynet_cvae.plugins.cvae.CVAE` (hidden 128,
    latent 20), :class:`~pynet_cvae.plugins.cvae.DecodeLoss` with classification
    weight 10, Adam at 1e-3. The encoder never sees the class.
``conditional`` (the default of ``pynet-cvae train``)
    :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE` with convolutional networks:
    encoder conditioned on the class, true class fed to the decoder, trained with
    its objective (with a consistency term), Adam at 3e-3. Its defaults were chosen
    from the measurements of ``benchmarks/cvae_quality.py``. Its condition is the
    class, or any covariates of the metadata (``--covariates``).
``semi-supervised``
    :class:`~pynet_cvae.plugins.cvae.SemiSupervisedCVAE` on partly labelled data:
    the labels of ``labelled_per_class`` (or ``labelled_fraction``) training images
    are kept, the others hidden.
``prior``
    :class:`~pynet_cvae.plugins.cvae.zoo.prior.LearnedPriorCVAE`: the conditional
    recipe with a learned conditional prior p(z|c).
``aggregate-prior``
    The conditional recipe with a KL weight of 0.3 and a mixture of 10 Gaussians per
    class fitted to the training codes after each epoch
    (:class:`~pynet_cvae.plugins.cvae.AggregatePrior`), which generation draws from
    (:data:`AGGREGATE_PRIOR_MODEL`).
``normative``
    :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE` of 3-D brain volumes (a
    participants table, ``--dataset participants.tsv``, or the synthetic cohort,
    ``--dataset synthetic-cohort``) conditioned on age, sex and site: the volume
    networks with each voxel's own polynomial of the covariates, a Gaussian
    likelihood, a latent independence term, no classifier (:data:`NORMATIVE_MODEL`),
    every healthy ``train`` subject trained on, 80 epochs (:data:`NORMATIVE_EPOCHS`).
    :class:`~pynet_cvae.plugins.cvae.CVAENormativeModel` and ``pynet-cvae normative
    cvae --checkpoint RUN`` score with the run.

Each recipe is a :class:`~pynet_cvae.recipes.Recipe`: its options are a dataclass
(the flags of ``pynet-cvae train``), its defaults those of the run's settings and of
the model's config, and :meth:`~pynet_cvae.recipes.Recipe.build` makes the model,
its loss, metrics and observers (schedules, the sampling observer) from the data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ...conditions import Condition
from ...recipes import DataContext, Recipe, TrainingPlan
from ...registry import Networks, Recipes
from .aggregate_prior import AggregatePriorFit
from .metrics import ClassifierAccuracy
from .objective import Bernoulli
from .observers import ConditionalSampler
from .schedules import KLWarmup, TemperatureSchedule
from .zoo import ClassificationLoss, DecodeLoss, VAELoss

__all__ = ["TutorialOptions", "ConditionalOptions", "SemiSupervisedOptions",
           "NormativeOptions", "TutorialRecipe", "ConditionalRecipe", "SemiSupervisedRecipe",
           "PriorRecipe", "AggregatePriorRecipe", "AGGREGATE_PRIOR_MODEL",
           "NormativeRecipe", "NORMATIVE_MODEL", "NORMATIVE_EPOCHS",
           "NORMATIVE_COVARIATES"]

#: The class column of the fetchers' tables.
LABEL = "label"
#: Model fields a CVAE recipe sets from the data.
DERIVED = ("input_dim", "image_shape", "n_classes", "condition")
#: The model fields of a normative CVAE of brain volumes, beside the data's shape and
#: condition. Each voxel gets its own cubic polynomial of age and sex and site offsets
#: (``condition_map``): without it the convolutional decoder's mean image fitted the
#: held-out subjects worse than the mass-univariate baseline, and lesions were found
#: less well. The latent independence term's weight is of the
#: reconstruction's scale (a sum over the voxels with ``1 / (2 sigma^2) = 50``): at
#: weight 1 the latent means still predicted the site of every subject, and images
#: harmonised to one site kept it (``benchmarks/README.md``).
NORMATIVE_MODEL: Dict[str, Any] = {
    "encoder": "VolumeTrunk", "decoder": "VolumeDecoder", "hidden_dim": 256,
    "latent_dim": 16, "likelihood": "gaussian", "likelihood_sigma": 0.1,
    "classifier": False, "consistency_samples": 0, "condition_map": 3,
    "independence_weight": 300.0}
#: The training epochs of a normative CVAE: on the synthetic cohort at 4 mm, 20 epochs
#: leave its counterfactual ageing backwards (the latent still carries the
#: ventricles), 80 make it follow the simulated law (``benchmarks/README.md``).
NORMATIVE_EPOCHS = 80
#: The covariates a normative model is conditioned on by default.
NORMATIVE_COVARIATES: Dict[str, str] = {"age": "continuous", "sex": "categorical",
                                        "site": "categorical"}


@dataclass
class TutorialOptions:
    """The options of the tutorial's recipe.

    Parameters
    ----------
    classification_weight : float, default 10.0
        The weight of the classifier's cross-entropy in :class:`DecodeLoss`.
    sample_columns : int, default 8
        Latent vectors (columns) of the sample grid written after each epoch.
    """

    classification_weight: float = 10.0
    sample_columns: int = 8

    def check(self) -> None:
        """Refuse values out of range, naming the option and the value."""
        if not self.classification_weight >= 0:
            raise ValueError(f"--classification_weight: expected a finite number >= 0, got "
                             f"{self.classification_weight}")
        if self.sample_columns < 1:
            raise ValueError(f"--sample_columns: expected an integer >= 1, got "
                             f"{self.sample_columns}")


@dataclass
class ConditionalOptions:
    """The options of the conditional recipes.

    Parameters
    ----------
    covariates : dict, default {"label": "categorical"}
        The condition: metadata column -> ``"categorical"`` or ``"continuous"``,
        learnt from the training rows (categories, mean and standard deviation).
        With anything but the class alone the model has no classifier.
    kl_warmup : int, default 0
        Raise the KL weight's scale from near 0 to 1 over this many epochs (0: off).
    classifier_only : bool, default False
        Baseline: train the model's classifier alone, with the cross-entropy.
    labelled_per_class : int, optional
        Keep the labels of this many training images per class, hide the others
        (with ``labelled_only``, or the ``semi-supervised`` recipe).
    labelled_fraction : float, optional
        Or keep this fraction of the training labels.
    labelled_only : bool, default False
        Train on the labelled images alone (the semi-supervised baseline).
    sample_columns : int, default 8
        Latent vectors (columns) of the sample grid written after each epoch.
    """

    covariates: Dict[str, str] = field(default_factory=lambda: {LABEL: "categorical"})
    kl_warmup: int = 0
    classifier_only: bool = False
    labelled_per_class: Optional[int] = None
    labelled_fraction: Optional[float] = None
    labelled_only: bool = False
    sample_columns: int = 8

    def check(self) -> None:
        """Refuse values out of range, naming the option and the value."""
        if self.kl_warmup < 0:
            raise ValueError(f"--kl_warmup: expected an integer >= 0, got {self.kl_warmup}")
        if self.sample_columns < 1:
            raise ValueError(f"--sample_columns: expected an integer >= 1, got "
                             f"{self.sample_columns}")
        if self.labelled_per_class is not None and self.labelled_fraction is not None:
            raise ValueError("--labelled_per_class and --labelled_fraction exclude each other")
        if self.labelled_per_class is not None and self.labelled_per_class < 1:
            raise ValueError(f"--labelled_per_class: expected an integer >= 1, got "
                             f"{self.labelled_per_class}")
        if self.labelled_fraction is not None and not 0 < self.labelled_fraction <= 1:
            raise ValueError(f"--labelled_fraction: expected a fraction in (0, 1], got "
                             f"{self.labelled_fraction}")

    @property
    def hides_labels(self) -> bool:
        """Whether some training labels are hidden."""
        return self.labelled_per_class is not None or self.labelled_fraction is not None


@dataclass
class SemiSupervisedOptions(ConditionalOptions):
    """The options of the semi-supervised recipe.

    Parameters
    ----------
    labelled_per_batch : int, optional
        Labelled images in every training batch, the rest unlabelled (default: a
        third of the batch).
    temperature_end : float, optional
        Anneal the Gumbel-softmax temperature from the model's to this value ...
    temperature_epochs : int, default 10
        ... over this many epochs.
    """

    labelled_per_batch: Optional[int] = None
    temperature_end: Optional[float] = None
    temperature_epochs: int = 10

    def check(self) -> None:
        """Refuse values out of range or options that do not apply."""
        super().check()
        if not self.hides_labels:
            raise ValueError("the semi-supervised recipe needs --labelled_per_class or "
                             "--labelled_fraction (which labels to keep)")
        if self.labelled_only or self.classifier_only:
            raise ValueError("--labelled_only and --classifier_only are baselines of the "
                             "conditional recipe: use --recipe conditional")
        if self.temperature_end is not None and not self.temperature_end > 0:
            raise ValueError(f"--temperature_end: expected a number > 0, got "
                             f"{self.temperature_end}")
        if self.temperature_epochs < 1:
            raise ValueError(f"--temperature_epochs: expected an integer >= 1, got "
                             f"{self.temperature_epochs}")


def _sampler(context: DataContext, columns: int) -> Tuple[str, Callable[..., Any]]:
    return ("after_epoch", ConditionalSampler(
        n_columns=columns, image_shape=context.image_shape,
        output_dir=os.path.join(context.output, "samples")))


def _aggregate_prior_fit(options: ConditionalOptions, model: Any, context: DataContext
                         ) -> Tuple[str, Callable[..., Any]]:
    """The observer refitting the model's aggregate prior after each epoch, to the
    training split's images (every label known)."""
    if options.hides_labels or options.classifier_only:
        raise ValueError("--model.aggregate_prior is fitted to the codes of labelled "
                         "training images of every class: it does not apply with hidden "
                         "labels or --classifier_only")
    table = context.metadata()
    training = (table["split"] == "train").to_numpy() if "split" in table.columns \
        else np.ones(len(table), dtype=bool)
    rows = np.flatnonzero(training)
    return ("after_epoch", AggregatePriorFit(
        context.input_path, rows, table[LABEL].to_numpy()[rows],
        images_per_class=model.config.aggregate_prior_images, seed=context.seed))


def _class_rows(context: DataContext) -> Dict[str, Any]:
    """The DataManager arguments of a class-conditioned run on the training split."""
    from ...datasets.transforms import Flatten

    return {**context.training_rows(), "labels": [LABEL], "stratify_label": LABEL,
            "test_size": 0, "input_transforms": [Flatten()], "add_input": True}


def _number_of_classes(context: DataContext) -> int:
    table = context.metadata()
    if LABEL not in table.columns:
        raise ValueError(f"the class column {LABEL!r} is not in the metadata columns "
                         f"{list(table.columns)} of {context.metadata_path}")
    return int(table[LABEL].max()) + 1


@Recipes.register(name="tutorial")
class TutorialRecipe(Recipe):
    """pynet's tutorial recipe (see the module documentation)."""

    network = "CVAE"
    options_class = TutorialOptions
    defaults = {"learning_rate": 1e-3}
    derived = ("input_dim", "n_classes")
    description = "pynet's tutorial CVAE and DecodeLoss, unchanged"

    def build(self, options: TutorialOptions, model: Dict[str, Any], context: DataContext,
              network: str) -> TrainingPlan:
        fields = {**model, "input_dim": context.input_dim,
                  "n_classes": _number_of_classes(context)}
        # the loss's terms stand for the metrics VAELoss and ClassificationLoss
        loss = DecodeLoss(classification_weight=options.classification_weight,
                          return_terms=True)
        return TrainingPlan(
            model=Networks.get(network)(**fields), loss=loss,
            metrics=[ClassificationLoss(), VAELoss()], network=network, model_config=fields,
            manager_arguments=_class_rows(context), add_labels=False,
            observers=[_sampler(context, options.sample_columns)])


@Recipes.register(name="conditional")
class ConditionalRecipe(Recipe):
    """The label-conditioned CVAE (see the module documentation)."""

    network = "ConditionalCVAE"
    options_class = ConditionalOptions
    defaults = {"learning_rate": 3e-3, "model.encoder": "Conv2dTrunk",
                "model.decoder": "Conv2dDecoder", "model.consistency_samples": 64}
    derived = DERIVED
    description = "the label-conditioned CVAE trained with its objective (the default)"

    def build(self, options: ConditionalOptions, model: Dict[str, Any], context: DataContext,
              network: str) -> TrainingPlan:
        if options.hides_labels and not options.labelled_only:
            raise ValueError("hidden labels need the semi-supervised recipe (--recipe "
                             "semi-supervised), or --labelled_only to train on the "
                             "labelled images alone")
        if options.labelled_only and not options.hides_labels:
            raise ValueError("--labelled_only needs --labelled_per_class or "
                             "--labelled_fraction (which labels to keep)")
        fields, arguments = self._condition(options, model, context)
        summary: Dict[str, Any] = {}
        if options.hides_labels:
            arguments, summary["labelled"] = self._hidden_labels(options, context,
                                                                 arguments)
        if options.classifier_only:
            fields["consistency_samples"] = 0
        instance = Networks.get(network)(**fields)
        plan = TrainingPlan(
            model=instance, loss=instance.objective, metrics=self._metrics(instance),
            network=network, model_config=instance.config_dict(),
            manager_arguments=arguments, observers=list(instance.training_observers()),
            summary=summary)
        if options.classifier_only:
            if not getattr(instance, "has_classifier", False):
                raise ValueError("--classifier_only trains the classifier: the model has "
                                 "none")
            plan.loss, plan.metrics, plan.observers = ClassificationLoss(), \
                [ClassifierAccuracy()], []
        elif options.kl_warmup:
            plan.observers.append(("before_epoch", KLWarmup(options.kl_warmup)))
        if getattr(instance, "aggregate_prior", None) is not None:
            plan.observers.append(_aggregate_prior_fit(options, instance, context))
        plan.observers.append(_sampler(context, options.sample_columns))
        return plan

    def _metrics(self, model: Any) -> List[Any]:
        if getattr(model, "has_classifier", False):
            return [*_elbo_metrics(model), ClassifierAccuracy()]
        return _elbo_metrics(model)

    def _condition(self, options: ConditionalOptions, model: Dict[str, Any],
                   context: DataContext) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """The model's fields with the data's condition, and the DataManager arguments."""
        fields = {**model, "input_dim": context.input_dim,
                  "image_shape": list(context.image_shape)}
        if dict(options.covariates) == {LABEL: "categorical"}:
            fields["n_classes"] = _number_of_classes(context)
            return fields, _class_rows(context)
        from ...datasets.transforms import Flatten

        table = context.metadata()
        training = table["split"] == "train" if "split" in table.columns else None
        rows = None if training is None else training.to_numpy().nonzero()[0]
        condition = Condition.from_metadata(table, options.covariates, rows=rows)
        fields.update({"condition": condition.to_spec(), "classifier": False})
        arguments = {**context.training_rows(), "test_size": 0,
                     "input_transforms": [Flatten()], "add_input": True,
                     **condition.manager_arguments()}
        if any(getattr(item, "categories", None) for item in condition.covariates):
            coded = os.path.join(context.output, "metadata_condition.tsv")
            condition.code_table(table).to_csv(coded, sep="\t", index=False)
            arguments["metadata_path"] = coded
        return fields, arguments

    def _hidden_labels(self, options: ConditionalOptions, context: DataContext,
                       arguments: Dict[str, Any]) -> Tuple[Dict[str, Any], int]:
        from .semisupervised import LABELLED_ONLY, MISSING_LABEL, TRAIN_VALIDATION, \
            hide_labels

        if context.folds != 10:
            raise ValueError("--folds does not apply to semi-supervised training: it keeps "
                             "10% of the kept training images, labelled, for validation")
        hidden = hide_labels(
            context.metadata_path, os.path.join(context.output,
                                                "metadata_semi_supervised.tsv"),
            labelled_per_class=options.labelled_per_class,
            labelled_fraction=options.labelled_fraction, sample_size=context.sample_size,
            seed=context.seed)
        arguments = {key: value for key, value in arguments.items()
                     if key not in ("projection_labels", "stratify_label", "sample_size")}
        arguments.update({"metadata_path": hidden.metadata_path,
                          "missing_label": MISSING_LABEL,
                          "custom_stratification": LABELLED_ONLY if options.labelled_only
                          else TRAIN_VALIDATION})
        return arguments, hidden.labelled


@Recipes.register(name="semi-supervised")
class SemiSupervisedRecipe(ConditionalRecipe):
    """The semi-supervised M2 on partly labelled data (see the module documentation)."""

    network = "SemiSupervisedCVAE"
    options_class = SemiSupervisedOptions
    description = "the semi-supervised CVAE (M2) with hidden labels, pseudo-labels optional"

    def build(self, options: SemiSupervisedOptions, model: Dict[str, Any],
              context: DataContext, network: str) -> TrainingPlan:
        fields, arguments = self._condition(options, model, context)
        arguments, labelled = self._hidden_labels(options, context, arguments)
        arguments["labelled_per_batch"] = _labelled_per_batch(options.labelled_per_batch,
                                                              context.batch_size)
        instance = Networks.get(network)(**fields)
        if getattr(instance, "aggregate_prior", None) is not None:
            raise ValueError("--model.aggregate_prior is fitted to the codes of labelled "
                             "training images of every class: it does not apply to the "
                             "semi-supervised recipe")
        observers = list(instance.training_observers())
        if options.kl_warmup:
            observers.append(("before_epoch", KLWarmup(options.kl_warmup)))
        if options.temperature_end is not None:
            observers.append(("before_epoch", TemperatureSchedule(
                instance.temperature, options.temperature_end, options.temperature_epochs)))
        observers.append(_sampler(context, options.sample_columns))
        # the classifier's accuracy is undefined on a batch without labels: the loss
        # reports the cross-entropy of the labelled images instead
        return TrainingPlan(
            model=instance, loss=instance.objective, metrics=_elbo_metrics(instance),
            network=network, model_config=instance.config_dict(),
            manager_arguments=arguments, observers=observers,
            summary={"labelled": labelled})


def _elbo_metrics(model: Any) -> List[Any]:
    """``[VAELoss()]`` for a model of Bernoulli pixels, else nothing.

    :class:`VAELoss` is the tutorial's negative ELBO, whose binary cross-entropy reads
    the decoder's output as pixel probabilities: under another likelihood (a Gaussian's
    unbounded means) it is meaningless and fails, and the model's objective already
    records its own terms.
    """
    if isinstance(getattr(model, "likelihood", Bernoulli()), Bernoulli):
        return [VAELoss()]
    return []


def _labelled_per_batch(requested: Optional[int], batch_size: int) -> int:
    """The labelled images of each semi-supervised batch: ``requested``, by default a
    third of the batch (at least 1)."""
    if requested is None:
        return max(1, batch_size // 3)
    if not 1 <= requested < batch_size:
        raise ValueError(f"--labelled_per_batch {requested} must leave room for unlabelled "
                         f"images in batches of --batch_size {batch_size}: expected 1 to "
                         f"{batch_size - 1}")
    return requested


@dataclass
class NormativeOptions:
    """The options of the normative recipe.

    Parameters
    ----------
    covariates : dict, default {"age": "continuous", "sex": "categorical", "site": "categorical"}
        The condition: participants column -> ``"categorical"`` or ``"continuous"``,
        learnt from the ``train`` rows (categories, mean and standard deviation).
    kl_warmup : int, default 0
        Raise the KL weight's scale from near 0 to 1 over this many epochs (0: off).
    """

    covariates: Dict[str, str] = field(default_factory=lambda: dict(NORMATIVE_COVARIATES))
    kl_warmup: int = 0

    def check(self) -> None:
        """Refuse values out of range, naming the option and the value."""
        if self.kl_warmup < 0:
            raise ValueError(f"--kl_warmup: expected an integer >= 0, got {self.kl_warmup}")
        if not self.covariates:
            raise ValueError("--covariates: expected at least one column")


@Recipes.register(name="normative")
class NormativeRecipe(ConditionalRecipe):
    """The covariate-conditioned CVAE of brain volumes (see the module documentation)."""

    network = "ConditionalCVAE"
    options_class = NormativeOptions
    defaults = {"learning_rate": 2e-3, "batch_size": 16, "folds": 1, "sample_size": 1.0,
                "epochs": NORMATIVE_EPOCHS,
                **{f"model.{name}": value for name, value in NORMATIVE_MODEL.items()}}
    description = "the CVAE of 3-D brain volumes conditioned on age, sex and site"

    def build(self, options: NormativeOptions, model: Dict[str, Any], context: DataContext,
              network: str) -> TrainingPlan:
        if len(context.image_shape) != 3:
            raise ValueError(f"the normative recipe trains on 3-D volumes, got images of "
                             f"shape {tuple(context.image_shape)} in {context.input_path}: "
                             "expected a participants table of NIfTI volumes")
        fields, arguments = self._condition(options, model, context)
        instance = Networks.get(network)(**fields)
        if getattr(instance, "aggregate_prior", None) is not None:
            raise ValueError("--model.aggregate_prior is fitted to the codes of labelled "
                             "training images of every class: it does not apply to the "
                             "semi-supervised recipe")
        observers = list(instance.training_observers())
        if options.kl_warmup:
            observers.append(("before_epoch", KLWarmup(options.kl_warmup)))
        return TrainingPlan(
            model=instance, loss=instance.objective, metrics=[], network=network,
            model_config=instance.config_dict(), manager_arguments=arguments,
            observers=observers)


@Recipes.register(name="prior")
class PriorRecipe(ConditionalRecipe):
    """The conditional recipe with a learned conditional prior p(z|c)."""

    network = "LearnedPriorCVAE"
    description = "the conditional CVAE with a learned conditional prior p(z|c)"


#: The model fields of the ``aggregate-prior`` recipe beside the conditional recipe's:
#: on Fashion-MNIST (20 epochs) a KL weight of 0.3 let the codes carry the garments'
#: details, the fitted prior drew them where the codes lie, and the Frechet distance
#: fell from 178 to 101 with a higher generation accuracy and diversity
#: (``benchmarks/cvae_quality.py``; weights 1 and 0.1, a stronger consistency term and
#: 1 to 40 components were measured too).
AGGREGATE_PRIOR_MODEL: Dict[str, Any] = {"kl_weight": 0.3, "aggregate_prior": 10}


@Recipes.register(name="aggregate-prior")
class AggregatePriorRecipe(ConditionalRecipe):
    """The conditional recipe with a weaker KL and an aggregate prior fitted after each
    epoch (:data:`AGGREGATE_PRIOR_MODEL`): sharper and more varied samples."""

    defaults = {**ConditionalRecipe.defaults,
                **{f"model.{name}": value for name, value in AGGREGATE_PRIOR_MODEL.items()}}
    description = ("the conditional CVAE with KL weight 0.3 and a mixture prior fitted to "
                   "the codes after each epoch: sharper, more varied samples")
