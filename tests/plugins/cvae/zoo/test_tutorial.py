import math

import pytest
import torch

from pynet_cvae.plugins.cvae import (CVAE, ClassificationLoss, DecodeLoss, Decoder,
                                    DigitClassifier, Encoder, TutorialConfig, VAELoss,
                                    idx2onehot)


def test_idx2onehot_on_the_ids_device():
    onehot = idx2onehot(torch.tensor([2, 0, 1]), 3)
    assert torch.equal(onehot, torch.tensor([[0., 0., 1.], [1., 0., 0.], [0., 1., 0.]]))
    with pytest.raises(ValueError, match="class ids must lie in \\[0, 3\\).*to 3"):
        idx2onehot(torch.tensor([3]), 3)
    with pytest.raises(ValueError, match="must be 1-D"):
        idx2onehot(torch.zeros(2, 2, dtype=torch.long), 3)


def test_sub_networks_shapes():
    x = torch.rand(5, 64)
    z_mu, z_var = Encoder(64, 32, 4)(x)
    assert z_mu.shape == z_var.shape == (5, 4)
    image = Decoder(4, 32, 64, 10)(torch.rand(5, 14))
    assert image.shape == (5, 64) and 0 <= image.min() and image.max() <= 1
    assert DigitClassifier(64, 32, 10)(x).shape == (5, 10)


def test_cvae_returns_the_reconstruction_and_layer_outputs():
    model = CVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10)
    prediction, layer_outputs = model(torch.rand(5, 64))
    assert prediction.shape == (5, 64)
    assert set(layer_outputs) == {"z_mu", "z_var", "logits", "y"}
    assert layer_outputs["logits"].shape == (5, 10)
    assert torch.equal(layer_outputs["y"].sum(dim=1), torch.ones(5))  # hard one-hot


def test_cvae_generates_the_requested_classes_shape():
    model = CVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10)
    images = model.generate(torch.arange(10), torch.zeros(10, 4))
    assert images.shape == (10, 64)


def test_cvae_input_errors_name_the_shape():
    model = CVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10)
    with pytest.raises(ValueError, match="\\(batch, 64\\), got \\(5, 1, 8, 8\\).*flatten"):
        model(torch.rand(5, 1, 8, 8))
    with pytest.raises(ValueError, match="latent_dim must be a positive integer, got 0"):
        CVAE(input_dim=64, hidden_dim=32, latent_dim=0, n_classes=10)


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


def test_the_tutorial_model_has_a_typed_config_and_the_class_condition():
    model = CVAE.from_config(TutorialConfig(input_dim=64, hidden_dim=16, latent_dim=3))
    assert (model.hidden_dim, model.latent_dim, model.n_classes) == (16, 3, 10)
    assert model.condition.is_class_only and model.config_dict()["input_dim"] == 64
    with pytest.raises(ValueError, match="hidden_dim must be a positive integer, got 0"):
        CVAE(64, 0, 3, 10)
