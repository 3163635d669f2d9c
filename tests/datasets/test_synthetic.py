import logging
import subprocess

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import fetch_thick_digits
from pynet_cvae.datasets.synthetic import ink, thicken
from pynet_cvae.registry import Fetchers


def test_thickening_grows_the_strokes_with_the_amount():
    image = np.zeros((1, 5, 5), dtype=np.float32)
    image[0, 2, 2] = 1.0
    images = np.repeat(image, 3, axis=0)
    thick = thicken(images, np.array([0.0, 0.5, 1.0]))
    assert np.array_equal(thick[0], image[0])
    assert thick[1, 1, 2] == thick[1, 2, 1] == 0.5 and thick[1, 0, 0] == 0
    assert thick[2, 3, 2] == 1.0 and thick[2, 2, 2] == 1.0
    assert list(ink(thick)) == sorted(ink(thick)) and ink(thick)[2] == pytest.approx(5 / 25)
    assert thicken(images[:, None], np.ones(3)).shape == (3, 1, 5, 5)


def test_thickening_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"one amount per image \(2\), got 1"):
        thicken(np.zeros((2, 4, 4)), np.zeros(1))
    with pytest.raises(ValueError, match="amounts must lie in \\[0, 1\\], got values from"):
        thicken(np.zeros((1, 4, 4)), np.array([1.5]))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, 1, H, W\), got \(4, 4\)"):
        thicken(np.zeros((4, 4)), np.zeros(4))


def test_the_thick_digits_hold_their_thickness_in_the_metadata(tmp_path):
    item = fetch_thick_digits(tmp_path)
    images = np.load(item.input_path)
    table = pd.read_csv(item.metadata_path, sep="\t")
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert list(table.columns) == ["label", "split", "source_index", "thickness"]
    assert table["thickness"].between(0, 1).all()
    # the images truly depend on the covariate: the ink grows with the thickness
    assert np.corrcoef(table["thickness"], ink(images))[0, 1] > 0.85
    assert fetch_thick_digits(tmp_path) == item  # prepared once, then reused
    other = fetch_thick_digits(tmp_path, seed=1)
    assert other.input_path != item.input_path
    assert not np.array_equal(pd.read_csv(other.metadata_path, sep="\t")["thickness"],
                              table["thickness"])
    assert Fetchers.get("fetch_thick_digits") is fetch_thick_digits
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        fetch_thick_digits(tmp_path, seed=-1)


def test_thick_digits_edited_since_they_were_prepared_are_prepared_again(tmp_path, caplog):
    item = fetch_thick_digits(tmp_path)
    record = tmp_path / "thick_digits_seed0_prepared.sha256"
    assert subprocess.run(["sha256sum", "-c", record.name], cwd=tmp_path,
                          capture_output=True).returncode == 0
    expected = np.load(item.input_path)
    edited = expected.copy()
    edited[0, 0, 4, 4] = 0.5  # same shape and rows: only the record tells
    np.save(item.input_path, edited)
    with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
        again = fetch_thick_digits(tmp_path)
    assert f"prepared file {item.input_path} changed since it was prepared" in caplog.text
    np.testing.assert_array_equal(np.load(again.input_path), expected)
