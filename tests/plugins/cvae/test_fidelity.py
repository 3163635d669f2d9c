"""Fréchet distance and precision/recall of generated features against real ones."""

import numpy as np
import pytest
import scipy.linalg
import torch

from pynet_cvae.plugins.cvae import fidelity
from pynet_cvae.plugins.cvae.fidelity import frechet_distance, precision_recall


def _gaussian(count, mean, scale, width=4, seed=0):
    return mean + scale * np.random.default_rng(seed).standard_normal((count, width))


def test_the_frechet_distance_of_two_gaussians_is_the_closed_form():
    real = _gaussian(40000, 0.0, 1.0, seed=1)
    generated = _gaussian(40000, np.array([1.0, 0.0, -1.0, 0.5]), 0.5, seed=2)
    expected = 1.0 + 1.0 + 0.25 + 4 * (1.0 - 0.5) ** 2  # |mu|^2 + d (1 - s)^2
    assert frechet_distance(real, generated) == pytest.approx(expected, rel=0.02)


def test_the_frechet_distance_agrees_with_the_general_matrix_square_root():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    generated = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6)) + 0.3
    mean_gap = real.mean(0) - generated.mean(0)
    s_real, s_generated = np.cov(real, rowvar=False), np.cov(generated, rowvar=False)
    root = scipy.linalg.sqrtm(s_real @ s_generated).real
    expected = mean_gap @ mean_gap + np.trace(s_real + s_generated - 2 * root)
    assert frechet_distance(real, generated) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(torch.from_numpy(real), generated) == \
        pytest.approx(expected, rel=1e-6)  # tensors are accepted as well


def test_equal_sets_are_at_distance_zero_and_the_distance_grows_with_collapse():
    real = _gaussian(2000, 0.0, 1.0)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-9)
    collapsed = [frechet_distance(real, _gaussian(2000, 0.0, scale, seed=5))
                 for scale in (1.0, 0.5, 0.1)]
    assert collapsed[0] < 0.05 < collapsed[1] < collapsed[2]


def test_precision_and_recall_tell_fidelity_from_variety():
    two_modes = np.r_[_gaussian(1000, -5.0, 1.0, seed=1), _gaussian(1000, 5.0, 1.0, seed=2)]
    alike = np.r_[_gaussian(1000, -5.0, 1.0, seed=3), _gaussian(1000, 5.0, 1.0, seed=4)]
    one_mode = _gaussian(2000, -5.0, 1.0, seed=5)  # faithful, half the variety
    elsewhere = _gaussian(2000, 40.0, 1.0, seed=6)
    same = precision_recall(two_modes, alike)
    assert same["precision"] > 0.85 and same["recall"] > 0.85
    collapsed = precision_recall(two_modes, one_mode)
    assert collapsed["precision"] > 0.85 and 0.4 < collapsed["recall"] < 0.55
    assert precision_recall(two_modes, elsewhere) == {"precision": 0.0, "recall": 0.0}


def test_distances_by_blocks_give_the_same_answer(monkeypatch):
    real, generated = _gaussian(300, 0.0, 1.0, seed=1), _gaussian(200, 0.2, 0.8, seed=2)
    whole = precision_recall(real, generated, k=5)
    monkeypatch.setattr(fidelity, "DISTANCE_BLOCK", 1000)  # 3 to 5 rows a block
    assert precision_recall(real, generated, k=5) == whole


@pytest.mark.parametrize("call, message", [
    (lambda: frechet_distance(np.zeros((1, 3)), np.zeros((5, 3))),
     r"real features must be \(rows, width\) with at least 2 rows, got shape \(1, 3\)"),
    (lambda: frechet_distance(np.zeros((5, 3)), np.zeros(5)),
     r"generated features must be .*got shape \(5,\)"),
    (lambda: frechet_distance(np.zeros((5, 3)), np.zeros((5, 2))),
     "differ in width: 3 != 2"),
    (lambda: frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3))),
     "real features hold a non-finite value"),
    (lambda: precision_recall(np.zeros((3, 2)), np.zeros((9, 2)), k=3),
     "at least 4 rows, got shape"),
    (lambda: precision_recall(np.zeros((9, 2)), np.zeros((9, 2)), k=0),
     "k must be an integer >= 1, got 0"),
])
def test_bad_features_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
