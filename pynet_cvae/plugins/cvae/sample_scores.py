"""A class-conditioned model's samples scored against real images, as the field does.

:func:`fidelity_scores`
    The Fréchet distance and Kynkäänniemi et al.'s precision and recall
    (:mod:`~pynet_cvae.plugins.cvae.fidelity`) between generated and real test images
    in the judge's feature space, over all classes and per class.
:func:`classification_accuracy_score`
    Ravuri & Vinyals (2019)'s Classification Accuracy Score: a classifier of the
    judge's architecture trained on generated images only, tested on the real test
    images, beside the same classifier trained on as many real training images. It
    falls when the samples lack fidelity or variety, which the judge's agreement with
    the requested class does not show.

Both draw ``z ~ N(0, I)`` from seeded generators and generate by blocks of
:data:`SAMPLE_BLOCK` images, so that memory stays bounded.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from .fidelity import frechet_distance, precision_recall
from .judge import (JUDGE_EPOCHS, MIN_STEPS, Judge, accuracy_on_rows, embed, read_split,
                    train_and_score_judge, train_judge)

__all__ = ["fidelity_scores", "classification_accuracy_score", "generate_class",
           "SAMPLE_BLOCK"]

#: Images generated at once.
SAMPLE_BLOCK = 500


def fidelity_scores(model: torch.nn.Module, judge: torch.nn.Module, images: np.ndarray,
                    rows: np.ndarray, labels: np.ndarray, samples_per_class: int = 500,
                    k: int = 3, seed: int = 0, acceptance_threshold: float = 0.0
                    ) -> Dict[str, Any]:
    """Fréchet distance, precision and recall of generated images, in the judge's space.

    Parameters
    ----------
    model : GenerativeMixin
        A class-conditioned model (in evaluation mode).
    judge : JudgeCNN
        The judge whose features (:meth:`~pynet_cvae.plugins.cvae.judge.JudgeCNN.embed`)
        the images are compared in.
    images : numpy.ndarray
        ``(N, 1, H, W)`` images, memory-mapped or not.
    rows, labels : numpy.ndarray
        The real test rows and their labels.
    samples_per_class : int, default 500
        Generated images per class, and the most real images per class (a seeded
        subset of the class's test rows).
    k : int, default 3
        The neighbour of precision and recall.
    seed : int, default 0
        Seeds the latent vectors and the real subsets.
    acceptance_threshold : float, default 0.0
        Rejection sampling with the model's classifier (see
        :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.sample`; 0: off).

    Returns
    -------
    dict
        ``frechet_distance``, ``precision``, ``recall`` (all classes together) and
        their ``_per_class`` lists, and ``fidelity_samples_per_class``.

    Raises
    ------
    ValueError
        If a class has fewer than ``k + 1`` test images.
    """
    generator = torch.Generator().manual_seed(seed + 4)
    rng = np.random.default_rng(seed + 5)
    real_features: List[torch.Tensor] = []
    generated_features: List[torch.Tensor] = []
    per_class: Dict[str, List[float]] = {"frechet_distance": [], "precision": [], "recall": []}
    for label in range(model.n_classes):
        real_rows = rows[labels == label]
        if len(real_rows) <= k:
            raise ValueError(f"class {label} has {len(real_rows)} test images: precision "
                             f"and recall with k={k} need at least {k + 1}")
        if len(real_rows) > samples_per_class:
            real_rows = np.sort(rng.choice(real_rows, samples_per_class, replace=False))
        real = embed(judge, torch.from_numpy(np.asarray(images[real_rows], np.float32)))
        generated = torch.cat([embed(judge, block.float()) for block in
                               _samples(model, label, samples_per_class, generator,
                                        acceptance_threshold)])
        per_class["frechet_distance"].append(frechet_distance(real, generated))
        for name, value in precision_recall(real, generated, k).items():
            per_class[name].append(value)
        real_features.append(real)
        generated_features.append(generated)
    real, generated = torch.cat(real_features), torch.cat(generated_features)
    scores: Dict[str, Any] = {"frechet_distance": frechet_distance(real, generated),
                              **precision_recall(real, generated, k),
                              "fidelity_samples_per_class": samples_per_class}
    scores.update({f"{name}_per_class": values for name, values in per_class.items()})
    return scores


def classification_accuracy_score(model: torch.nn.Module, images: np.ndarray,
                                  metadata_path: str, images_per_class: int = 1000,
                                  epochs: int = JUDGE_EPOCHS, min_steps: int = MIN_STEPS,
                                  seed: int = 0, device: Any = "cpu",
                                  acceptance_threshold: float = 0.0,
                                  reference: Optional[Judge] = None) -> Dict[str, Any]:
    """The Classification Accuracy Score of a class-conditioned model.

    A :class:`~pynet_cvae.plugins.cvae.judge.JudgeCNN` is trained (as the judge is,
    :func:`~pynet_cvae.plugins.cvae.judge.train_judge`) on ``images_per_class``
    generated images per class, another on as many real training images per class (a
    seeded subset, :func:`~pynet_cvae.plugins.cvae.judge.training_rows`), and both are
    scored on the real test split. The second does not depend on the model: pass it
    as ``reference`` to score several models against one.

    Parameters
    ----------
    model : GenerativeMixin
        A class-conditioned model (in evaluation mode).
    images : numpy.ndarray
        ``(N, 1, H, W)`` images of the data set.
    metadata_path : str
        Its table (``label`` and ``split`` columns).
    images_per_class : int, default 1000
        Training images per class of each classifier.
    epochs : int, default :data:`~pynet_cvae.plugins.cvae.judge.JUDGE_EPOCHS`
        The classifiers' epochs, or more: see ``min_steps``.
    min_steps : int, default :data:`~pynet_cvae.plugins.cvae.judge.MIN_STEPS`
        The fewest optimisation steps of each classifier.
    seed : int, default 0
        Seeds the latent vectors, the real subset and the classifiers.
    device : str or torch.device, default "cpu"
        Where the classifiers train.
    acceptance_threshold : float, default 0.0
        Generate the training images by rejection sampling with the model's
        classifier (see :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.sample`; 0: off).
    reference : Judge, optional
        The classifier of real images, trained with the same ``images_per_class``,
        ``epochs``, ``min_steps`` and ``seed``: from
        :func:`~pynet_cvae.plugins.cvae.judge.load_or_train_judge` with
        ``images_per_class``, which caches it (``pynet-cvae evaluate`` does so). By
        default it is trained here.

    Returns
    -------
    dict
        ``cas`` (trained on generated images), ``cas_real`` (trained on real ones),
        both accuracies on the real test images, and ``cas_images_per_class``.

    Raises
    ------
    ValueError
        If ``images_per_class`` is not an integer >= 1, or ``reference`` was trained
        on another number of images per class.
    """
    if isinstance(images_per_class, bool) or not isinstance(images_per_class, int) \
            or images_per_class < 1:
        raise ValueError(f"images_per_class must be an integer >= 1, got "
                         f"{images_per_class!r}")
    if reference is not None and reference.images_per_class != images_per_class:
        trained_on = ("the whole training split" if reference.images_per_class is None
                      else f"{reference.images_per_class} training images per class")
        raise ValueError(f"the reference classifier {reference.path!r} was trained on "
                         f"{trained_on}, expected {images_per_class} per class")
    test_rows, test_labels = read_split(metadata_path, "test")
    generator = torch.Generator().manual_seed(seed + 6)
    shape = (images_per_class,) + tuple(images.shape[1:])
    generated = np.concatenate([
        torch.cat(list(_samples(model, label, images_per_class, generator,
                                acceptance_threshold))).float()
        .cpu().numpy().reshape(shape) for label in range(model.n_classes)])
    generated_labels = np.repeat(np.arange(model.n_classes, dtype=np.int64), images_per_class)
    on_generated = train_judge(generated, np.arange(len(generated)), generated_labels,
                               model.n_classes, epochs=epochs, seed=seed,
                               min_steps=min_steps, device=device)
    if reference is None:
        real_accuracy = train_and_score_judge(images, metadata_path, images_per_class,
                                              epochs=epochs, seed=seed,
                                              min_steps=min_steps, device=device)[1]
    else:
        real_accuracy = reference.test_accuracy
    return {"cas": accuracy_on_rows(on_generated, images, test_rows, test_labels),
            "cas_real": real_accuracy, "cas_images_per_class": images_per_class}


def _samples(model: torch.nn.Module, label: int, count: int, generator: torch.Generator,
             acceptance_threshold: float = 0.0) -> Iterator[torch.Tensor]:
    """``count`` images of class ``label``, by blocks of :data:`SAMPLE_BLOCK`."""
    for start in range(0, count, SAMPLE_BLOCK):
        z = torch.randn(min(SAMPLE_BLOCK, count - start), model.latent_dim,
                        generator=generator)
        yield generate_class(model, label, z, generator, acceptance_threshold)


def generate_class(model: torch.nn.Module, label: int, z: torch.Tensor,
                   generator: torch.Generator, acceptance_threshold: float = 0.0
                   ) -> torch.Tensor:
    """``model.sample([label], z=z, ...)``, the threshold passed only when set (a
    model of one's own may implement ``sample`` without rejection).

    Parameters
    ----------
    model : GenerativeMixin
        A class-conditioned model.
    label : int
        The class.
    z : torch.Tensor
        ``(n, latent_dim)`` standard normal draws.
    generator : torch.Generator
        Draws the sampling prior's components and the rejected images' redraws.
    acceptance_threshold : float, default 0.0
        See :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.sample`.

    Returns
    -------
    torch.Tensor
        ``(n, input_dim)`` images.
    """
    if acceptance_threshold:
        return model.sample([label], z=z, generator=generator,
                            acceptance_threshold=acceptance_threshold)
    return model.sample([label], z=z, generator=generator)
