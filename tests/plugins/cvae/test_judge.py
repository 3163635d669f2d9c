import os

import numpy as np
import pytest
import torch

from pynet_cvae.plugins.cvae.judge import JudgeCNN, load_or_train_judge, predict, read_split


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
