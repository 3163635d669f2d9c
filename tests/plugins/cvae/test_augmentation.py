"""Random augmentations of flattened image batches (pseudo-labelling views)."""

import pytest
import torch

from pynet_cvae.plugins.cvae.augmentation import (
    cutout, scale_contrast, strong_view, translate, weak_view)


def _dots(count=64, shape=(8, 8)):
    """Images with one bright pixel in the middle."""
    images = torch.zeros(count, *shape)
    images[:, shape[0] // 2, shape[1] // 2] = 1.0
    return images.reshape(count, -1)


def test_translate_moves_every_image_by_at_most_max_shift_without_changing_it():
    torch.manual_seed(0)
    moved = translate(_dots(), (8, 8), 2).reshape(-1, 8, 8)
    assert torch.equal(moved.sum(dim=(1, 2)), torch.ones(64))  # the dot stays inside
    rows, columns = moved.sum(dim=2).argmax(dim=1), moved.sum(dim=1).argmax(dim=1)
    assert set((rows - 4).tolist()) == {-2, -1, 0, 1, 2}
    assert set((columns - 4).tolist()) == {-2, -1, 0, 1, 2}
    assert torch.equal(translate(_dots(), (8, 8), 0), _dots())


def test_flip_mirrors_about_half_of_the_images():
    torch.manual_seed(0)
    images = torch.zeros(200, 4, 6)
    images[:, :, 0] = 1.0  # a left edge
    flipped = translate(images.reshape(200, -1), (4, 6), 0, flip=True).reshape(200, 4, 6)
    mirrored = flipped[:, :, -1].sum(dim=1) == 4
    assert torch.equal(mirrored, flipped[:, :, 0].sum(dim=1) == 0)
    assert 70 < int(mirrored.sum()) < 130


def test_cutout_blanks_one_square_and_contrast_stays_in_range():
    torch.manual_seed(0)
    blanked = cutout(torch.ones(32, 100), (10, 10), 4)
    zeros = (blanked == 0).sum(dim=1)
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4 x 4 square, clipped at borders
    scaled = scale_contrast(torch.full((500, 3), 0.8))
    assert scaled.min() >= 0.4 - 1e-6 and scaled.max() <= 1.0
    assert len(torch.unique(scaled[:, 0])) > 100


def test_views_keep_the_shape_and_errors_name_the_bad_shape():
    images = torch.rand(5, 784)
    assert weak_view(images, (28, 28)).shape == strong_view(images, (28, 28), True).shape \
        == (5, 784)
    with pytest.raises(ValueError, match=r"expected flattened images of shape \(batch, 64\) "
                                         r"for image_shape \(8, 8\), got \(5, 784\)"):
        weak_view(images, (8, 8))
    with pytest.raises(ValueError, match="max_shift must be >= 0, got -1"):
        translate(torch.rand(2, 64), (8, 8), -1)


def test_empty_batches_pass_through():
    for view in (weak_view, strong_view):
        assert view(torch.zeros(0, 64), (8, 8)).shape == (0, 64)
