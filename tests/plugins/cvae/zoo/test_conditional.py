import pytest
import torch

from pynet_cvae.plugins.cvae import (Condition, ConditionalConfig, ConditionalCVAE,
                                     Continuous, Categorical)
from pynet_cvae.plugins.cvae.networks import DenseDecoder, DenseTrunk
from pynet_cvae.plugins.cvae.objective import Classification, Consistency
from pynet_cvae.registry import Networks


def small(**fields):
    torch.manual_seed(0)
    return ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10, **fields)


def test_labelled_images_are_encoded_and_decoded_with_their_true_class():
    model = small()
    labels = torch.tensor([3, 0, 9, 3])
    prediction, outputs = model(torch.rand(4, 64), labels)
    assert prediction.shape == (4, 64) and 0 <= prediction.min() and prediction.max() <= 1
    assert torch.equal(outputs["condition"].argmax(dim=1), labels)
    assert torch.equal(outputs["labels"], labels)
    assert outputs["z_mu"].shape == outputs["z_var"].shape == (4, 4)
    assert outputs["logits"].shape == (4, 10)


def test_the_encoder_sees_the_class():
    model = small()
    x = torch.rand(1, 64)
    first = model.encode_latent(x, torch.eye(10)[[0]])[0]
    second = model.encode_latent(x, torch.eye(10)[[1]])[0]
    assert not torch.allclose(first, second)


def test_without_labels_evaluation_uses_the_classifier_and_training_refuses():
    model = small()
    model.eval()
    x = torch.rand(3, 64)
    _, outputs = model(x)
    assert torch.equal(outputs["condition"].argmax(dim=1), model.classify(x).argmax(dim=1))
    model.train()
    with pytest.raises(ValueError, match="needs each image's condition \\['class'\\]"):
        model(x)
    with pytest.raises(ValueError, match="needs every label.*SemiSupervisedCVAE"):
        model(x, torch.tensor([0, -1, 2]))


def test_the_objective_reads_as_the_list_of_its_terms():
    model = small(consistency_samples=16, kl_weight=4.0)
    assert [term.name for term in model.objective.terms] == [
        "reconstruction", "kl", "cross_entropy", "consistency"]
    assert model.objective["kl"].weight == 4.0
    assert [term.name for term in small(classification_weight=0).objective.terms] == [
        "reconstruction", "kl"]
    x, labels = torch.rand(4, 64), torch.tensor([0, 1, 2, 3])
    prediction, outputs = model(x, labels)
    model.objective.layer_outputs = outputs
    loss, values = model.objective(prediction, x, labels)
    expected = sum(term.effective_weight * values[term.name] for term in model.objective.terms)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6)


def test_the_consistency_term_trains_the_decoder_but_not_the_classifier():
    model = small(consistency_samples=16)
    _, outputs = model(torch.rand(4, 64), torch.tensor([0, 1, 2, 3]))
    assert outputs["generated_logits"].shape == (16, 10)
    assert outputs["generated_labels"].shape == (16,)
    torch.nn.functional.cross_entropy(outputs["generated_logits"],
                                      outputs["generated_labels"]).backward()
    assert model.decoder.layers[0].weight.grad.abs().sum() > 0
    assert model.classifier_head.weight.grad is None
    assert model.encoder_trunk.layers[0].weight.grad is None
    model.eval()
    assert "generated_logits" not in model(torch.rand(2, 64), torch.tensor([0, 1]))[1]


@pytest.mark.parametrize("classifier_trunk", [None, "Conv2dTrunk", "Conv2dGroupNormTrunk",
                                              "Conv2dBatchNormTrunk"])
def test_convolutional_networks_train_on_a_batch(classifier_trunk):
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=784, hidden_dim=32, latent_dim=4, n_classes=10,
                            encoder="Conv2dTrunk", decoder="Conv2dDecoder",
                            classifier_trunk=classifier_trunk, consistency_samples=4)
    x = torch.rand(6, 784)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    prediction, outputs = model(x, labels)
    model.objective.layer_outputs = outputs
    value, values = model.objective(prediction, x, labels)
    value.backward()
    assert prediction.shape == (6, 784)
    assert set(values) == {"reconstruction", "kl", "cross_entropy", "consistency"}
    assert (model.classifier_trunk is None) == (classifier_trunk is None)


def test_networks_are_injected_or_named_and_the_config_rebuilds_the_model():
    torch.manual_seed(0)
    trunk, decoder = DenseTrunk((8, 8), 32), DenseDecoder(4 + 10, 32, (8, 8))
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, encoder=trunk,
                            decoder=decoder)
    assert model.encoder_trunk is trunk and model.decoder is decoder
    config = ConditionalConfig(input_dim=64, hidden_dim=32, latent_dim=4)
    rebuilt = Networks.get("ConditionalCVAE")(**small().config_dict())
    assert rebuilt.config == small().config
    assert ConditionalCVAE(config, latent_dim=5).latent_dim == 5  # fields override
    assert ConditionalCVAE({"input_dim": 64, "hidden_dim": 32}).hidden_dim == 32


def test_a_continuous_condition_without_classifier():
    condition = Condition([Continuous("brightness", mean=0.5, std=0.2), Categorical("site", 2)])
    model = ConditionalCVAE(input_dim=64, hidden_dim=16, latent_dim=3, classifier=False,
                            condition=condition.to_spec())
    assert model.condition == condition and not model.has_classifier
    values = torch.tensor([[0.3, 0.0], [0.9, 1.0]])
    prediction, outputs = model(torch.rand(2, 64), values)
    assert outputs["condition"].shape == (2, 3) and "logits" not in outputs
    assert [term.name for term in model.objective.terms] == ["reconstruction", "kl"]
    images = model.sample({"brightness": [0.2, 0.8]}, n=3)
    assert images.shape == (6, 64)
    with pytest.raises(ValueError, match="no classifier to predict the condition"):
        model.encode(torch.rand(2, 64))
    assert model.reconstruct(torch.rand(2, 64), values).shape == (2, 64)
    with pytest.raises(ValueError, match="a classifier needs a class-only condition"):
        ConditionalCVAE(input_dim=64, condition=condition.to_spec())


def test_a_gaussian_likelihood_decodes_means():
    model = small(likelihood="gaussian", likelihood_sigma=0.2)
    prediction, outputs = model(torch.rand(2, 64), torch.tensor([0, 1]))
    assert torch.equal(prediction, outputs["x_logits"])
    assert repr(model.objective["reconstruction"].likelihood) == "Gaussian(sigma=0.2)"


def test_the_model_is_registered_and_errors_name_the_bad_value():
    assert Networks.get("ConditionalCVAE") is ConditionalCVAE
    with pytest.raises(ValueError, match="encoder 'Rnn' is not a registered network"):
        ConditionalCVAE(input_dim=64, encoder="Rnn")
    with pytest.raises(ValueError, match=r"image_shape \(4, 4\) does not hold input_dim 64"):
        ConditionalCVAE(input_dim=64, image_shape=(4, 4))
    with pytest.raises(ValueError, match="multiples of 4, got image_shape \\(6, 6\\)"):
        ConditionalCVAE(input_dim=36, encoder="Conv2dTrunk")
    with pytest.raises(ValueError, match="ConditionalConfig has no field 'architecture'"):
        ConditionalCVAE(input_dim=64, architecture="conv")
    with pytest.raises(ValueError, match="likelihood must be one of"):
        ConditionalCVAE(input_dim=64, likelihood="poisson")
    model = ConditionalCVAE(input_dim=64, hidden_dim=8, latent_dim=2, n_classes=3)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\).*to 7"):
        model(torch.rand(2, 64), torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="one label per image \\(2\\), got 3"):
        model(torch.rand(2, 64), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(batch, 64\), got \(2, 1, 8, 8\)"):
        model(torch.rand(2, 1, 8, 8))


def test_terms_are_the_shared_objects():
    model = small(consistency_samples=2)
    assert isinstance(model.objective["cross_entropy"], Classification)
    assert isinstance(model.objective["consistency"], Consistency)
    assert model.objective["consistency"].samples == 2


def test_a_condition_map_gives_each_pixel_its_own_covariate_effects():
    condition = Condition([Continuous("age", mean=0.0, std=1.0), Categorical("site", 2)])
    # convolutions share their weights across the image, a dense decoder would not
    fields = dict(input_dim=256, image_shape=(16, 16), hidden_dim=16, latent_dim=2,
                  encoder="Conv2dTrunk", decoder="Conv2dDecoder", classifier=False,
                  likelihood="gaussian", condition=condition.to_spec())
    torch.manual_seed(0)
    plain = ConditionalCVAE(**fields)
    torch.manual_seed(0)
    mapped = ConditionalCVAE(**fields, condition_map=1)
    assert plain.condition_map is None
    assert mapped.condition_map.linear.weight.shape == (256, 3)
    # the cubic map also sees age squared and cubed (age is the continuous column 0)
    cubic = ConditionalCVAE(**fields, condition_map=3).condition_map
    assert cubic.linear.weight.shape == (256, 5) and cubic.continuous.tolist() == [0]
    values = torch.tensor([[2.0, 1.0]])
    encoded = condition.encode(values)
    with torch.no_grad():
        cubic.linear.weight.zero_()
        cubic.linear.weight[:, 3:] = torch.tensor([1.0, 10.0])
    expected = 2.0 ** 2 + 10 * 2.0 ** 3
    assert torch.allclose(cubic(encoded), torch.full((1, 256), expected))
    mapped.decoder.load_state_dict(plain.decoder.state_dict())
    z, encoded = torch.randn(5, 2), condition.encode(torch.tensor([[0.5, 1.0]] * 5))
    # zero before training: the decoder alone
    assert torch.equal(mapped.decode(z, encoded), plain.decode(z, encoded))
    rebuilt = Networks.get("ConditionalCVAE")(**mapped.config_dict())
    assert rebuilt.config.condition_map == 1 and rebuilt.condition_map is not None
    for bad in (True, -1, 1.5):
        with pytest.raises(ValueError, match="condition_map must be an integer >= 0"):
            ConditionalCVAE(**fields, condition_map=bad)

    # pixels whose intercept and ageing differ one from another, and one site brighter
    generator = torch.Generator().manual_seed(1)
    intercept = torch.rand(256, generator=generator)
    slope = torch.randn(256, generator=generator)
    ages = torch.randn(128, generator=generator)
    sites = torch.randint(0, 2, (128,), generator=generator)
    images = intercept + ages[:, None] * slope * 0.2 + 0.3 * sites[:, None]
    encoded = condition.encode(torch.stack([ages, sites.float()], dim=1))
    losses = {}
    for name, model in (("plain", plain), ("mapped", mapped)):
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):  # the decoder at z = 0: what the covariates explain
            optimiser.zero_grad()
            loss = ((model.decode(torch.zeros(128, 2), encoded) - images) ** 2).mean()
            loss.backward()
            optimiser.step()
        losses[name] = loss.item()
    assert losses["mapped"] < 1e-4 and losses["mapped"] < losses["plain"] / 3
