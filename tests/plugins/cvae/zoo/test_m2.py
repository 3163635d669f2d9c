import math

import pytest
import torch
import torch.nn.functional as func

from pynet_cvae.plugins.cvae import ClassifierAccuracy, ConditionalCVAE, ConditionalELBOLoss
from pynet_cvae.plugins.cvae.conditional_losses import class_kl, gaussian_kl
from pynet_cvae.registry import Losses, Metrics


def outputs_for(labels, n_classes=3, pixels=4):
    batch = len(labels)
    return {"z_mu": torch.zeros(batch, 2), "z_var": torch.zeros(batch, 2),
            "logits": torch.zeros(batch, n_classes), "labels": torch.tensor(labels),
            "x_logits": torch.zeros(batch, pixels)}


def test_labelled_loss_is_elbo_plus_weighted_cross_entropy():
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


def test_unlabelled_images_sum_every_class_weighted_by_the_classifier():
    torch.manual_seed(0)
    model = ConditionalCVAE(input_dim=4, hidden_dim=8, latent_dim=2, n_classes=3,
                            image_shape=(2, 2))
    x = torch.rand(3, 4)
    labels = torch.tensor([1, -1, -1])
    prediction, outputs = model(x, labels)
    loss = ConditionalELBOLoss(classification_weight=0.0)
    loss.layer_outputs = outputs
    value, values = loss(prediction, x, labels)
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


def test_a_batch_without_labels_has_no_cross_entropy():
    outputs = outputs_for([-1, -1])
    loss = ConditionalELBOLoss()
    loss.layer_outputs = outputs
    _, values = loss(torch.full((2, 4), 0.5), torch.ones(2, 4), outputs["labels"])
    assert float(values["cross_entropy"]) == 0.0
    assert float(values["class_kl"]) == pytest.approx(0.0, abs=1e-6)  # q(y|x) uniform


def test_kl_weight_scales_the_latent_kl_only():
    outputs = outputs_for([0])
    outputs["z_mu"] = torch.ones(1, 2)
    loss = ConditionalELBOLoss(classification_weight=0.0, kl_weight=0.25)
    loss.layer_outputs = outputs
    value, values = loss(torch.full((1, 4), 0.5), torch.ones(1, 4), outputs["labels"])
    assert float(value) == pytest.approx(4 * math.log(2) + 0.25, rel=1e-6)
    assert float(values["kl"]) == pytest.approx(1.0)


def test_class_kl_is_zero_for_uniform_and_log_classes_for_certain():
    assert float(class_kl(torch.zeros(1, 4))) == pytest.approx(0.0, abs=1e-6)
    assert float(class_kl(torch.tensor([[100.0, 0.0, 0.0, 0.0]]))) == pytest.approx(
        math.log(4), rel=1e-5)


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
    with pytest.raises(ValueError, match="needs the model to return"):
        loss(torch.rand(2, 4), torch.rand(2, 4), torch.tensor([0, 1]))
    loss.layer_outputs = {"z_mu": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match="needs \\['z_var', 'logits', 'labels', 'x_logits'\\]"):
        loss(torch.rand(2, 4), torch.rand(2, 4), torch.tensor([0, 1]))


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
