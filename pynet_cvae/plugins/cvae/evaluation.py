"""Evaluate a trained conditional model on a data set's test split.

:func:`evaluate_model` reports, for any model with the generation interface
(:class:`~pynet_cvae.plugins.cvae.GenerativeMixin`). For a class-conditioned model
with a classifier (the tutorial's :class:`~pynet_cvae.plugins.cvae.CVAE`,
:class:`~pynet_cvae.plugins.cvae.ConditionalCVAE`), the class is summed out and the
likelihoods are of p(x); for any other condition (covariates, or classes without a
classifier) they are of p(x|c), with each test image's own condition read from the
metadata (``conditional_likelihood`` is then True):

``neg_elbo``
    The negative ELBO of log p(x), nats per image: with p(y) uniform over the
    classes, ``sum_y q(y|x) [BCE(x, decode(z_y, y)) + KL(q(z|x, y) || N(0, I))]
    + KL(q(y|x) || uniform)`` (one z per class). Without its last term (at most
    log(n_classes) nats) it is the expectation of the tutorial's ``VAELoss``.
``iw_nll``
    An importance-weighted estimate of -log p(x), nats per image, with
    ``iw_samples`` (K) draws of z from q(z|x, y) for *each* class, the class summed
    exactly under the uniform prior: ``-log (1 / (C K)) sum_y sum_k
    p(x|z_yk, y) p(z_yk) / q(z_yk|x, y)``. Lower is better; it is at most
    ``neg_elbo`` on average.
``classifier_accuracy``
    The accuracy of the model's classifier on the test images (with a classifier).
``generation_accuracy`` (and ``_worst``, ``_per_class``)
    The fraction of generated images (``samples_per_class`` per class, the same
    standard normal draws for every class through the model's sampling prior: N(0, I),
    a learned p(z|c), or a fitted aggregate prior) that an independent judge
    (:mod:`~pynet_cvae.plugins.cvae.judge`) assigns to the requested class.
``diversity_ratio_mean`` / ``_min``
    Per class, the mean pairwise Euclidean distance between generated images over
    that between real test images of the class: a collapsed generator scores near 0.
``judge_test_accuracy`` / ``judge_reconstruction_accuracy`` (and ``_worst``, ``_per_class``)
    The judge's accuracy on the real test images (measured here, never read from
    the judge's cache), and on the model's reconstructions of them (latent mean,
    the classifier's class). A class the decoder cannot draw recognisably even from
    a real image's code seldom fares much better when generated: a prior or a
    sampling scheme chooses the codes, not the details the decoder draws.

``frechet_distance``, ``precision``, ``recall`` (and ``_per_class``)
    Generated images against real test images in the judge's feature space
    (:func:`~pynet_cvae.plugins.cvae.sample_scores.fidelity_scores`): the Fréchet
    distance (lower is better) and Kynkäänniemi et al.'s precision (fidelity) and
    recall (variety).
``cas`` / ``cas_real``
    With ``cas_images_per_class``, the Classification Accuracy Score
    (:func:`~pynet_cvae.plugins.cvae.sample_scores.classification_accuracy_score`):
    the real test accuracy of a classifier trained on generated images only, beside
    the same classifier trained on as many real images. The latter is the same for
    every model of a data set: it is cached beside the judge
    (:func:`~pynet_cvae.plugins.cvae.judge.load_or_train_judge` with
    ``images_per_class``) and, like the judge, scored again at each use.

The measures by the judge need a class-only condition. Memory stays flat: the test
images are read from the memory-mapped array in bounded batches, and each batch's
tensors are released before the next.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as func

from ...jsonio import write_json
from .generation import evaluating
from .judge import Judge, accuracy_on_rows, load_or_train_judge, predict, read_split
from .objective import gaussian_kl
from .sample_scores import classification_accuracy_score, fidelity_scores, generate_class

logger = logging.getLogger("pynet_cvae")

_LOG_2PI = math.log(2 * math.pi)
#: Images times importance samples decoded at once by the importance-weighted loop.
IW_CHUNK = 2048

#: The rows of :func:`format_table`: result key, label, format.
TABLE_ROWS = (
    ("neg_elbo", "negative ELBO (nats/image)", "{:.2f}"),
    ("iw_nll", "IW -log p(x) (nats/image)", "{:.2f}"),
    ("classifier_accuracy", "classifier accuracy", "{:.3f}"),
    ("generation_accuracy", "generation accuracy (judge)", "{:.3f}"),
    ("generation_accuracy_worst", "  worst class", "{:.3f}"),
    ("generation_worst_class", "  worst class id", "{}"),
    ("diversity_ratio_mean", "diversity ratio, mean", "{:.3f}"),
    ("diversity_ratio_min", "diversity ratio, min", "{:.3f}"),
    ("judge_reconstruction_accuracy", "judge on reconstructions", "{:.3f}"),
    ("judge_reconstruction_accuracy_worst", "  worst class", "{:.3f}"),
    ("judge_reconstruction_worst_class", "  worst class id", "{}"),
    ("judge_test_accuracy", "judge on real test images", "{:.3f}"),
    ("frechet_distance", "Frechet distance (judge space)", "{:.2f}"),
    ("precision", "precision (k=3)", "{:.3f}"),
    ("recall", "recall (k=3)", "{:.3f}"),
    ("cas", "CAS (trained on generated)", "{:.3f}"),
    ("cas_real", "  same, trained on real", "{:.3f}"),
    ("test_images", "test images", "{}"),
    ("iw_samples", "importance samples K", "{}"),
)


def evaluate_model(model: torch.nn.Module, input_path: str, metadata_path: str, judge: Judge,
                   iw_samples: int = 100, samples_per_class: int = 100,
                   max_test_images: Optional[int] = None, batch_size: int = 256,
                   diversity_reference: int = 500, fidelity_samples_per_class: int = 500,
                   cas_images_per_class: int = 0, seed: int = 0,
                   acceptance_threshold: float = 0.0) -> Dict[str, Any]:
    """Evaluate ``model`` on the test split of a prepared data set.

    Parameters
    ----------
    model : GenerativeMixin
        The trained model (see the module documentation for what is measured).
    input_path, metadata_path : str
        A fetcher's ``.npy`` images and TSV (``label`` and ``split`` columns).
    judge : Judge or None
        From :func:`~pynet_cvae.plugins.cvae.judge.load_or_train_judge` (None: no
        judged measures).
    iw_samples : int, default 100
        K, the importance samples per class and image (0 skips ``iw_nll``).
    samples_per_class : int, default 100
        Generated images per class.
    max_test_images : int, optional
        Compute the likelihoods and accuracies on a seeded random subset of the test
        split of this size (the diversity reference still draws from the whole split).
    batch_size : int, default 256
        Test images per batch (the importance-weighted loop uses fewer, so that a
        batch decodes at most :data:`IW_CHUNK` images per class).
    diversity_reference : int, default 500
        Real test images per class used as the diversity reference.
    fidelity_samples_per_class : int, default 500
        Generated (and at most real) images per class of the Fréchet distance and
        precision/recall (0 skips them).
    cas_images_per_class : int, default 0
        Training images per class of the Classification Accuracy Score's two
        classifiers (0 skips it: it trains one classifier, and a second the first
        time, cached beside the judge).
    seed : int, default 0
        Seeds the latent draws and the subsets.
    acceptance_threshold : float, default 0.0
        Generate the judged, compared and CAS images by rejection sampling with the
        model's classifier (see :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.sample`);
        0: every draw is kept.

    Returns
    -------
    dict
        The measures of the module documentation, plus ``test_images``,
        ``iw_samples``, ``samples_per_class``, ``conditional_likelihood``,
        ``acceptance_threshold`` and ``wall_time_s``.
    """
    for name, value, minimum in (("iw_samples", iw_samples, 0),
                                 ("samples_per_class", samples_per_class, 2),
                                 ("batch_size", batch_size, 1),
                                 ("fidelity_samples_per_class", fidelity_samples_per_class,
                                  0),
                                 ("cas_images_per_class", cas_images_per_class, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not 0 <= acceptance_threshold < 1:
        raise ValueError(f"acceptance_threshold must lie in [0, 1), got "
                         f"{acceptance_threshold!r}")
    start = time.perf_counter()
    images = np.load(input_path, mmap_mode="r")
    all_rows, all_labels = read_split(metadata_path, "test")
    rows, labels = _subset(all_rows, all_labels, max_test_images, seed)
    summed = sums_classes(model)
    conditions = None if summed else test_conditions(model, metadata_path, rows)
    results: Dict[str, Any] = {"test_images": int(len(rows)), "iw_samples": iw_samples,
                               "samples_per_class": samples_per_class,
                               "conditional_likelihood": not summed,
                               "acceptance_threshold": acceptance_threshold}
    with evaluating(model):
        results.update(_test_set_scores(model, judge, images, rows, labels, conditions,
                                        batch_size, seed))
        if iw_samples:
            results["iw_nll"] = importance_weighted_nll(model, images, rows, iw_samples,
                                                        seed=seed, conditions=conditions)
        if model.condition.is_class_only and judge is not None:
            results["judge_test_accuracy"] = accuracy_on_rows(judge.model, images, rows,
                                                              labels)
            results.update(generation_scores(
                model, judge.model, images, all_rows, all_labels, samples_per_class,
                diversity_reference, seed=seed, acceptance_threshold=acceptance_threshold))
            if fidelity_samples_per_class:
                results.update(fidelity_scores(
                    model, judge.model, images, all_rows, all_labels,
                    fidelity_samples_per_class, seed=seed,
                    acceptance_threshold=acceptance_threshold))
            if cas_images_per_class:
                beside_judge = os.path.dirname(judge.path) if judge.path else None
                reference = load_or_train_judge(
                    input_path, metadata_path, cache_dir=beside_judge, seed=seed,
                    device=_device(model), images_per_class=cas_images_per_class)
                results.update(classification_accuracy_score(
                    model, images, metadata_path, cas_images_per_class, seed=seed,
                    device=_device(model), acceptance_threshold=acceptance_threshold,
                    reference=reference))
    results["wall_time_s"] = time.perf_counter() - start
    return results


def sums_classes(model: torch.nn.Module) -> bool:
    """Whether the likelihoods sum the class out (class-only condition and a classifier)."""
    return bool(model.condition.is_class_only and getattr(model, "has_classifier", True))


def test_conditions(model: torch.nn.Module, metadata_path: str, rows: np.ndarray
                    ) -> np.ndarray:
    """Each test row's condition values, read from the metadata's covariate columns.

    Parameters
    ----------
    model : GenerativeMixin
        The model (its ``condition`` names the columns).
    metadata_path : str
        The table.
    rows : numpy.ndarray
        The test rows.

    Returns
    -------
    numpy.ndarray
        ``(len(rows), len(covariates))`` values (categories as ids).
    """
    import pandas as pd

    condition = model.condition
    table = condition.code_table(pd.read_csv(metadata_path, sep="\t").iloc[rows])
    return table[condition.columns].to_numpy(dtype=np.float64)


def _subset(rows: np.ndarray, labels: np.ndarray, max_test_images: Optional[int], seed: int
            ) -> Tuple[np.ndarray, np.ndarray]:
    if max_test_images is not None and max_test_images < len(rows):
        if max_test_images < 1:
            raise ValueError(f"max_test_images must be >= 1, got {max_test_images}")
        chosen = np.sort(np.random.default_rng(seed).permutation(len(rows))[:max_test_images])
        rows, labels = rows[chosen], labels[chosen]
    return rows, labels


def _batches(images: np.ndarray, rows: np.ndarray, batch_size: int, device: torch.device):
    """Yield ``(start, flattened float32 batch on device)`` over ``images[rows]``."""
    for start in range(0, len(rows), batch_size):
        batch = np.asarray(images[rows[start:start + batch_size]], dtype=np.float32)
        yield start, torch.from_numpy(batch.reshape(batch.shape[0], -1)).to(device)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _onehot(label: int, count: int, n_classes: int, device: torch.device) -> torch.Tensor:
    onehot = torch.zeros(count, n_classes, device=device)
    onehot[:, label] = 1.0
    return onehot


def reconstruction_nll(model: torch.nn.Module, z: torch.Tensor, condition: torch.Tensor,
                       x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z, c) of each row: the model's own likelihood when it has one.

    Parameters
    ----------
    model : GenerativeMixin
        The model (``reconstruction_nll``, else ``decode`` giving Bernoulli means).
    z : torch.Tensor
        ``(batch, latent_dim)`` latent vectors.
    condition : torch.Tensor
        ``(batch, width)`` encoded conditions.
    x : torch.Tensor
        ``(batch, input_dim)`` images, possibly a broadcast (expanded) view.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` negative log-likelihoods, in nats.
    """
    if hasattr(model, "reconstruction_nll"):
        return model.reconstruction_nll(z, condition, x)
    probabilities = model.decode(z, condition)
    return func.binary_cross_entropy(probabilities, x, reduction="none").sum(dim=-1)


def _hypotheses(model: torch.nn.Module, x: torch.Tensor,
                conditions: Optional[np.ndarray]) -> List[torch.Tensor]:
    """The encoded conditions an image is scored under: every class, or its own."""
    device = x.device
    if conditions is None:
        n_classes = model.n_classes
        return [_onehot(label, x.shape[0], n_classes, device) for label in range(n_classes)]
    return [model.condition.encode(torch.from_numpy(conditions)).to(device, x.dtype)]


def _kl(model: torch.nn.Module, z_mu: torch.Tensor, z_var: torch.Tensor,
        condition: torch.Tensor) -> torch.Tensor:
    prior_mu, prior_var = model.prior_parameters(condition)
    return gaussian_kl(z_mu, z_var, prior_mu, prior_var)


def _test_set_scores(model: torch.nn.Module, judge: Optional[Judge], images: np.ndarray,
                     rows: np.ndarray, labels: np.ndarray, conditions: Optional[np.ndarray],
                     batch_size: int, seed: int) -> Dict[str, float]:
    """neg_elbo, classifier accuracy and the judge's accuracy on reconstructions."""
    device = _device(model)
    generator = torch.Generator().manual_seed(seed)
    summed = conditions is None
    judged = judge is not None and model.condition.is_class_only
    elbo_sum, classifier_correct = 0.0, 0
    judge_correct = np.zeros(model.n_classes if judged else 0, dtype=np.int64)
    for start, x in _batches(images, rows, batch_size, device):
        target = labels[start:start + x.shape[0]]
        batch_conditions = None if summed else conditions[start:start + x.shape[0]]
        hypotheses = _hypotheses(model, x, batch_conditions)
        per_hypothesis = torch.empty(x.shape[0], len(hypotheses), device=device)
        for index, condition in enumerate(hypotheses):
            z_mu, z_var = model.encode_latent(x, condition)
            noise = torch.randn(z_mu.shape, generator=generator).to(device)
            z = z_mu + noise * torch.exp(z_var / 2)
            per_hypothesis[:, index] = (reconstruction_nll(model, z, condition, x)
                                        + _kl(model, z_mu, z_var, condition))
        if summed:
            log_q = func.log_softmax(model.classify(x), dim=1)
            bound = (log_q.exp() * (per_hypothesis + log_q)).sum(dim=1) \
                + math.log(model.n_classes)
            predicted = log_q.argmax(dim=1)
            classifier_correct += int((predicted.cpu().numpy() == target).sum())
            condition = func.one_hot(predicted, model.n_classes).to(x.dtype)
        else:
            bound = per_hypothesis[:, 0]
            condition = hypotheses[0]
        elbo_sum += float(bound.sum())
        if judged:
            reconstruction = model.decode(model.encode_latent(x, condition)[0], condition)
            correct = predict(judge.model, reconstruction).numpy() == target
            judge_correct += np.bincount(target[correct], minlength=model.n_classes)
        del x, per_hypothesis, bound
    count = max(1, len(rows))
    scores = {"neg_elbo": elbo_sum / count}
    if summed:
        scores["classifier_accuracy"] = classifier_correct / count
    if judged:
        scores.update(_reconstruction_scores(judge_correct, labels, model.n_classes))
    return scores


def _reconstruction_scores(correct: np.ndarray, labels: np.ndarray, n_classes: int
                           ) -> Dict[str, Any]:
    """The judge's accuracy on reconstructions, overall and per class (None for a class
    without test images), and the worst class."""
    counts = np.bincount(labels, minlength=n_classes)
    per_class = [int(hits) / int(total) if total else None
                 for hits, total in zip(correct, counts)]
    present = [label for label, value in enumerate(per_class) if value is not None]
    worst = min(present, key=lambda label: per_class[label])
    return {"judge_reconstruction_accuracy": int(correct.sum()) / max(1, len(labels)),
            "judge_reconstruction_accuracy_per_class": per_class,
            "judge_reconstruction_accuracy_worst": per_class[worst],
            "judge_reconstruction_worst_class": worst}


def importance_weighted_nll(model: torch.nn.Module, images: np.ndarray, rows: np.ndarray,
                            iw_samples: int = 100, seed: int = 0,
                            conditions: Optional[np.ndarray] = None) -> float:
    """The importance-weighted estimate of -log p(x) (or -log p(x|c)), mean nats per image.

    See the module documentation. Batches hold at most :data:`IW_CHUNK`
    ``images x samples`` per class, and their tensors are released before the next.

    Parameters
    ----------
    model : GenerativeMixin
        The model.
    images : numpy.ndarray
        ``(N, ...)`` images, memory-mapped or not.
    rows : numpy.ndarray
        The rows to score.
    iw_samples : int, default 100
        K, the samples of z per class (or condition) and image.
    seed : int, default 0
        Seeds the samples.
    conditions : numpy.ndarray, optional
        Each row's condition values: the estimate is of -log p(x|c). By default
        the class is summed out under a uniform prior.

    Returns
    -------
    float
        The mean estimate over the rows.
    """
    device = _device(model)
    generator = torch.Generator().manual_seed(seed + 1)
    latent_dim = model.latent_dim
    batch_size = max(1, IW_CHUNK // iw_samples)
    total = 0.0
    with evaluating(model):
        for start, x in _batches(images, rows, batch_size, device):
            count = x.shape[0]
            batch_conditions = None if conditions is None \
                else conditions[start:start + count]
            hypotheses = _hypotheses(model, x, batch_conditions)
            log_weights = torch.empty(count, len(hypotheses), iw_samples, device=device)
            target = x[:, None, :].expand(count, iw_samples, x.shape[1])
            for index, condition in enumerate(hypotheses):
                z_mu, z_var = model.encode_latent(x, condition)
                prior_mu, prior_var = model.prior_parameters(condition)
                noise = torch.randn(count, iw_samples, latent_dim,
                                    generator=generator).to(device)
                z = z_mu[:, None] + noise * torch.exp(z_var / 2)[:, None]
                log_q = -0.5 * (noise ** 2 + _LOG_2PI + z_var[:, None]).sum(dim=-1)
                log_prior = -0.5 * (((z - prior_mu[:, None]) ** 2) / torch.exp(
                    prior_var[:, None]) + _LOG_2PI + prior_var[:, None]).sum(dim=-1)
                repeated = condition.repeat_interleave(iw_samples, dim=0)
                nll = reconstruction_nll(
                    model, z.reshape(-1, latent_dim), repeated,
                    target.reshape(-1, x.shape[1])).reshape(count, iw_samples)
                log_weights[:, index] = log_prior - log_q - nll
                del z_mu, z_var, noise, z, log_q, log_prior, nll
            log_px = (torch.logsumexp(log_weights.reshape(count, -1), dim=1)
                      - math.log(iw_samples * len(hypotheses)))
            total -= float(log_px.sum())
            del x, target, log_weights, log_px
    return total / max(1, len(rows))


def generation_scores(model: torch.nn.Module, judge: torch.nn.Module, images: np.ndarray,
                      rows: np.ndarray, labels: np.ndarray, samples_per_class: int = 100,
                      diversity_reference: int = 500, seed: int = 0,
                      acceptance_threshold: float = 0.0) -> Dict[str, Any]:
    """Conditional generation accuracy and diversity ratios (see the module documentation).

    Parameters
    ----------
    model : GenerativeMixin
        A class-conditioned model.
    judge : torch.nn.Module
        The judge network.
    images : numpy.ndarray
        ``(N, 1, H, W)`` images, memory-mapped or not.
    rows, labels : numpy.ndarray
        The real test rows and their labels (the diversity reference).
    samples_per_class : int, default 100
        Generated images per class.
    diversity_reference : int, default 500
        Real images per class in the reference.
    seed : int, default 0
        Seeds the latent vectors and the reference.
    acceptance_threshold : float, default 0.0
        Rejection sampling with the model's classifier (see
        :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.sample`; 0: off).

    Returns
    -------
    dict
        ``generation_accuracy``, ``generation_accuracy_worst``,
        ``generation_worst_class``, ``generation_accuracy_per_class``,
        ``diversity_ratio_mean``, ``diversity_ratio_min``, ``diversity_ratio_per_class``.
    """
    generator = torch.Generator().manual_seed(seed + 2)
    z = torch.randn(samples_per_class, model.latent_dim, generator=generator)
    rng = np.random.default_rng(seed + 3)
    accuracy, diversity = [], []
    for label in range(model.n_classes):
        generated = generate_class(model, label, z, generator, acceptance_threshold).float()
        accuracy.append(float((predict(judge, generated) == label).float().mean()))
        real_rows = rows[labels == label]
        if len(real_rows) < 2:
            raise ValueError(f"class {label} has {len(real_rows)} test images: the diversity "
                             "ratio needs at least 2")
        if len(real_rows) > diversity_reference:
            real_rows = np.sort(rng.choice(real_rows, diversity_reference, replace=False))
        real = torch.from_numpy(np.asarray(images[real_rows], dtype=np.float32))
        real_distance = float(torch.pdist(real.reshape(len(real_rows), -1)).mean())
        generated_distance = float(torch.pdist(generated.cpu()).mean())
        diversity.append(generated_distance / real_distance)
    worst = int(np.argmin(accuracy))
    return {"generation_accuracy": float(np.mean(accuracy)),
            "generation_accuracy_worst": accuracy[worst], "generation_worst_class": worst,
            "generation_accuracy_per_class": accuracy,
            "diversity_ratio_mean": float(np.mean(diversity)),
            "diversity_ratio_min": float(np.min(diversity)),
            "diversity_ratio_per_class": diversity}


def format_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """A text table: one row per measure, one column per evaluated model.

    Parameters
    ----------
    results : mapping
        Column name -> the results of :func:`evaluate_model`.

    Returns
    -------
    str
        The table (a missing value prints as ``-``).
    """
    names = list(results)
    label_width = max(len(label) for _, label, _ in TABLE_ROWS)
    widths = [max(10, len(name)) for name in names]
    lines = [" " * label_width + "".join(f"  {name:>{width}}"
                                         for name, width in zip(names, widths))]
    for key, label, template in TABLE_ROWS:
        cells = []
        for name, width in zip(names, widths):
            value = results[name].get(key)
            cells.append(f"  {'-' if value is None else template.format(value):>{width}}")
        lines.append(f"{label:<{label_width}}" + "".join(cells))
    return "\n".join(lines)


def save_results(path: str, results: Mapping[str, Any]) -> str:
    """Write evaluation results as strict JSON, atomically (a NaN or infinite value
    as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``).

    Parameters
    ----------
    path : str
        The file (its folder is created).
    results : mapping
        JSON values.

    Returns
    -------
    str
        ``path``.
    """
    write_json(path, results, indent=2, sort_keys=True)
    return path
