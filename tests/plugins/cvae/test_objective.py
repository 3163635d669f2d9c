import math

import pytest
import torch

from pynet_cvae.plugins.cvae.objective import (Bernoulli, Gaussian, KLDivergence, Objective,
                                               Reconstruction, class_kl, gaussian_kl,
                                               make_likelihood)


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
