import math

import numpy as np
import pytest
import torch

from pynet_cvae.plugins.cvae import ConditionalCVAE
from pynet_cvae.plugins.cvae.objective import (Bernoulli, Gaussian, KLDivergence,
                                               LatentIndependence, Objective, Reconstruction,
                                               class_kl, gaussian_kl, make_likelihood)


def test_class_kl_is_zero_for_uniform_and_log_classes_for_certain():
    assert float(class_kl(torch.zeros(1, 4))) == pytest.approx(0.0, abs=1e-6)
    assert float(class_kl(torch.tensor([[100.0, 0.0, 0.0, 0.0]]))) == pytest.approx(
        math.log(4), rel=1e-5)


def test_the_kl_to_a_learned_prior_matches_the_standard_one_at_n01():
    z_mu, z_var = torch.randn(3, 2), torch.randn(3, 2)
    zeros = torch.zeros(3, 2)
    assert torch.allclose(gaussian_kl(z_mu, z_var), gaussian_kl(z_mu, z_var, zeros, zeros))
    assert torch.allclose(gaussian_kl(z_mu, z_var, z_mu, z_var), torch.zeros(3), atol=1e-6)


def test_likelihoods_give_per_image_nll_and_means():
    x = torch.ones(2, 4)
    assert torch.allclose(Bernoulli().nll(torch.zeros(2, 4), x), torch.full((2,), 4 * math.log(2)))
    gaussian = make_likelihood("gaussian", sigma=1.0)
    assert torch.allclose(gaussian.nll(x, x), torch.full((2,), 2 * math.log(2 * math.pi)))
    assert torch.equal(gaussian.mean(x), x) and isinstance(gaussian, Gaussian)
    with pytest.raises(ValueError, match="likelihood 'poisson' unknown"):
        make_likelihood("poisson")


def test_the_objective_weighs_each_term_by_weight_and_scale():
    objective = Objective([Reconstruction(), KLDivergence(weight=4.0)])
    objective.layer_outputs = {"x_logits": torch.zeros(2, 4), "z_mu": torch.ones(2, 2),
                               "z_var": torch.zeros(2, 2)}
    x = torch.ones(2, 4)
    loss, values = objective(torch.full((2, 4), 0.5), x)
    assert float(values["kl"]) == pytest.approx(1.0)
    assert float(loss) == pytest.approx(4 * math.log(2) + 4.0, rel=1e-6)
    objective["kl"].scale = 0.5
    assert float(objective(torch.full((2, 4), 0.5), x)[0]) == pytest.approx(
        4 * math.log(2) + 2.0, rel=1e-6)
    assert objective.terms_of(KLDivergence) == [objective["kl"]]
    with pytest.raises(ValueError, match=r"term names must be unique, got \['kl'\]"):
        Objective([KLDivergence(), KLDivergence()])
    with pytest.raises(KeyError, match="no term 'nope'"):
        objective["nope"]


def test_latent_independence_is_the_squared_correlations_of_latents_and_condition():
    generator = torch.Generator().manual_seed(0)
    age = torch.randn(64, 1, generator=generator, dtype=torch.float64)
    site = torch.nn.functional.one_hot(torch.arange(64) % 3, 3).double()
    constant = torch.ones(64, 1, dtype=torch.float64)  # left out: no variance
    condition = torch.cat([age, site, constant], dim=1)
    z_mu = torch.cat([2 * age + 0.5 * torch.randn(64, 1, generator=generator,
                                                  dtype=torch.float64),
                      torch.randn(64, 2, generator=generator, dtype=torch.float64)], dim=1)
    value = LatentIndependence().value({"z_mu": z_mu, "condition": condition},
                                       torch.zeros(64, 4))
    expected = sum(np.corrcoef(z_mu[:, j], condition[:, k])[0, 1] ** 2
                   for j in range(3) for k in range(4))
    assert float(value) == pytest.approx(expected, rel=1e-9)
    assert float(value) > 0.9  # the first latent dimension carries the age
    # without the condition or with too few rows, no value
    assert float(LatentIndependence().value({"z_mu": z_mu}, torch.zeros(64, 4))) == 0
    assert float(LatentIndependence().value(
        {"z_mu": z_mu[:2], "condition": condition[:2]}, torch.zeros(2, 4))) == 0


def test_a_conditional_model_trains_with_the_independence_term_when_weighted():
    condition = [{"kind": "continuous", "name": "age", "mean": 50.0, "std": 10.0}]
    plain = ConditionalCVAE(input_dim=16, hidden_dim=8, latent_dim=2, condition=condition,
                            classifier=False)
    assert "independence" not in [term.name for term in plain.objective.terms]
    model = ConditionalCVAE(input_dim=16, hidden_dim=8, latent_dim=2, condition=condition,
                            classifier=False, independence_weight=5.0)
    assert model.objective["independence"].weight == 5.0
    x, ages = torch.rand(8, 16), torch.linspace(30, 70, 8)[:, None]
    prediction = model(x, ages)
    model.objective.layer_outputs = prediction[1]
    loss, values = model.objective(prediction[0], x)
    assert 0 < float(values["independence"]) and torch.isfinite(loss)
    with pytest.raises(ValueError, match="independence_weight must be a finite number >= 0"):
        ConditionalCVAE(input_dim=16, condition=condition, independence_weight=-1.0)
