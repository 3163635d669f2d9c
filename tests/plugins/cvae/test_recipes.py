import pytest

from pynet_cvae.plugins.cvae import (
    CVAE, ClassificationLoss, ClassifierAccuracy, ConditionalCVAE, DecodeLoss, KLWarmup,
    Objective, SemiSupervisedCVAE, TemperatureSchedule)
from pynet_cvae.plugins.cvae.recipes import RECIPE_DEFAULTS, build_recipe


def test_the_tutorial_recipe_is_pynets():
    recipe = build_recipe("tutorial", 784, 10)
    assert isinstance(recipe.model, CVAE) and not recipe.add_labels
    assert (recipe.model.hidden_dim, recipe.model.latent_dim) == (128, 20)
    assert isinstance(recipe.loss, DecodeLoss) and recipe.loss.classification_weight == 10
    assert recipe.learning_rate == 1e-3 and recipe.observers == []


def test_the_conditional_recipe_takes_its_defaults_and_options():
    recipe = build_recipe("conditional", 64, 10, (8, 8))
    defaults = RECIPE_DEFAULTS["conditional"]
    assert isinstance(recipe.model, ConditionalCVAE) and recipe.add_labels
    assert defaults["architecture"] == "conv" and recipe.model.config.encoder == "Conv2dTrunk"
    assert recipe.model.hidden_dim == defaults["hidden_dim"]
    assert recipe.loss is recipe.model.objective and isinstance(recipe.loss, Objective)
    assert recipe.model.objective["consistency"].samples == defaults["consistency_samples"]
    assert any(isinstance(metric, ClassifierAccuracy) for metric in recipe.metrics)
    custom = build_recipe("conditional", 64, 10, (8, 8), hidden_dim=32, consistency_weight=0,
                          kl_warmup=3, temperature_end=0.5, architecture="mlp")
    assert custom.model.hidden_dim == 32
    assert "consistency" not in [term.name for term in custom.model.objective.terms]
    assert [type(observer) for _, observer in custom.observers] == [KLWarmup,
                                                                    TemperatureSchedule]
    assert custom.model_kwargs["hidden_dim"] == 32  # what model_config.json stores


def test_semi_supervised_and_classifier_only_recipes():
    semi = build_recipe("conditional", 64, 10, (8, 8), semi_supervised=True)
    assert not any(isinstance(metric, ClassifierAccuracy) for metric in semi.metrics)
    assert isinstance(semi.model, SemiSupervisedCVAE)
    alone = build_recipe("conditional", 64, 10, (8, 8), classifier_only=True)
    assert isinstance(alone.loss, ClassificationLoss)
    assert alone.model.config.consistency_samples == 0


def test_recipe_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="recipe 'big' unknown"):
        build_recipe("big", 64, 10)
    with pytest.raises(ValueError, match="option 'architecture' does not apply to the "
                                         "'tutorial' recipe"):
        build_recipe("tutorial", 64, 10, architecture="conv")
    with pytest.raises(ValueError, match="'tutorial' recipe needs every label"):
        build_recipe("tutorial", 64, 10, semi_supervised=True)
