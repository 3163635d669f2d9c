import pytest
import torch

from pynet_cvae.plugins.cvae import CVAE, Decoder, DigitClassifier, Encoder, idx2onehot


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
