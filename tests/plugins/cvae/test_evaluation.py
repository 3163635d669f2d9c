import json
import os

import numpy as np
import pytest
import torch

from pynet_cvae.plugins.cvae import CVAE
from pynet_cvae.plugins.cvae.evaluation import (
    evaluate_model, format_table, generation_scores, importance_weighted_nll, save_results)
from pynet_cvae.plugins.cvae.judge import load_or_train_judge, read_split


def test_evaluation_reports_every_measure(trained_conditional, digits, digits_judge):
    results = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                             digits_judge, iw_samples=20, samples_per_class=20,
                             fidelity_samples_per_class=40)
    assert results["test_images"] == 360 and results["iw_samples"] == 20
    # the importance-weighted bound is tighter than the ELBO
    assert 0 < results["iw_nll"] < results["neg_elbo"]
    assert results["classifier_accuracy"] > 0.8
    assert 0 <= results["generation_accuracy_worst"] <= results["generation_accuracy"] <= 1
    assert len(results["generation_accuracy_per_class"]) == 10
    assert results["generation_accuracy_per_class"][results["generation_worst_class"]] == \
        results["generation_accuracy_worst"]
    assert results["generation_accuracy"] > 0.5  # the class condition is followed
    assert 0 < results["diversity_ratio_min"] <= results["diversity_ratio_mean"]
    assert results["judge_test_accuracy"] == digits_judge.test_accuracy
    assert 0 <= results["judge_reconstruction_accuracy"] <= 1
    per_class = results["judge_reconstruction_accuracy_per_class"]
    counts = np.bincount(read_split(digits.metadata_path, "test")[1], minlength=10)
    assert np.isclose(np.dot(per_class, counts) / counts.sum(),
                      results["judge_reconstruction_accuracy"])
    assert results["judge_reconstruction_accuracy_worst"] == min(per_class) == \
        per_class[results["judge_reconstruction_worst_class"]]
    assert results["frechet_distance"] > 0 and results["fidelity_samples_per_class"] == 40
    for name in ("precision", "recall"):
        assert 0 <= results[name] <= 1 and len(results[f"{name}_per_class"]) == 10
    assert len(results["frechet_distance_per_class"]) == 10 and "cas" not in results
    assert trained_conditional.training is False


@pytest.mark.slow
def test_evaluation_trains_the_cas_classifiers_as_the_command_asks(trained_conditional,
                                                                    digits, digits_judge,
                                                                    caplog):
    # evaluate --cas N: the classifiers train inside the evaluation's no-grad context
    results = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                             digits_judge, iw_samples=0, samples_per_class=10,
                             max_test_images=100, fidelity_samples_per_class=0,
                             cas_images_per_class=20)
    assert results["cas_images_per_class"] == 20
    assert results["cas_real"] > 0.7 and results["cas"] > 0.5
    assert torch.is_grad_enabled()
    # the classifier of real images is cached beside the judge for the next model
    caplog.clear()
    with caplog.at_level("INFO", logger="pynet_cvae"):
        reference = load_or_train_judge(digits.input_path, digits.metadata_path,
                                        cache_dir=os.path.dirname(digits_judge.path),
                                        images_per_class=20)
    assert "training the judge" not in caplog.text
    assert os.path.dirname(reference.path) == os.path.dirname(digits_judge.path)
    assert reference.path != digits_judge.path
    assert reference.test_accuracy == results["cas_real"]


def test_more_importance_samples_tighten_the_estimate(trained_conditional, digits):
    images = np.load(digits.input_path, mmap_mode="r")
    rows, _ = read_split(digits.metadata_path, "test")
    rows = rows[:60]
    one = importance_weighted_nll(trained_conditional, images, rows, iw_samples=1)
    many = importance_weighted_nll(trained_conditional, images, rows, iw_samples=200)
    assert many < one


def test_the_tutorial_model_is_evaluated_the_same_way(digits, digits_judge):
    torch.manual_seed(0)
    model = CVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10)
    results = evaluate_model(model, digits.input_path, digits.metadata_path, digits_judge,
                             iw_samples=5, samples_per_class=5, max_test_images=50)
    assert results["test_images"] == 50
    assert results["iw_nll"] < results["neg_elbo"] + 1.0
    assert model.training  # evaluation restores the mode


class Collapsed(CVAE):
    """A generator drawing one image per class whatever z is."""

    def decode(self, z, onehot):
        return onehot.to(z.dtype).repeat(1, 7)[:, :64] * 0.9


def test_a_collapsed_generator_has_no_diversity(digits, digits_judge):
    images = np.load(digits.input_path, mmap_mode="r")
    rows, labels = read_split(digits.metadata_path, "test")
    scores = generation_scores(Collapsed(64, 8, 3, 10), digits_judge.model, images, rows,
                               labels, samples_per_class=10)
    assert scores["diversity_ratio_mean"] == pytest.approx(0.0, abs=1e-6)


def test_a_class_missing_from_the_test_subset_has_no_reconstruction_accuracy():
    from pynet_cvae.plugins.cvae.evaluation import _reconstruction_scores

    labels = np.array([0, 0, 0, 0, 2, 2])  # class 1 absent (a small --test-images)
    scores = _reconstruction_scores(np.array([3, 0, 1]), labels, 3)
    assert scores["judge_reconstruction_accuracy_per_class"] == [0.75, None, 0.5]
    assert scores["judge_reconstruction_worst_class"] == 2
    assert scores["judge_reconstruction_accuracy_worst"] == 0.5
    assert scores["judge_reconstruction_accuracy"] == 4 / 6


def test_results_table_and_json(tmp_path):
    results = {"tutorial": {"iw_nll": 243.7, "generation_accuracy": 0.367,
                            "generation_worst_class": 5},
               "conditional": {"iw_nll": 237.3, "generation_accuracy": 0.919}}
    table = format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["tutorial", "conditional"]
    assert "IW -log p(x) (nats/image)" in table and "243.70" in table and "237.30" in table
    assert any(line.startswith("  worst class id") and line.split()[-2:] == ["5", "-"]
               for line in lines)
    path = save_results(str(tmp_path / "deep" / "evaluation.json"), results)
    assert json.loads(open(path).read()) == results


def test_bad_arguments_are_clear_errors(trained_conditional, digits, digits_judge):
    with pytest.raises(ValueError, match="samples_per_class must be an integer >= 2, got 1"):
        evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                       digits_judge, samples_per_class=1)


def test_the_seed_draws_other_images_and_the_evaluation_passes_it_on(trained_conditional,
                                                                     digits, digits_judge):
    images = np.load(digits.input_path, mmap_mode="r")
    rows, labels = read_split(digits.metadata_path, "test")
    scores = [generation_scores(trained_conditional, digits_judge.model, images, rows, labels,
                                samples_per_class=20, seed=seed) for seed in (0, 1)]
    assert scores[0]["diversity_ratio_per_class"] != scores[1]["diversity_ratio_per_class"]
    results = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                             digits_judge, iw_samples=0, samples_per_class=20,
                             max_test_images=50, fidelity_samples_per_class=0, seed=1)
    assert results["diversity_ratio_per_class"] == scores[1]["diversity_ratio_per_class"]


def test_rejection_sampling_is_judged_as_it_generates(trained_conditional, digits,
                                                      digits_judge):
    arguments = dict(iw_samples=0, samples_per_class=50, max_test_images=50,
                     fidelity_samples_per_class=0)
    plain = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                           digits_judge, **arguments)
    chosen = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                            digits_judge, acceptance_threshold=0.5, **arguments)
    assert plain["acceptance_threshold"] == 0.0 and chosen["acceptance_threshold"] == 0.5
    images = np.load(digits.input_path, mmap_mode="r")
    rows, labels = read_split(digits.metadata_path, "test")
    direct = generation_scores(trained_conditional, digits_judge.model, images, rows, labels,
                               samples_per_class=50, acceptance_threshold=0.5)
    assert chosen["generation_accuracy_per_class"] == direct["generation_accuracy_per_class"]
    # the judge agrees more often with images the model's own classifier recognises
    assert chosen["generation_accuracy"] > plain["generation_accuracy"] + 0.1
    with pytest.raises(ValueError, match=r"acceptance_threshold must lie in \[0, 1\), got -0.1"):
        evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                       digits_judge, acceptance_threshold=-0.1)
