import numpy as np
import pandas as pd
import pytest
import torch

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.plugins.cvae import (AggregatePrior, AggregatePriorFit, ConditionalConfig,
                                     ConditionalCVAE, fit_aggregate_prior, load_trained_model)
from pynet_cvae.plugins.cvae.recipes import ConditionalOptions, SemiSupervisedOptions
from pynet_cvae.recipes import DataContext
from pynet_cvae.registry import Recipes


def two_clusters_per_class(n_classes=3, per_cluster=200, latent_dim=2, seed=0):
    """Codes of each class in two tight clusters at +-(5 + class) on the first axis."""
    rng = np.random.default_rng(seed)
    codes, labels = [], []
    for label in range(n_classes):
        for sign in (-1, 1):
            centre = np.zeros(latent_dim)
            centre[0] = sign * (5 + label)
            codes.append(centre + 0.1 * rng.standard_normal((per_cluster, latent_dim)))
            labels.append(np.full(per_cluster, label))
    return np.concatenate(codes), np.concatenate(labels)


def test_the_fitted_mixture_finds_each_class_clusters_and_draws_from_them():
    codes, labels = two_clusters_per_class()
    prior = AggregatePrior(3, 2, 2)
    assert not prior.fitted
    prior.fit(codes, labels)
    assert prior.fitted
    centres = prior.means[:, :, 0].sort(dim=1).values
    assert torch.allclose(centres, torch.tensor([[-5.0, 5.0], [-6.0, 6.0], [-7.0, 7.0]]),
                          atol=0.05)
    assert torch.allclose(prior.weights, torch.full((3, 2), 0.5), atol=0.01)
    assert torch.allclose(prior.scale_tril[:, :, 0, 0], torch.full((3, 2), 0.1), atol=0.02)
    wanted = torch.full((400,), 2)
    noise = torch.randn(400, 2, generator=torch.Generator().manual_seed(1))
    z = prior.latent(wanted, noise, torch.Generator().manual_seed(2))
    assert torch.allclose(z[:, 0].abs(), torch.full((400,), 7.0), atol=0.6)
    assert 150 < int((z[:, 0] > 0).sum()) < 250  # both components drawn
    again = prior.latent(wanted, noise, torch.Generator().manual_seed(2))
    assert torch.equal(z, again)


def test_fitting_refuses_codes_it_cannot_fit():
    prior = AggregatePrior(2, 4, 3)
    with pytest.raises(ValueError, match=r"expected codes of shape \(N, 3\)"):
        prior.fit(np.zeros((10, 2)), np.zeros(10))
    with pytest.raises(ValueError, match="class 1 has 3 codes: fitting 4 components needs "
                                         "at least 8"):
        prior.fit(np.random.rand(23, 3), np.r_[np.zeros(20), np.ones(3)])
    with pytest.raises(ValueError, match="non-finite"):
        prior.fit(np.full((40, 3), np.nan), np.r_[np.zeros(20), np.ones(20)])
    with pytest.raises(ValueError, match="components must be an integer >= 1, got 0"):
        AggregatePrior(2, 0, 3)


def small(**fields):
    torch.manual_seed(0)
    return ConditionalCVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10,
                           **fields)


def test_an_unfitted_aggregate_prior_samples_as_the_model_prior():
    plain, with_prior = small(), small(aggregate_prior=2)
    assert not with_prior.aggregate_prior.fitted
    z = torch.randn(5, 3)
    assert torch.equal(plain.sample([1, 7], z=z), with_prior.sample([1, 7], z=z))


def test_the_model_samples_from_its_fitted_prior_and_checkpoints_keep_it(digits, tmp_path):
    model = small(aggregate_prior=2, aggregate_prior_images=40)
    table = pd.read_csv(digits.metadata_path, sep="\t")
    rows = np.flatnonzero(table["split"].to_numpy() == "train")
    images = np.load(digits.input_path, mmap_mode="r")
    fit_aggregate_prior(model, images, rows, table["label"].to_numpy()[rows],
                        images_per_class=40)
    assert model.aggregate_prior.fitted
    z = torch.zeros(4, 3)
    samples = model.sample([3], z=z, generator=torch.Generator().manual_seed(0))
    component = torch.multinomial(model.aggregate_prior.weights[[3] * 4].double(), 1,
                                  generator=torch.Generator().manual_seed(0))[:, 0]
    expected = model.decode(model.aggregate_prior.means[3, component],
                            torch.eye(10)[[3] * 4])
    assert torch.allclose(samples, expected)
    assert not torch.allclose(samples, small().sample([3], z=z))
    rebuilt = ConditionalCVAE(**model.config_dict())
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.aggregate_prior.fitted
    assert torch.equal(rebuilt.sample([3], z=z, generator=torch.Generator().manual_seed(0)),
                       samples)


def test_the_config_and_the_fit_refuse_what_does_not_apply():
    with pytest.raises(ValueError, match="aggregate_prior must be an integer >= 0, got -1"):
        ConditionalConfig(aggregate_prior=-1)
    with pytest.raises(ValueError, match=r"aggregate_prior_images must be at least twice "
                                         r"the components \(20\), got 15"):
        ConditionalConfig(aggregate_prior=10, aggregate_prior_images=15)
    with pytest.raises(ValueError, match="fitted per class: the condition has"):
        ConditionalCVAE(input_dim=64, classifier=False, aggregate_prior=2, condition=[
            {"kind": "continuous", "name": "age", "mean": 50.0, "std": 10.0}])
    with pytest.raises(ValueError, match="has no aggregate prior: build it with "
                                         "aggregate_prior=K"):
        fit_aggregate_prior(small(), np.zeros((4, 1, 8, 8)), np.arange(4), np.zeros(4))


def test_the_recipe_refits_the_prior_after_each_epoch_and_refuses_hidden_labels(
        digits, tmp_path):
    context = DataContext(input_path=digits.input_path, metadata_path=digits.metadata_path,
                          image_shape=(8, 8), output=str(tmp_path), seed=0, batch_size=30,
                          folds=10, sample_size=1.0)
    recipe = Recipes.get("conditional")()
    plan = recipe.build(ConditionalOptions(), {"aggregate_prior": 3}, context,
                        recipe.network)
    signals = [(signal, type(observer)) for signal, observer in plan.observers]
    fit = signals.index(("after_epoch", AggregatePriorFit))
    assert signals[fit + 1][1].__name__ == "ConditionalSampler"  # grids see the new fit
    train = pd.read_csv(digits.metadata_path, sep="\t")["split"].eq("train").to_numpy()
    assert np.array_equal(plan.observers[fit][1].rows, np.flatnonzero(train))
    with pytest.raises(ValueError, match="does not apply with hidden labels"):
        recipe.build(ConditionalOptions(labelled_per_class=5, labelled_only=True),
                     {"aggregate_prior": 3}, context, recipe.network)
    semi = Recipes.get("semi-supervised")()
    with pytest.raises(ValueError, match="does not apply to the semi-supervised recipe"):
        semi.build(SemiSupervisedOptions(labelled_per_class=5), {"aggregate_prior": 3},
                   context, semi.network)


def test_the_aggregate_prior_recipe_trains_and_saves_its_prior_fitted(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--recipe", "aggregate-prior", "--output", str(run), "--epochs",
                 "2", "--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
                 "--model.hidden_dim", "32", "--quiet"]) == 0
    first = load_checkpoint(str(run / "checkpoints" / "model_0_epoch_0.pth"))["model"]
    last = load_checkpoint(str(run / "checkpoints" / "model_0_epoch_1.pth"))["model"]
    assert bool(first["aggregate_prior.is_fitted"]) and bool(last["aggregate_prior.is_fitted"])
    assert not torch.equal(first["aggregate_prior.means"], last["aggregate_prior.means"])
    model, config = load_trained_model(str(run / "checkpoints" / "model_0_epoch_1.pth"))
    assert config["recipe"] == "aggregate-prior" and model.config.kl_weight == 0.3
    assert model.aggregate_prior.fitted and model.aggregate_prior.means.shape == (10, 10, 20)
    grid = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(run), "--out", str(grid)]) == 0
    assert grid.exists()


def test_fitting_the_prior_leaves_the_training_unchanged_bit_for_bit(tmp_path):
    dense = ["--epochs", "2", "--model.encoder", "DenseTrunk", "--model.decoder",
             "DenseDecoder", "--model.hidden_dim", "32", "--quiet"]
    assert main(["train", "--output", str(tmp_path / "plain"), *dense]) == 0
    assert main(["train", "--output", str(tmp_path / "fitted"), *dense,
                 "--model.aggregate_prior", "3"]) == 0
    plain, fitted = (load_checkpoint(str(tmp_path / name / "checkpoints" /
                                         "model_0_epoch_1.pth"))["model"]
                     for name in ("plain", "fitted"))
    assert set(fitted) - set(plain) == {f"aggregate_prior.{name}" for name in (
        "weights", "means", "scale_tril", "is_fitted")}
    for name, value in plain.items():
        assert torch.equal(value, fitted[name]), name
