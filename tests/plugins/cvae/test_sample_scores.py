"""Generated images against real ones: Fréchet distance, precision/recall and CAS."""

import numpy as np
import pytest
import torch

from pynet_cvae.plugins.cvae import CVAE
from pynet_cvae.plugins.cvae.judge import load_or_train_judge, read_split
from pynet_cvae.plugins.cvae.sample_scores import (classification_accuracy_score,
                                                   fidelity_scores)

from ...threads import torch_threads


class RealImages:
    """An ideal generator: each sample is a real training image of the class asked for."""

    def __init__(self, digits, seed=0):
        self.images = np.load(digits.input_path)
        self.rows, self.labels = read_split(digits.metadata_path, "train")
        self.rng = np.random.default_rng(seed)
        self.n_classes, self.latent_dim = 10, 3

    def sample(self, classes, z, generator=None):
        members = self.rows[self.labels == classes[0]]
        chosen = self.rng.choice(members, len(z), replace=True)
        return torch.from_numpy(self.images[chosen].reshape(len(z), -1))


class OneImagePerClass(CVAE):
    """A collapsed generator: one image per class whatever z is."""

    def decode(self, z, onehot):
        return onehot.to(z.dtype).repeat(1, 7)[:, :64] * 0.9


def _test_split(digits):
    rows, labels = read_split(digits.metadata_path, "test")
    return np.load(digits.input_path, mmap_mode="r"), rows, labels


def test_real_images_score_better_than_a_collapsed_generator(digits, digits_judge):
    images, rows, labels = _test_split(digits)
    ideal = fidelity_scores(RealImages(digits), digits_judge.model, images, rows, labels,
                            samples_per_class=36)
    collapsed = fidelity_scores(OneImagePerClass(64, 8, 3, 10).eval(), digits_judge.model,
                                images, rows, labels, samples_per_class=36)
    assert ideal["frechet_distance"] < 0.2 * collapsed["frechet_distance"]
    assert ideal["recall"] > 0.8 and ideal["precision"] > 0.8
    assert collapsed["recall"] < 0.1  # no variety: the real images lie outside its balls
    assert all(good < bad for good, bad in zip(ideal["frechet_distance_per_class"],
                                               collapsed["frechet_distance_per_class"]))
    again = fidelity_scores(RealImages(digits), digits_judge.model, images, rows, labels,
                            samples_per_class=36)
    assert again == ideal  # seeded


def test_a_class_too_small_for_the_neighbours_is_named(digits, digits_judge):
    images, rows, labels = _test_split(digits)
    keep = (labels != 4) | (np.cumsum(labels == 4) <= 3)
    with pytest.raises(ValueError, match="class 4 has 3 test images: precision and recall "
                                         "with k=3 need at least 4"):
        fidelity_scores(RealImages(digits), digits_judge.model, images, rows[keep],
                        labels[keep])


@pytest.mark.slow
def test_the_classification_accuracy_score_tells_real_samples_from_collapsed_ones(digits):
    images = np.load(digits.input_path, mmap_mode="r")
    with torch_threads(1):
        ideal = classification_accuracy_score(RealImages(digits), images,
                                              digits.metadata_path, images_per_class=30,
                                              min_steps=150)
        collapsed = classification_accuracy_score(OneImagePerClass(64, 8, 3, 10).eval(),
                                                  images, digits.metadata_path,
                                                  images_per_class=30, min_steps=150)
    assert ideal["cas_images_per_class"] == 30
    assert ideal["cas_real"] > 0.8 and ideal["cas"] > ideal["cas_real"] - 0.1
    assert collapsed["cas"] < ideal["cas"] - 0.2
    assert collapsed["cas_real"] == ideal["cas_real"]  # the same real classifier


@pytest.mark.slow
def test_a_cached_classifier_of_real_images_gives_the_score_trained_here(digits, tmp_path):
    images = np.load(digits.input_path, mmap_mode="r")
    with torch_threads(1):
        here = classification_accuracy_score(RealImages(digits), images,
                                             digits.metadata_path, images_per_class=30,
                                             min_steps=150, seed=2)
        reference = load_or_train_judge(digits.input_path, digits.metadata_path,
                                        cache_dir=str(tmp_path), seed=2, min_steps=150,
                                        images_per_class=30)
        cached = classification_accuracy_score(RealImages(digits), images,
                                               digits.metadata_path, images_per_class=30,
                                               min_steps=150, seed=2, reference=reference)
    assert cached == here  # bit for bit: the same subset, seed and training


def test_a_reference_trained_on_other_images_is_refused(digits, digits_judge):
    images = np.load(digits.input_path, mmap_mode="r")
    with pytest.raises(ValueError, match="was trained on the whole training split, "
                                         "expected 30 per class"):
        classification_accuracy_score(RealImages(digits), images, digits.metadata_path,
                                      images_per_class=30, reference=digits_judge)
    fewer = digits_judge._replace(images_per_class=20)
    with pytest.raises(ValueError, match="was trained on 20 training images per class, "
                                         "expected 30 per class"):
        classification_accuracy_score(RealImages(digits), images, digits.metadata_path,
                                      images_per_class=30, reference=fewer)


def test_a_bad_image_count_is_named(digits):
    with pytest.raises(ValueError, match="images_per_class must be an integer >= 1, got 0"):
        classification_accuracy_score(RealImages(digits), np.zeros((1, 1, 8, 8)),
                                      digits.metadata_path, images_per_class=0)
