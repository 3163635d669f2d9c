import argparse
import os
import re
import shutil

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import checksum_path, load_checkpoint, save_checkpoint
from pynet_cvae.plugins.cvae.evaluation import evaluate_model
from pynet_cvae.cli import build_parser
from pynet_cvae.plugins.cvae.judge import (EMBEDDING_WIDTH, JUDGE_EPOCHS, Judge, JudgeCNN,
                                           load_or_train_judge, predict, read_split,
                                           train_judge, training_rows)

from ...threads import torch_threads


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


def test_judge_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="at least 4 x 4 pixels, got \\(3, 3\\)"):
        JudgeCNN((3, 3), 10)
    table = tmp_path / "table.tsv"
    table.write_text("label\n1\n")
    with pytest.raises(ValueError, match="no 'split' column"):
        read_split(str(table), "test")


# ---------------------------------------------------------------- the cache is verified
def small_judge(digits, cache_dir):
    """A judge trained for a few steps only: the cache's handling is under test."""
    with torch_threads(1):
        return load_or_train_judge(digits.input_path, digits.metadata_path,
                                   cache_dir=str(cache_dir), epochs=1, min_steps=10)


@pytest.fixture(scope="module")
def small_cache(digits, tmp_path_factory):
    """A small judge's cache file, trained once for the module."""
    return small_judge(digits, tmp_path_factory.mktemp("judge"))


@pytest.fixture
def cached(small_cache, tmp_path):
    """A copy of the small judge's cache in a folder of the test's own."""
    shutil.copy(small_cache.path, tmp_path)
    shutil.copy(checksum_path(small_cache.path), tmp_path)
    return small_cache._replace(path=str(tmp_path / os.path.basename(small_cache.path)))


def test_other_settings_get_their_own_cache_file(digits, digits_judge, small_cache):
    # the small judge: other epochs and steps, its own cache_dir
    assert os.path.dirname(small_cache.path) != os.path.dirname(digits_judge.path)
    assert os.path.basename(small_cache.path) != os.path.basename(digits_judge.path)
    assert 0 < small_cache.test_accuracy <= 1
    again = load_or_train_judge(digits.input_path, digits.metadata_path, min_steps=300)
    assert again.path == digits_judge.path  # the default judge is still its own


def test_a_judge_of_a_few_images_per_class_has_a_cache_file_of_its_own(digits, small_cache,
                                                                       tmp_path):
    few = load_or_train_judge(digits.input_path, digits.metadata_path,
                              cache_dir=os.path.dirname(small_cache.path), epochs=1,
                              min_steps=10, images_per_class=5)
    assert few.images_per_class == 5 and small_cache.images_per_class is None
    assert few.path != small_cache.path and os.path.isfile(small_cache.path)
    assert load_checkpoint(few.path)["images_per_class"] == 5
    with pytest.raises(ValueError, match="images_per_class must be an integer >= 1 or None, "
                                         "got 0"):
        load_or_train_judge(digits.input_path, digits.metadata_path,
                            cache_dir=str(tmp_path), images_per_class=0)
    assert not os.listdir(tmp_path)  # refused before any training or file


def test_a_subset_holds_the_images_per_class_asked_drawn_by_the_seed(digits):
    rows, labels = read_split(digits.metadata_path, "train")
    subset_rows, subset_labels = training_rows(digits.metadata_path, 7, seed=3)
    assert np.array_equal(np.bincount(subset_labels), [7] * 10)
    assert np.all(np.diff(subset_rows) > 0) and np.isin(subset_rows, rows).all()
    assert np.array_equal(labels[np.searchsorted(rows, subset_rows)], subset_labels)
    again = training_rows(digits.metadata_path, 7, seed=3)[0]
    other = training_rows(digits.metadata_path, 7, seed=4)[0]
    assert np.array_equal(again, subset_rows) and not np.array_equal(other, subset_rows)
    everything = training_rows(digits.metadata_path, 10 ** 6)[0]  # all of each class
    assert np.array_equal(everything, rows)
    assert np.array_equal(training_rows(digits.metadata_path)[0], rows)


def forge(path, **changes):
    """Rewrite a judge cache with some entries changed (a valid checkpoint, SHA-256 too)."""
    state = load_checkpoint(path)
    state.pop("format_version")
    state.update(changes)
    save_checkpoint(path, **state)


def test_an_intact_cache_is_used_and_measured_again(digits, cached, tmp_path, caplog):
    with caplog.at_level("INFO", logger="pynet_cvae"):
        again = small_judge(digits, tmp_path)
    assert "training the judge" not in caplog.text
    assert again.path == cached.path and again.test_accuracy == cached.test_accuracy


def test_a_forged_cache_is_measured_and_rebuilt(digits, cached, tmp_path, caplog):
    zeros = {name: torch.zeros_like(value) for name, value in cached.model.state_dict().items()}
    forge(cached.path, model=zeros, test_accuracy=0.999)
    with caplog.at_level("WARNING", logger="pynet_cvae"):
        again = small_judge(digits, tmp_path)
    assert re.search(r"records a test accuracy of 0.9990 but the judge scores 0.1\d+ on the "
                     "test split: training it again", caplog.text)
    assert again.test_accuracy == cached.test_accuracy  # trained again, the same way
    assert load_checkpoint(again.path)["test_accuracy"] == cached.test_accuracy


@pytest.mark.parametrize("damage, reason", [
    (lambda path: open(path, "r+b").truncate(os.path.getsize(path) // 2),
     "truncated or corrupted"),
    (lambda path: forge(path, test_accuracy=None), "test_accuracy None is not a number"),
    (lambda path: forge(path, n_classes=3), r"\['n_classes'\] do not match the data set"),
    (lambda path: forge(path, model={"weight": torch.zeros(2)}), "Missing key"),
], ids=["truncated", "no accuracy", "other data set", "other weights"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(digits, cached, tmp_path, caplog, damage,
                                                   reason):
    damage(cached.path)
    with caplog.at_level("WARNING", logger="pynet_cvae"):
        again = small_judge(digits, tmp_path)
    assert "cannot be used" in caplog.text and re.search(reason, caplog.text)
    assert again.path == cached.path and again.test_accuracy == cached.test_accuracy
    assert load_checkpoint(again.path)["test_accuracy"] == cached.test_accuracy


def test_evaluate_measures_the_judge_instead_of_reading_its_claim(digits, digits_judge,
                                                                  trained_conditional):
    boasting = Judge(digits_judge.model, 0.999, digits_judge.path)
    results = evaluate_model(trained_conditional, digits.input_path, digits.metadata_path,
                             boasting, iw_samples=0, samples_per_class=10,
                             max_test_images=100)
    assert results["judge_test_accuracy"] != 0.999
    assert 0.8 < results["judge_test_accuracy"] <= 1.0


# ---------------------------------------------------------------- its training
def test_the_judge_trains_reproducibly_without_touching_torch_rng(digits):
    rows, labels = read_split(digits.metadata_path, "train")
    # digits enlarged to 24 x 24 pixels, so that the random shifts (1 pixel) are drawn
    images = np.kron(np.load(digits.input_path)[rows[:256]], np.ones((1, 1, 3, 3),
                                                                      np.float32))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with torch_threads(1):
        first, second = (train_judge(images, np.arange(256), labels[:256], 10, epochs=1,
                                     min_steps=4) for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, value), other in zip(first.state_dict().items(),
                                    second.state_dict().values()):
        assert torch.equal(value, other), name
    assert first.embed(torch.from_numpy(images[:5])).shape == (5, EMBEDDING_WIDTH)
    assert not first.training


def test_evaluate_help_gives_the_judges_own_epochs():
    parser = build_parser()
    evaluate = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction)).choices["evaluate"]
    judge_epochs = next(action for action in evaluate._actions
                        if "--judge-epochs" in action.option_strings)
    assert f"default {JUDGE_EPOCHS}," in judge_epochs.help
