import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import ConditionalCVAE
from pynet_cvae.plugins.cvae.evaluation import evaluate_model
from pynet_cvae.plugins.cvae.objective import gaussian_kl
from pynet_cvae.plugins.cvae.zoo.prior import LearnedPriorCVAE, PriorConfig
from pynet_cvae.registry import Networks


def small(**fields):
    torch.manual_seed(0)
    return LearnedPriorCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            **fields)


def test_the_prior_starts_at_the_standard_normal_and_the_kl_reads_it():
    model = small(consistency_samples=4)
    x, labels = torch.rand(3, 64), torch.tensor([0, 4, 9])
    prediction, outputs = model(x, labels)
    assert torch.equal(outputs["prior_mu"], torch.zeros(3, 4))
    assert torch.equal(outputs["prior_var"], torch.zeros(3, 4))
    model.objective.layer_outputs = outputs
    _, values = model.objective(prediction, x, labels)
    expected = gaussian_kl(outputs["z_mu"], outputs["z_var"]).mean().detach()
    assert float(values["kl"]) == pytest.approx(float(expected), rel=1e-6)


def test_the_learned_prior_moves_the_kl_and_the_samples():
    model = small()
    with torch.no_grad():
        model.prior.mu.bias.fill_(3.0)
    x, labels = torch.rand(2, 64), torch.tensor([1, 2])
    prediction, outputs = model(x, labels)
    assert torch.allclose(outputs["prior_mu"], torch.full((2, 4), 3.0))
    model.objective.layer_outputs = outputs
    _, values = model.objective(prediction, x, labels)
    standard = gaussian_kl(outputs["z_mu"], outputs["z_var"]).mean().detach()
    assert float(values["kl"]) > float(standard)
    z = torch.zeros(1, 4)
    sampled = model.sample([1], z=z)
    assert torch.allclose(sampled, model.decode(torch.full((1, 4), 3.0), torch.eye(10)[[1]]))


def test_training_learns_a_prior_per_class(digits, digits_judge):
    torch.manual_seed(0)
    manager = DataManager(
        input_path=digits.input_path, metadata_path=digits.metadata_path, labels=["label"],
        projection_labels={"split": "train"}, number_of_folds=1, batch_size=64,
        test_size=0, input_transforms=[Flatten()], add_input=True)
    model = LearnedPriorCVAE(input_dim=64, hidden_dim=64, latent_dim=4, n_classes=10)
    interface = DeepLearningInterface(model=model, learning_rate=3e-3, add_labels=True,
                                      loss=model.objective, progress=False)
    interface.training(manager, nb_epochs=4, fold_index=0, with_validation=False)
    with torch.no_grad():
        means, _ = model.prior_parameters(torch.eye(10))
    assert float(means.abs().max()) > 0  # the prior left N(0, I), class by class
    assert float(torch.pdist(means).min()) > 0
    results = evaluate_model(model.eval(), digits.input_path, digits.metadata_path,
                             digits_judge, iw_samples=4, samples_per_class=10,
                             max_test_images=60)
    assert np.isfinite(results["iw_nll"]) and results["iw_nll"] <= results["neg_elbo"] + 1
    assert results["generation_accuracy"] > 0.1


def test_the_family_is_registered_and_rebuilt_from_its_config():
    assert Networks.get("LearnedPriorCVAE") is LearnedPriorCVAE
    assert issubclass(LearnedPriorCVAE, ConditionalCVAE)
    model = small(prior_hidden_dim=16)
    rebuilt = Networks.get("LearnedPriorCVAE")(**model.config_dict())
    assert rebuilt.config == model.config == PriorConfig(
        input_dim=64, hidden_dim=32, latent_dim=4, prior_hidden_dim=16)
    with pytest.raises(ValueError, match="prior_hidden_dim must be a positive integer, got 0"):
        PriorConfig(prior_hidden_dim=0)


def test_a_continuous_condition_gets_a_prior_along_it():
    model = LearnedPriorCVAE(input_dim=64, hidden_dim=16, latent_dim=3, classifier=False,
                             condition=[{"kind": "continuous", "name": "age", "mean": 50,
                                         "std": 10}])
    images = model.sample({"age": [30, 70]}, n=2)
    assert images.shape == (4, 64)
    prediction, outputs = model(torch.rand(2, 64), torch.tensor([[30.0], [70.0]]))
    assert outputs["prior_mu"].shape == (2, 3)
