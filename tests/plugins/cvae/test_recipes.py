import pytest

from pynet_cvae.plugins.cvae import (
    CVAE, ClassificationLoss, ClassifierAccuracy, ConditionalCVAE, DecodeLoss, KLWarmup,
    SemiSupervisedCVAE, TemperatureSchedule, VAELoss)
from pynet_cvae.plugins.cvae.observers import ConditionalSampler
from pynet_cvae.plugins.cvae.recipes import (ConditionalOptions, SemiSupervisedOptions,
                                             TutorialOptions)
from pynet_cvae.plugins.cvae.zoo.prior import LearnedPriorCVAE
from pynet_cvae.recipes import DataContext
from pynet_cvae.registry import Recipes


@pytest.fixture
def context(digits, tmp_path):
    return DataContext(input_path=digits.input_path, metadata_path=digits.metadata_path,
                       image_shape=(8, 8), output=str(tmp_path), seed=0, batch_size=30,
                       folds=10, sample_size=1.0)


def build(name, context, options=None, network=None, **model):
    recipe = Recipes.get(name)()
    return recipe.build(options or recipe.options_class(), model, context,
                        network or recipe.network)


def test_the_tutorial_recipe_is_pynets(context):
    plan = build("tutorial", context, hidden_dim=128, latent_dim=20)
    assert isinstance(plan.model, CVAE) and not plan.add_labels
    assert plan.model_config == {"hidden_dim": 128, "latent_dim": 20, "input_dim": 64,
                                 "n_classes": 10}
    assert isinstance(plan.loss, DecodeLoss) and plan.loss.classification_weight == 10
    assert Recipes.get("tutorial").defaults["learning_rate"] == 1e-3
    assert [type(metric) for metric in plan.metrics] == [ClassificationLoss, VAELoss]
    assert isinstance(plan.observers[0][1], ConditionalSampler)
    plan = build("tutorial", context, TutorialOptions(classification_weight=3.0),
                 hidden_dim=16, latent_dim=2)
    assert plan.loss.classification_weight == 3.0


def test_the_conditional_recipe_builds_the_model_from_its_fields(context):
    plan = build("conditional", context, ConditionalOptions(kl_warmup=3), hidden_dim=32,
                 encoder="DenseTrunk", decoder="DenseDecoder")
    assert type(plan.model) is ConditionalCVAE and plan.add_labels
    assert plan.model.config.hidden_dim == 32 and plan.model.n_classes == 10
    assert plan.model_config == plan.model.config_dict()
    assert plan.loss is plan.model.objective
    assert [type(metric) for metric in plan.metrics] == [VAELoss, ClassifierAccuracy]
    assert [type(observer) for _, observer in plan.observers] == [KLWarmup,
                                                                   ConditionalSampler]
    assert plan.manager_arguments["labels"] == ["label"]
    baseline = build("conditional", context, ConditionalOptions(
        classifier_only=True, labelled_per_class=5, labelled_only=True), hidden_dim=16,
        encoder="DenseTrunk", decoder="DenseDecoder")
    assert isinstance(baseline.loss, ClassificationLoss) and baseline.summary == {
        "labelled": 50}
    assert [type(metric) for metric in baseline.metrics] == [ClassifierAccuracy]
    prior = build("prior", context, hidden_dim=16, encoder="DenseTrunk",
                  decoder="DenseDecoder")
    assert type(prior.model) is LearnedPriorCVAE and prior.network == "LearnedPriorCVAE"
    other = build("conditional", context, network="LearnedPriorCVAE", hidden_dim=16)
    assert type(other.model) is LearnedPriorCVAE


def test_gaussian_pixels_leave_out_the_tutorials_bernoulli_metric(context):
    dense = {"hidden_dim": 16, "encoder": "DenseTrunk", "decoder": "DenseDecoder",
             "likelihood": "gaussian"}
    plan = build("conditional", context, **dense)
    assert [type(metric) for metric in plan.metrics] == [ClassifierAccuracy]
    plan = build("semi-supervised", context, SemiSupervisedOptions(labelled_per_class=5),
                 **dense)
    assert plan.metrics == []


def test_a_condition_of_covariates_from_the_metadata(context, tmp_path):
    import pandas as pd

    table = pd.read_csv(context.metadata_path, sep="\t")
    table["site"] = ["a" if index % 2 else "b" for index in range(len(table))]
    table["age"] = range(len(table))
    path = tmp_path / "metadata.tsv"
    table.to_csv(path, sep="\t", index=False)
    context.metadata_path = str(path)
    plan = build("conditional", context, ConditionalOptions(
        covariates={"age": "continuous", "site": "categorical"}), hidden_dim=16,
        encoder="DenseTrunk", decoder="DenseDecoder")
    assert plan.model.condition.names == ["age", "site"] and not plan.model.has_classifier
    assert plan.manager_arguments["continuous_labels"] is True
    coded = pd.read_csv(plan.manager_arguments["metadata_path"], sep="\t")
    assert set(coded["site"]) == {0, 1}
    assert [type(metric) for metric in plan.metrics] == [VAELoss]


def test_the_semi_supervised_recipe(context):
    options = SemiSupervisedOptions(labelled_per_class=5, temperature_end=0.5)
    plan = build("semi-supervised", context, options, hidden_dim=16, encoder="DenseTrunk",
                 decoder="DenseDecoder")
    assert type(plan.model) is SemiSupervisedCVAE and plan.summary == {"labelled": 50}
    assert plan.manager_arguments["labelled_per_batch"] == 10 and plan.manager_arguments[
        "missing_label"] == -1
    assert [type(metric) for metric in plan.metrics] == [VAELoss]
    assert TemperatureSchedule in [type(observer) for _, observer in plan.observers]


def test_recipe_options_are_checked():
    with pytest.raises(ValueError, match="the semi-supervised recipe needs"):
        SemiSupervisedOptions().check()
    with pytest.raises(ValueError, match="--kl_warmup: expected an integer >= 0, got -1"):
        ConditionalOptions(kl_warmup=-1).check()
    with pytest.raises(ValueError, match="exclude each other"):
        ConditionalOptions(labelled_per_class=3, labelled_fraction=0.5).check()
