"""pynet's metrics: their names in the registry and their values."""

import numpy as np
import pytest
import sklearn.metrics
import torch

from pynet_cvae.metrics import BinaryClassificationMetrics, SKMetrics
from pynet_cvae.registry import Metrics

LOGITS = torch.tensor([2.0, -1.0, 3.0, -2.0, 0.5, -0.2])
TRUTH = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
PREDICTED = (torch.sigmoid(LOGITS) >= 0.5).numpy().astype(int)  # [1, 0, 1, 0, 1, 0]


def test_pynets_metric_names_are_registered():
    names = {"accuracy", "multiclass_dice", "pearson_correlation", "f1_score", "f2_score"}
    names |= {f"binary_{score}" for score in ("accuracy", "true_positive", "true_negative",
                                              "false_positive", "false_negative",
                                              "precision", "recall")}
    names |= {"sk_roc_auc_score", "sk_matthews_corrcoef", "sk_true_negative_rate"}
    assert names <= set(Metrics.get_registry())


def test_accuracy_is_the_fraction_of_right_argmax():
    scores = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.2, 0.1]])
    labels = torch.tensor([0, 1, 1, 0])
    assert Metrics.get("accuracy")(scores, labels).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"accuracy needs class scores of shape \(N, C"):
        Metrics.get("accuracy")(torch.zeros(4), labels)


@pytest.mark.parametrize("score, expected", [
    ("true_positive", 2), ("true_negative", 2), ("false_positive", 1), ("false_negative", 1),
    ("accuracy", 4 / 6), ("precision", 2 / 3), ("recall", 2 / 3)])
def test_binary_scores_from_the_confusion_counts(score, expected):
    assert Metrics.get(f"binary_{score}")(LOGITS, TRUTH).item() == pytest.approx(expected)


def test_binary_threshold_is_honoured_and_empty_classes_give_zero():
    strict = BinaryClassificationMetrics("precision", thr=0.99)
    assert strict(LOGITS, TRUTH).item() == 0.0  # nothing predicted positive
    probabilities = torch.tensor([0.6, 0.4])
    assert BinaryClassificationMetrics("accuracy", thr=0.5, with_logit=False)(
        probabilities, torch.tensor([1.0, 0.0])).item() == 1.0


@pytest.mark.parametrize("name, reference", [
    ("sk_accuracy", sklearn.metrics.accuracy_score(TRUTH, PREDICTED)),
    ("sk_matthews_corrcoef", sklearn.metrics.matthews_corrcoef(TRUTH, PREDICTED)),
    ("sk_roc_auc_score", sklearn.metrics.roc_auc_score(TRUTH, torch.sigmoid(LOGITS))),
    ("f1_score", sklearn.metrics.fbeta_score(TRUTH, PREDICTED, beta=1)),
    ("f2_score", sklearn.metrics.fbeta_score(TRUTH, PREDICTED, beta=2)),
    ("sk_false_positive_rate", 1 / 3), ("sk_negative_predictive_value", 2 / 3)])
def test_scikit_learn_metrics(name, reference):
    assert Metrics.get(name)(LOGITS, TRUTH) == pytest.approx(reference)


def test_sk_metrics_name_unknown_functions():
    with pytest.raises(ValueError, match="SKMetrics name 'f3' is neither"):
        SKMetrics("f3")


def test_dice_and_pearson():
    target = torch.nn.functional.one_hot(torch.tensor([[0, 1], [1, 1]]), 2).permute(0, 2, 1)
    perfect = target.float() * 50 - 25  # softmax ~ one-hot
    assert Metrics.get("multiclass_dice")(perfect, target).item() == pytest.approx(1, abs=1e-3)
    x = torch.arange(6.0)
    assert Metrics.get("pearson_correlation")(x, 3 * x - 1).item() == pytest.approx(1)
    assert Metrics.get("pearson_correlation")(x, -x).item() == pytest.approx(-1)
    assert np.isfinite(Metrics.get("pearson_correlation")(x, x ** 2).item())
