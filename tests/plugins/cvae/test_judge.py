import os
import re

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import load_checkpoint, save_checkpoint
from pynet_cvae.plugins.cvae.evaluation import evaluate_model
from pynet_cvae.plugins.cvae.judge import (Judge, JudgeCNN, load_or_train_judge, predict,
                                           read_split)


def test_the_judge_recognises_real_test_digits(digits_judge):
    assert digits_judge.test_accuracy > 0.9
    assert os.path.basename(digits_judge.path).startswith("judge_")
    assert not digits_judge.model.training


def test_the_judge_is_cached_and_reloaded(digits, digits_judge):
    modified = os.path.getmtime(digits_judge.path)
    again = load_or_train_judge(digits.input_path, digits.metadata_path, min_steps=300)
    assert again.path == digits_judge.path
    assert os.path.getmtime(again.path) == modified  # loaded, not trained again
    assert again.test_accuracy == digits_judge.test_accuracy
    rows, labels = read_split(digits.metadata_path, "test")
    images = torch.from_numpy(np.load(digits.input_path)[rows])
    assert torch.equal(predict(again.model, images), predict(digits_judge.model, images))


def test_other_settings_get_their_own_cache_file(digits, tmp_path):
    judge = load_or_train_judge(digits.input_path, digits.metadata_path,
                                cache_dir=str(tmp_path), epochs=1, seed=3, min_steps=30)
    assert os.path.dirname(judge.path) == str(tmp_path)
    assert 0 < judge.test_accuracy <= 1


def test_judge_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="at least 4 x 4 pixels, got \\(3, 3\\)"):
        JudgeCNN((3, 3), 10)
    table = tmp_path / "table.tsv"
    table.write_text("label\n1\n")
    with pytest.raises(ValueError, match="no 'split' column"):
        read_split(str(table), "test")


# ---------------------------------------------------------------- the cache is verified
def small_judge(digits, cache_dir):
    return load_or_train_judge(digits.input_path, digits.metadata_path,
                               cache_dir=str(cache_dir), epochs=1, min_steps=60)


def forge(path, **changes):
    """Rewrite a judge cache with some entries changed (a valid checkpoint, SHA-256 too)."""
    state = load_checkpoint(path)
    state.pop("format_version")
    state.update(changes)
    save_checkpoint(path, **state)


def test_a_forged_cache_is_measured_and_rebuilt(digits, tmp_path, caplog):
    judge = small_judge(digits, tmp_path)
    zeros = {name: torch.zeros_like(value) for name, value in judge.model.state_dict().items()}
    forge(judge.path, model=zeros, test_accuracy=0.999)
    with caplog.at_level("WARNING", logger="pynet_cvae"):
        again = small_judge(digits, tmp_path)
    assert "records a test accuracy of 0.9990 but the judge scores 0.1" in caplog.text
    assert again.test_accuracy == judge.test_accuracy  # trained again, the same way
    assert load_checkpoint(again.path)["test_accuracy"] == judge.test_accuracy


@pytest.mark.parametrize("damage, reason", [
    (lambda path: open(path, "r+b").truncate(os.path.getsize(path) // 2),
     "truncated or corrupted"),
    (lambda path: forge(path, test_accuracy=None), "test_accuracy None is not a number"),
    (lambda path: forge(path, n_classes=3), r"\['n_classes'\] do not match the data set"),
    (lambda path: forge(path, model={"weight": torch.zeros(2)}), "Missing key"),
])
def test_a_damaged_cache_is_rebuilt_with_a_warning(digits, tmp_path, caplog, damage, reason):
    judge = small_judge(digits, tmp_path)
    damage(judge.path)
    with caplog.at_level("WARNING", logger="pynet_cvae"):
        again = small_judge(digits, tmp_path)
    assert "cannot be used" in caplog.text and re.search(reason, caplog.text)
    assert again.path == judge.path and again.test_accuracy == judge.test_accuracy
    assert load_checkpoint(again.path)["test_accuracy"] == judge.test_accuracy


def test_evaluate_measures_the_judge_instead_of_reading_its_claim(digits, digits_judge,
                                                                  trained_conditional):
    boasting = Judge(digits_judge.model, 0.999, digits_judge.path)
    results = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                             boasting, iw_samples=0, samples_per_class=10,
                             max_test_images=100)
    assert results["judge_test_accuracy"] != 0.999
    assert 0.8 < results["judge_test_accuracy"] <= 1.0
