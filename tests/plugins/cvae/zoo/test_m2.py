import math

import pytest
import torch
import torch.nn.functional as func

from pynet_cvae.averaging import WeightAverage
from pynet_cvae.observable import SignalObject
from pynet_cvae.plugins.cvae import (ClassifierAccuracy, ConditionalELBOLoss,
                                     SemiSupervisedCVAE)
from pynet_cvae.plugins.cvae.objective import class_kl, gaussian_kl
from pynet_cvae.plugins.cvae.zoo.m2.model import gumbel_softmax
from pynet_cvae.registry import Losses, Metrics


def small(**fields):
    torch.manual_seed(0)
    return SemiSupervisedCVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10,
                              **fields)


def outputs_for(labels, n_classes=3, pixels=4):
    batch = len(labels)
    return {"z_mu": torch.zeros(batch, 2), "z_var": torch.zeros(batch, 2),
            "logits": torch.zeros(batch, n_classes), "labels": torch.tensor(labels),
            "x_logits": torch.zeros(batch, pixels)}


def test_unlabelled_images_get_every_class_in_training_and_a_guess_in_evaluation():
    model = small()
    _, outputs = model(torch.rand(5, 64), torch.tensor([2, -1, 5, -1, -1]))
    assert outputs["marginal_rows"].tolist() == [1, 3, 4]
    assert outputs["marginal_x_logits"].shape == (3 * 10, 64)
    assert outputs["marginal_z_mu"].shape == (3 * 10, 4)
    assert outputs["marginal_weights"].shape == (3, 10)
    assert torch.equal(outputs["condition"].sum(dim=1), torch.ones(5))  # hard samples
    model.eval()
    x = torch.rand(3, 64)
    _, outputs = model(x)  # no labels at all: the classifier's most probable class
    assert "marginal_rows" not in outputs
    assert torch.equal(outputs["condition"].argmax(dim=1), model.classify(x).argmax(dim=1))


def test_sampled_classes_follow_the_temperature_and_hardness():
    model = small(unlabelled="sample", hard=False, temperature=5.0)
    _, outputs = model(torch.rand(6, 64), torch.full((6,), -1))
    assert "marginal_rows" not in outputs
    soft = outputs["condition"].detach()
    assert torch.allclose(soft.sum(dim=1), torch.ones(6)) and float(soft.max()) < 1


def test_unlabelled_images_sum_every_class_weighted_by_the_classifier():
    torch.manual_seed(0)
    model = SemiSupervisedCVAE(input_dim=4, hidden_dim=8, latent_dim=2, n_classes=3,
                               image_shape=(2, 2), classification_weight=0.0)
    x = torch.rand(3, 4)
    labels = torch.tensor([1, -1, -1])
    prediction, outputs = model(x, labels)
    model.objective.layer_outputs = outputs
    value, values = model.objective(prediction, x, labels)
    q = func.softmax(outputs["logits"][1:], dim=1)
    per_class = (func.binary_cross_entropy_with_logits(
        outputs["marginal_x_logits"], x[1:].repeat_interleave(3, dim=0),
        reduction="none").sum(dim=1)
        + gaussian_kl(outputs["marginal_z_mu"], outputs["marginal_z_var"])).view(2, 3)
    labelled = (func.binary_cross_entropy_with_logits(
        outputs["x_logits"][0], x[0], reduction="sum")
        + gaussian_kl(outputs["z_mu"][:1], outputs["z_var"][:1]).sum())
    expected = (labelled + (q * per_class).sum() + class_kl(outputs["logits"][1:]).sum()) / 3
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    assert float(values["class_kl"]) > 0
    value.backward()
    assert model.classifier_head.weight.grad.abs().sum() > 0  # the class posterior learns


def test_pseudo_labels_target_strong_views_of_unlabelled_images_with_confident_guesses():
    model = small(pseudo_labels=True, pseudo_label_threshold=0.11)
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
        small(pseudo_label_threshold=0)


def test_pseudo_labels_handle_batches_without_labelled_or_unlabelled_images():
    model = small(pseudo_labels=True)
    for labels in (torch.full((3,), -1), torch.tensor([1, 2, 3])):
        prediction, outputs = model(torch.rand(3, 64), labels)
        model.objective.layer_outputs = outputs
        value, _ = model.objective(prediction, torch.rand(3, 64), labels)
        assert torch.isfinite(value)


@pytest.mark.parametrize("classifier_trunk", [None, "DenseTrunk"])
def test_the_classifier_average_is_kept_by_an_after_step_observer(classifier_trunk):
    model = small(classifier_trunk=classifier_trunk, classifier_average=0.5)
    ((signal_name, observer),) = model.training_observers()
    assert signal_name == "after_step" and isinstance(observer, WeightAverage)
    x, labels = torch.rand(8, 64), torch.arange(8)
    model.eval()
    assert torch.allclose(model.classify(x), model._classifier(x))  # starts at the weights
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    start = model.classifier_head.weight.detach().clone()
    seen = []

    class Emitter:
        pass

    emitter = Emitter()
    emitter.model = model
    for step in range(2):
        prediction, outputs = model(x, labels)
        model.objective.layer_outputs = outputs
        optimizer.zero_grad()
        model.objective(prediction, x, labels)[0].backward()
        optimizer.step()
        seen.append(model.classifier_head.weight.detach().clone())
        observer(SignalObject(emitter, "after_step", step=step, skipped=False))
    # updated after each step with the weights after it: ((w0 + w1) / 2 + w2) / 2
    average = model.classifier_average.averages()["1.weight"]
    assert torch.allclose(average, ((start + seen[0]) / 2 + seen[1]) / 2)
    assert "classifier_average.1_weight" in model.state_dict()
    model.eval()
    assert not torch.allclose(model.classify(x), model._classifier(x))
    assert torch.equal(model(x)[1]["logits"], model.classify(x))
    with pytest.raises(ValueError, match=r"classifier_average must lie in \[0, 1\), got 1"):
        small(classifier_average=1)


@pytest.mark.parametrize("unlabelled", ["marginal", "sample"])
def test_without_elbo_gradient_unlabelled_images_do_not_train_the_classifier(unlabelled):
    model = small(classifier_trunk="DenseTrunk", unlabelled=unlabelled,
                  elbo_trains_classifier=False)
    x, labels = torch.rand(4, 64), torch.full((4,), -1)
    prediction, outputs = model(x, labels)
    model.objective.layer_outputs = outputs
    value, values = model.objective(prediction, x, labels)
    assert float(values["class_kl"]) > 0  # q(y|x) still weighs the ELBO
    value.backward()
    assert model.classifier_head.weight.grad is None
    assert model.decoder.layers[0].weight.grad.abs().sum() > 0


def test_the_semi_supervised_loss_with_its_weights():
    outputs = outputs_for([0, 2])
    outputs["z_mu"] = torch.ones(2, 2)  # KL = 1 per image
    loss = ConditionalELBOLoss(classification_weight=10.0)
    loss.layer_outputs = outputs
    x = torch.ones(2, 4)
    value, values = loss(torch.full((2, 4), 0.5), x, outputs["labels"])
    reconstruction = 4 * math.log(2)  # logits 0: p = 0.5 for each pixel
    assert float(values["reconstruction"]) == pytest.approx(reconstruction, rel=1e-6)
    assert float(values["kl"]) == pytest.approx(1.0)
    assert float(values["cross_entropy"]) == pytest.approx(math.log(3), rel=1e-6)
    assert float(values["class_kl"]) == 0.0
    assert float(value) == pytest.approx(reconstruction + 1.0 + 10 * math.log(3), rel=1e-6)
    loss.kl_weight = 0.25
    assert float(loss(torch.full((2, 4), 0.5), x)[0]) == pytest.approx(
        reconstruction + 0.25 + 10 * math.log(3), rel=1e-6)


def test_a_batch_without_labels_has_no_cross_entropy():
    outputs = outputs_for([-1, -1])
    loss = ConditionalELBOLoss()
    loss.layer_outputs = outputs
    _, values = loss(torch.full((2, 4), 0.5), torch.ones(2, 4), outputs["labels"])
    assert float(values["cross_entropy"]) == 0.0
    assert float(values["class_kl"]) == pytest.approx(0.0, abs=1e-6)  # q(y|x) uniform


def test_pseudo_labels_add_the_masked_cross_entropy_and_augmented_views_replace_the_plain():
    outputs = outputs_for([0, -1, -1, -1])
    outputs["augmented_logits"] = torch.tensor([[0.0, 5.0, 0.0]])  # labelled image's view
    outputs["pseudo_logits"] = torch.zeros(3, 3)
    outputs["pseudo_labels"] = torch.tensor([0, 1, 2])
    outputs["pseudo_mask"] = torch.tensor([1.0, 0.0, 1.0])
    loss = ConditionalELBOLoss(classification_weight=1.0, pseudo_label_weight=3.0)
    loss.layer_outputs = outputs
    x = torch.ones(4, 4)
    value, values = loss(torch.full((4, 4), 0.5), x, outputs["labels"])
    expected_ce = float(func.cross_entropy(outputs["augmented_logits"], torch.tensor([0])))
    assert float(values["cross_entropy"]) == pytest.approx(expected_ce, rel=1e-6)
    assert float(values["pseudo_label"]) == pytest.approx(2 * math.log(3) / 3, rel=1e-6)
    del outputs["pseudo_logits"]
    without, values_without = loss(torch.full((4, 4), 0.5), x, outputs["labels"])
    assert float(values_without["pseudo_label"]) == 0.0
    assert float(value - without) == pytest.approx(3.0 * 2 * math.log(3) / 3, rel=1e-5)


def test_classifier_accuracy_ignores_missing_labels():
    metric = ClassifierAccuracy()
    metric.layer_outputs = {"logits": torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])}
    assert float(metric(None, None, torch.tensor([0, 1, -1]))) == pytest.approx(0.5)
    assert math.isnan(float(metric(None, None, torch.tensor([-1, -1, -1]))))
    with pytest.raises(ValueError, match="needs class ids"):
        metric(None, None, None)


def test_losses_are_registered_and_need_the_model_outputs():
    assert Losses.get("ConditionalELBOLoss") is ConditionalELBOLoss
    assert Metrics.get("ClassifierAccuracy") is ClassifierAccuracy
    loss = ConditionalELBOLoss()
    with pytest.raises(ValueError, match="needs the model's layer_outputs"):
        loss(torch.rand(2, 4), torch.rand(2, 4), torch.tensor([0, 1]))
    loss.layer_outputs = {"z_mu": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match="Reconstruction.* needs 'x_logits'.*holds \\['z_mu'\\]"):
        loss(torch.rand(2, 4), torch.rand(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="reconstruction shape \\(2, 4\\) differs"):
        loss(torch.rand(2, 4), torch.rand(2, 3))


def test_the_gumbel_softmax_samples_classes_at_their_probabilities():
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).repeat(20000, 1).requires_grad_()
    torch.manual_seed(0)
    onehot = gumbel_softmax(logits, temperature=0.5, hard=True)
    assert set(onehot.sum(dim=1).tolist()) == {1.0} and set(onehot.unique().tolist()) == {0, 1}
    torch.testing.assert_close(onehot.mean(dim=0), torch.tensor([0.1, 0.2, 0.7]), atol=0.01,
                               rtol=0)
    (onehot[:, 2].sum()).backward()  # the relaxed sample's gradient passes through
    assert logits.grad.abs().sum() > 0
    relaxed = gumbel_softmax(logits.detach(), temperature=0.5, hard=False)
    torch.testing.assert_close(relaxed.sum(dim=1), torch.ones(20000))
    assert (relaxed.max(dim=1).values < 0.9).float().mean() > 0.1  # soft, not one-hot
