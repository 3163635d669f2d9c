"""pynet's metrics, registered under pynet's names in :class:`~pynet_cvae.registry.Metrics`.

``metrics=["accuracy"]`` in :class:`~pynet_cvae.interfaces.DeepLearningInterface`
finds them by name; each is reported under that name. A metric is called as
``metric(prediction, target)`` on every batch and averaged over the epoch.

``accuracy``
    Fraction of samples whose arg-max class (dimension 1) is the label.
``multiclass_dice``
    Mean over the classes of the soft Dice of ``softmax(prediction)`` and one-hot
    targets ``(N, C, ...)``.
``pearson_correlation``
    Pearson correlation of the flattened prediction and target.
``binary_<score>``
    :class:`BinaryClassificationMetrics`: ``accuracy``, ``true_positive``,
    ``true_negative``, ``false_positive``, ``false_negative``, ``precision``,
    ``recall``.
``sk_<name>``
    :class:`SKMetrics`: a scikit-learn score or a rate of the confusion matrix (see
    :data:`SK_METRIC_NAMES`).
``f1_score``, ``f2_score``
    :class:`SKMetrics` of ``fbeta_score`` with ``beta=1`` and ``beta=2``.

The binary metrics take one score (a logit unless ``with_logit=False``) per sample
and a 0/1 target; a probability at or above ``thr`` is class 1.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import numpy as np
import torch

from .registry import Metrics

__all__ = ["accuracy", "multiclass_dice", "pearson_correlation",
           "BinaryClassificationMetrics", "SKMetrics", "BINARY_SCORES", "SK_METRIC_NAMES"]


def _check_classes(prediction: torch.Tensor, name: str) -> None:
    if prediction.dim() < 2:
        raise ValueError(f"{name} needs class scores of shape (N, C, ...), got a prediction "
                         f"of shape {tuple(prediction.shape)}")


def accuracy(prediction: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose arg-max class along dimension 1 equals the label."""
    _check_classes(prediction, "accuracy")
    return (prediction.detach().argmax(dim=1) == labels).float().mean()


def _soft_dice(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    intersection = (prediction * target).sum()
    return (2.0 * intersection + 1.0) / (prediction.sum() + target.sum() + 1.0)


def multiclass_dice(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the classes of the Dice of ``softmax(prediction)`` and one-hot targets.

    Both have shape ``(N, C, ...)``; each class's Dice is smoothed by 1.
    """
    _check_classes(prediction, "multiclass_dice")
    if target.shape != prediction.shape:
        raise ValueError(f"multiclass_dice needs one-hot targets of the prediction's shape "
                         f"{tuple(prediction.shape)}, got {tuple(target.shape)}")
    probabilities = torch.softmax(prediction.detach(), dim=1)
    classes = probabilities.shape[1]
    return sum(_soft_dice(probabilities[:, index], target[:, index].float())
               for index in range(classes)) / classes


def pearson_correlation(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the flattened prediction and target."""
    centred_prediction = prediction.detach().flatten().float()
    centred_target = target.flatten().float()
    centred_prediction = centred_prediction - centred_prediction.mean()
    centred_target = centred_target - centred_target.mean()
    return (centred_prediction @ centred_target) / (
        centred_prediction.norm() * centred_target.norm())


def _ratio(numerator, denominator):
    """``numerator / denominator``, 0 where the denominator is 0 (an empty class)."""
    if isinstance(denominator, torch.Tensor):
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1),
                           torch.zeros_like(denominator))
    return numerator / denominator if denominator else 0.0


BINARY_SCORES: Dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "true_positive": lambda tp, tn, fp, fn: tp,
    "true_negative": lambda tp, tn, fp, fn: tn,
    "false_positive": lambda tp, tn, fp, fn: fp,
    "false_negative": lambda tp, tn, fp, fn: fn,
    "accuracy": lambda tp, tn, fp, fn: _ratio(tp + tn, tp + tn + fp + fn),
    "precision": lambda tp, tn, fp, fn: _ratio(tp, tp + fp),
    "recall": lambda tp, tn, fp, fn: _ratio(tp, tp + fn),
}
"""The scores of :class:`BinaryClassificationMetrics`, from the batch's confusion counts."""


class BinaryClassificationMetrics:
    """One binary classification score of a batch, computed on the device.

    Parameters
    ----------
    score : str
        One of :data:`BINARY_SCORES`: a confusion count of the batch
        (``true_positive``...), ``accuracy``, ``precision`` or ``recall`` (0 when
        undefined).
    thr : float, default 0.5
        Probabilities at or above it are class 1 (pynet ignored this argument and
        used 0.5).
    with_logit : bool, default True
        The prediction is a logit: apply a sigmoid first.
    """

    def __init__(self, score: str, thr: float = 0.5, with_logit: bool = True):
        if score not in BINARY_SCORES:
            raise ValueError(f"score {score!r} unknown: expected one of {list(BINARY_SCORES)}")
        self.score, self.thr, self.with_logit = score, float(thr), with_logit

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probability = prediction.detach().reshape(-1).float()
        if self.with_logit:
            probability = torch.sigmoid(probability)
        predicted = probability >= self.thr
        truth = target.reshape(-1) >= self.thr
        tp = (predicted & truth).sum().float()
        tn = (~predicted & ~truth).sum().float()
        fp = (predicted & ~truth).sum().float()
        fn = (~predicted & truth).sum().float()
        return BINARY_SCORES[self.score](tp, tn, fp, fn)

    def __repr__(self) -> str:
        return (f"BinaryClassificationMetrics({self.score!r}, thr={self.thr!r}, "
                f"with_logit={self.with_logit!r})")


_CONFUSION_RATES: Dict[str, Callable[[int, int, int, int], float]] = {
    "accuracy": lambda tn, fp, fn, tp: _ratio(tp + tn, tp + tn + fp + fn),
    "false_discovery_rate": lambda tn, fp, fn, tp: _ratio(fp, tp + fp),
    "false_negative_rate": lambda tn, fp, fn, tp: _ratio(fn, tp + fn),
    "false_positive_rate": lambda tn, fp, fn, tp: _ratio(fp, fp + tn),
    "negative_predictive_value": lambda tn, fp, fn, tp: _ratio(tn, tn + fn),
    "positive_predictive_value": lambda tn, fp, fn, tp: _ratio(tp, tp + fp),
    "true_negative_rate": lambda tn, fp, fn, tp: _ratio(tn, tn + fp),
    "true_positive_rate": lambda tn, fp, fn, tp: _ratio(tp, tp + fn),
}
_SCORE_METRICS = ("roc_auc_score", "average_precision_score", "log_loss", "brier_score_loss")

SK_METRIC_NAMES = ("accuracy", "average_precision_score", "cohen_kappa_score",
                   "roc_auc_score", "log_loss", "matthews_corrcoef", "precision_score",
                   "false_discovery_rate", "false_negative_rate", "false_positive_rate",
                   "negative_predictive_value", "positive_predictive_value",
                   "true_negative_rate", "true_positive_rate")
"""The :class:`SKMetrics` registered as ``sk_<name>``."""


class SKMetrics:
    """A scikit-learn metric (or a rate of the binary confusion matrix) of a batch.

    Parameters
    ----------
    name : str
        A function of :mod:`sklearn.metrics` (``roc_auc_score``, ``fbeta_score``...)
        or a confusion rate: ``accuracy``, ``false_discovery_rate``,
        ``false_negative_rate``, ``false_positive_rate``,
        ``negative_predictive_value``, ``positive_predictive_value``,
        ``true_negative_rate``, ``true_positive_rate`` (0 when undefined).
    thr : float, default 0.5
        Probabilities above it are class 1, except for the score metrics
        (``roc_auc_score``, ``average_precision_score``, ``log_loss``,
        ``brier_score_loss``), which get the probabilities.
    with_logit : bool, default True
        The prediction is a logit: apply a sigmoid first.
    **kwargs
        Arguments of the scikit-learn function (e.g. ``beta=2``).
    """

    def __init__(self, name: str, thr: float = 0.5, with_logit: bool = True, **kwargs: Any):
        import sklearn.metrics

        self.name, self.thr, self.with_logit, self.kwargs = name, float(thr), with_logit, kwargs
        if name in _CONFUSION_RATES:
            self.metric = sklearn.metrics.confusion_matrix
        else:
            self.metric = getattr(sklearn.metrics, name, None)
            if not callable(self.metric):
                raise ValueError(f"SKMetrics name {name!r} is neither a confusion rate "
                                 f"{sorted(_CONFUSION_RATES)} nor a sklearn.metrics function")

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        prediction = prediction.detach()
        if self.with_logit:
            prediction = torch.sigmoid(prediction.float())
        scores = prediction.reshape(-1).cpu().numpy()
        truth = target.detach().reshape(-1).cpu().numpy()
        if self.name in _CONFUSION_RATES:
            matrix = self.metric(truth, (scores > self.thr).astype(int), labels=[0, 1])
            return float(_CONFUSION_RATES[self.name](*matrix.ravel()))
        if self.name not in _SCORE_METRICS:
            scores = (scores > self.thr).astype(int)
        return float(np.asarray(self.metric(truth, scores, **self.kwargs)))

    def __repr__(self) -> str:
        options = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"SKMetrics({self.name!r}, thr={self.thr!r}{options})"


for _function in (accuracy, multiclass_dice, pearson_correlation):
    Metrics.register(_function)
for _score in BINARY_SCORES:
    Metrics.register(BinaryClassificationMetrics(_score), name=f"binary_{_score}")
for _name in SK_METRIC_NAMES:
    Metrics.register(SKMetrics(_name), name=f"sk_{_name}")
Metrics.register(SKMetrics("fbeta_score", beta=1), name="f1_score")
Metrics.register(SKMetrics("fbeta_score", beta=2), name="f2_score")
