import pytest
import torch

from pynet_cvae.plugins.cvae import ConditionalCVAE, ConditionalELBOLoss
from pynet_cvae.registry import Networks


def test_labelled_images_are_encoded_and_decoded_with_their_true_class():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10)
    labels = torch.tensor([3, 0, 9, 3])
    prediction, outputs = model(torch.rand(4, 64), labels)
    assert prediction.shape == (4, 64) and 0 <= prediction.min() and prediction.max() <= 1
    assert torch.equal(outputs["y"].argmax(dim=1), labels)
    assert torch.equal(outputs["labels"], labels)
    assert outputs["z_mu"].shape == outputs["z_var"].shape == (4, 4)
    assert outputs["logits"].shape == (4, 10)
    assert "marginal_rows" not in outputs  # every label known: nothing to marginalise


def test_the_encoder_sees_the_class():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10)
    x = torch.rand(1, 64)
    first = model.encode_latent(x, torch.eye(10)[[0]])[0]
    second = model.encode_latent(x, torch.eye(10)[[1]])[0]
    assert not torch.allclose(first, second)


def test_unlabelled_images_get_every_class_in_training_and_a_guess_in_evaluation():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10)
    labels = torch.tensor([2, -1, 5, -1, -1])
    _, outputs = model(torch.rand(5, 64), labels)
    assert outputs["marginal_rows"].tolist() == [1, 3, 4]
    assert outputs["marginal_x_logits"].shape == (3 * 10, 64)
    assert outputs["marginal_z_mu"].shape == (3 * 10, 4)
    assert torch.equal(outputs["y"].sum(dim=1), torch.ones(5))  # hard Gumbel samples
    model.eval()
    x = torch.rand(3, 64)
    _, outputs = model(x)  # no labels at all: the classifier's most probable class
    assert "marginal_rows" not in outputs
    assert torch.equal(outputs["y"].argmax(dim=1), model.classify(x).argmax(dim=1))


def test_sampled_classes_follow_the_temperature_and_hardness():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            unlabelled="sample", hard=False, temperature=5.0)
    _, outputs = model(torch.rand(6, 64), torch.full((6,), -1))
    assert "marginal_rows" not in outputs
    soft = outputs["y"].detach()
    assert torch.allclose(soft.sum(dim=1), torch.ones(6)) and float(soft.max()) < 1


def test_the_consistency_term_trains_the_decoder_but_not_the_classifier():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            consistency_samples=16)
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


@pytest.mark.parametrize("shared_trunk", [True, False])
def test_convolutional_networks_train_on_a_batch(shared_trunk):
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=784, hidden_dim=32, latent_dim=4, n_classes=10,
                            architecture="conv", shared_trunk=shared_trunk,
                            consistency_samples=4)
    x = torch.rand(6, 784)
    labels = torch.tensor([0, 1, -1, 3, -1, 5])
    prediction, outputs = model(x, labels)
    loss = ConditionalELBOLoss(consistency_weight=1.0)
    loss.layer_outputs = outputs
    value, values = loss(prediction, x, labels)
    value.backward()
    assert prediction.shape == (6, 784)
    assert set(values) == {"reconstruction", "kl", "class_kl", "cross_entropy", "consistency",
                           "pseudo_label"}
    assert (model.classifier_trunk is None) == shared_trunk


def test_the_model_is_registered_and_errors_name_the_bad_value():
    assert Networks.get("ConditionalCVAE") is ConditionalCVAE
    with pytest.raises(ValueError, match="architecture must be one of .* got 'rnn'"):
        ConditionalCVAE(input_dim=64, architecture="rnn")
    with pytest.raises(ValueError, match=r"image_shape \(4, 4\) does not hold input_dim 64"):
        ConditionalCVAE(input_dim=64, image_shape=(4, 4))
    with pytest.raises(ValueError, match="multiples of 4, got image_shape \\(6, 6\\)"):
        ConditionalCVAE(input_dim=36, architecture="conv")
    with pytest.raises(ValueError, match="unlabelled must be one of"):
        ConditionalCVAE(input_dim=64, unlabelled="ignore")
    model = ConditionalCVAE(input_dim=64, hidden_dim=8, latent_dim=2, n_classes=3)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\).*got 7"):
        model(torch.rand(2, 64), torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="one label per image \\(2\\), got 3"):
        model(torch.rand(2, 64), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(batch, 64\), got \(2, 1, 8, 8\)"):
        model(torch.rand(2, 1, 8, 8))


def test_pseudo_labels_target_strong_views_of_unlabelled_images_with_confident_guesses():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            pseudo_labels=True, pseudo_label_threshold=0.11)
    x = torch.rand(5, 64)
    _, outputs = model(x, torch.tensor([2, -1, 5, -1, -1]))
    assert outputs["augmented_logits"].shape == (2, 10)  # weak views of the labelled
    assert outputs["pseudo_logits"].shape == (3, 10)
    assert outputs["pseudo_labels"].shape == outputs["pseudo_mask"].shape == (3,)
    assert set(outputs["pseudo_mask"].tolist()) <= {0.0, 1.0}
    assert not outputs["pseudo_labels"].requires_grad  # targets, not trained through
    outputs["pseudo_logits"].sum().backward()
    assert model.classifier_head.weight.grad.abs().sum() > 0
    model.eval()
    assert "pseudo_logits" not in model(x, torch.tensor([2, -1, 5, -1, -1]))[1]
    model.train()
    _, labelled = model(x[:2], torch.tensor([0, 1]))
    assert "pseudo_logits" not in labelled and labelled["augmented_logits"].shape == (2, 10)
    with pytest.raises(ValueError, match="pseudo_label_threshold must lie in .0, 1., got 0"):
        ConditionalCVAE(input_dim=64, pseudo_label_threshold=0)


def test_pseudo_labels_handle_batches_without_labelled_or_unlabelled_images():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            pseudo_labels=True)
    loss = ConditionalELBOLoss()
    for labels in (torch.full((3,), -1), torch.tensor([1, 2, 3])):
        prediction, outputs = model(torch.rand(3, 64), labels)
        loss.layer_outputs = outputs
        value, _ = loss(prediction, torch.rand(3, 64), labels)
        assert torch.isfinite(value)


@pytest.mark.parametrize("shared_trunk", [True, False])
def test_the_classifier_average_follows_training_and_classifies_in_evaluation(shared_trunk):
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            shared_trunk=shared_trunk, classifier_average=0.5)
    x, labels = torch.rand(8, 64), torch.arange(8)
    model.eval()
    assert torch.allclose(model.classify(x), model.classifier_head(
        model._classifier_features(x)))  # the average starts at the initial weights
    head = model.classifier_head.weight.detach().clone()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = ConditionalELBOLoss()
    seen = []
    for _ in range(2):
        seen.append(model.classifier_head.weight.detach().clone())
        prediction, outputs = model(x, labels)
        loss.layer_outputs = outputs
        optimizer.zero_grad()
        loss(prediction, x, labels)[0].backward()
        optimizer.step()
    moved = model.classifier_head.weight.detach()
    # updated at each forward, with the weights before that step: (w0 + w1) / 2
    average = model.classifier_average_head_weight
    assert not torch.allclose(average, head) and not torch.allclose(average, moved)
    assert torch.allclose(average, (seen[0] + seen[1]) / 2)
    assert "classifier_average_head_weight" in model.state_dict()
    model.eval()
    live = model.classifier_head(model._classifier_features(x))
    assert not torch.allclose(model.classify(x), live)
    assert torch.equal(model(x)[1]["logits"], model.classify(x))
    with pytest.raises(ValueError, match=r"classifier_average must lie in \[0, 1\), got 1"):
        ConditionalCVAE(input_dim=64, classifier_average=1)


@pytest.mark.parametrize("unlabelled", ["marginal", "sample"])
def test_without_elbo_gradient_unlabelled_images_do_not_train_the_classifier(unlabelled):
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                            shared_trunk=False, unlabelled=unlabelled,
                            elbo_trains_classifier=False)
    loss = ConditionalELBOLoss()
    x, labels = torch.rand(4, 64), torch.full((4,), -1)
    prediction, outputs = model(x, labels)
    loss.layer_outputs = outputs
    value, values = loss(prediction, x, labels)
    assert float(values["class_kl"]) > 0  # q(y|x) still weighs the ELBO
    value.backward()
    assert model.classifier_head.weight.grad is None
    assert model.decoder.layers[0].weight.grad.abs().sum() > 0
