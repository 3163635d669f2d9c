import math

import pytest
import torch

from pynet_cvae.plugins.cvae import ClassificationLoss, DecodeLoss, VAELoss


def layer_outputs(batch=4, latent=3, classes=10):
    return {"z_mu": torch.zeros(batch, latent), "z_var": torch.zeros(batch, latent),
            "logits": torch.zeros(batch, classes)}


def test_vae_loss_is_reconstruction_plus_kl_per_image():
    loss = VAELoss()
    outputs = layer_outputs()
    outputs["z_mu"] = torch.ones(4, 3)  # KL = 0.5 * sum(mu^2) = 1.5 per image
    loss.layer_outputs = outputs
    value = loss(torch.full((4, 5), 0.5), torch.ones(4, 5))
    assert float(value) == pytest.approx(5 * math.log(2) + 1.5, rel=1e-6)


def test_classification_loss_is_the_cross_entropy_of_the_logits():
    loss = ClassificationLoss()
    loss.layer_outputs = layer_outputs()
    value = loss(torch.rand(4, 5), torch.rand(4, 5), torch.tensor([0, 1, 2, 3]))
    assert float(value) == pytest.approx(math.log(10), rel=1e-6)


def test_decode_loss_weights_the_classification():
    loss = DecodeLoss(classification_weight=10.0)
    loss.layer_outputs = layer_outputs()
    x = torch.full((4, 5), 0.5)
    y = torch.tensor([0, 1, 2, 3])
    assert float(loss(x, x, y)) == pytest.approx(5 * math.log(2) + 10 * math.log(10), rel=1e-6)


def test_missing_layer_outputs_are_clear_errors():
    with pytest.raises(ValueError, match="VAELoss needs the model to return"):
        VAELoss()(torch.rand(2, 3), torch.rand(2, 3))
    loss = ClassificationLoss()
    loss.layer_outputs = {"z_mu": torch.zeros(2, 1)}
    with pytest.raises(ValueError, match="needs \\['logits'\\].*holds \\['z_mu'\\]"):
        loss(torch.rand(2, 3), torch.rand(2, 3), torch.tensor([0, 1]))
    loss.layer_outputs = layer_outputs(batch=2)
    with pytest.raises(ValueError, match="needs class ids"):
        loss(torch.rand(2, 3), torch.rand(2, 3))
    vae = VAELoss()
    vae.layer_outputs = layer_outputs(batch=2)
    with pytest.raises(ValueError, match="reconstruction shape \\(2, 3\\) differs"):
        vae(torch.rand(2, 3), torch.rand(2, 4))
