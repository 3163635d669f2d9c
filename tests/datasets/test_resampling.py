"""Grids of chosen voxel size, and images resampled onto them in world space."""

import numpy as np
import pytest

from pynet_cvae.datasets.resampling import Grid, grid_with_voxel_size, resample


def _affine(sizes=(2.0, 2.0, 2.0), origin=(-20.0, -30.0, -10.0)):
    affine = np.diag(list(sizes) + [1.0])
    affine[:3, 3] = origin
    return affine


def _world(grid):
    indices = np.indices(grid.shape).reshape(3, -1)
    return grid.affine[:3, :3] @ indices + grid.affine[:3, 3:4]


def test_a_coarser_grid_keeps_the_field_of_view_centre_and_orientation():
    affine = _affine()
    affine[0] *= -1  # a left-right flip, as in many scanner images
    grid = grid_with_voxel_size((20, 30, 10), affine, 4.0)
    assert grid.shape == (10, 15, 5)
    assert grid.voxel_sizes == pytest.approx((4.0, 4.0, 4.0))
    assert grid.voxel_volume == pytest.approx(64.0)
    assert np.sign(grid.affine[0, 0]) == -1
    old_centre = np.mean(_world(Grid((20, 30, 10), affine)), axis=1)
    np.testing.assert_allclose(np.mean(_world(grid), axis=1), old_centre)
    anisotropic = grid_with_voxel_size((20, 30, 10), _affine(), (4, 3, 2))
    assert anisotropic.shape == (10, 20, 10)


@pytest.mark.parametrize("voxel_size", [0, -1, (1, 2), float("nan"), "four"])
def test_a_bad_voxel_size_is_refused_with_its_value(voxel_size):
    with pytest.raises(ValueError, match="voxel_size"):
        grid_with_voxel_size((4, 4, 4), np.eye(4), voxel_size)


def test_resampling_a_linear_ramp_gives_the_ramp_at_the_new_voxel_centres():
    affine = _affine(sizes=(1.0, 1.0, 1.0))
    grid = Grid((20, 20, 20), affine)
    world = _world(grid)
    ramp = (2 * world[0] + world[1] - world[2]).reshape(grid.shape)
    shifted = affine.copy()
    shifted[:3, 3] += (2.5, 0.0, 0.0)  # half-voxel and more: interpolation needed
    values = resample(ramp, affine, Grid((10, 20, 20), shifted), antialias=False)
    expected = (2 * _world(Grid((10, 20, 20), shifted))[0]
                + _world(Grid((10, 20, 20), shifted))[1]
                - _world(Grid((10, 20, 20), shifted))[2]).reshape(10, 20, 20)
    inner = (slice(1, -1),) * 3
    np.testing.assert_allclose(values[inner], expected[inner], atol=1e-4)


def test_downsampling_averages_fine_detail_instead_of_aliasing_it():
    affine = _affine(sizes=(1.0, 1.0, 1.0))
    stripes = np.zeros((41, 41, 41), dtype=np.float32)
    stripes[::2] = 2.0  # one-voxel stripes: mean 1; the coarse centres fall on the 2s
    coarse = grid_with_voxel_size(stripes.shape, affine, 4.0)
    smooth = resample(stripes, affine, coarse)
    aliased = resample(stripes, affine, coarse, antialias=False)
    inner = (slice(2, -2),) * 3
    assert np.abs(smooth[inner] - 1.0).max() < 0.05
    assert np.abs(aliased[inner] - 1.0).max() > 0.5


def test_nearest_neighbour_keeps_labels_and_their_type():
    labels = np.zeros((8, 8, 8), dtype=np.int16)
    labels[2:6, 2:6, 2:6] = 7
    values = resample(labels, np.eye(4), grid_with_voxel_size(labels.shape, np.eye(4), 2.0),
                      order=0)
    assert values.dtype == np.int16 and set(np.unique(values)) <= {0, 7}
    with pytest.raises(ValueError, match="order 2"):
        resample(labels, np.eye(4), Grid((4, 4, 4), np.eye(4)), order=2)


def test_channels_on_a_fourth_axis_are_resampled_alike():
    data = np.stack([np.full((6, 6, 6), 1.0), np.full((6, 6, 6), 3.0)], axis=-1)
    values = resample(data, np.eye(4), Grid((3, 3, 3), np.diag([2, 2, 2, 1.0])))
    assert values.shape == (3, 3, 3, 2)
    np.testing.assert_allclose(values[1, 1, 1], [1.0, 3.0], rtol=1e-5)
