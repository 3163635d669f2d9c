"""Orthogonal slices and slice series of maps in world space."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pynet_cvae.normative.figures import peak_coordinates, plot_orthogonal, \
    plot_slice_series  # noqa: E402


def _volume():
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = (-20, -20, -20)
    volume = np.zeros((11, 11, 11))
    volume[8, 3, 5] = -6.0  # world (12, -8, 0)
    return volume, affine


def test_the_cut_goes_through_the_peak_in_world_millimetres():
    volume, affine = _volume()
    assert peak_coordinates(volume, affine) == (12.0, -8.0, 0.0)
    figure = plot_orthogonal(volume, affine, background=np.ones_like(volume),
                             contour=volume < 0, title="subject")
    titles = [axis.get_title() for axis in figure.axes[:3]]
    assert titles == ["sagittal, x = 12 mm", "coronal, y = -8 mm", "axial, z = 0 mm"]
    assert len(figure.axes) == 4  # and a colour bar
    plt.close(figure)


def test_a_flipped_affine_is_drawn_left_on_the_left():
    volume, affine = _volume()
    flipped = affine.copy()
    flipped[0, 0], flipped[0, 3] = -4.0, 20.0
    figure = plot_orthogonal(volume[::-1], flipped)
    assert figure.axes[0].get_title() == "sagittal, x = 12 mm"
    plt.close(figure)


def test_a_series_shows_one_slice_per_map():
    volume, affine = _volume()
    figure = plot_slice_series([volume, 2 * volume], affine, ["one", "two"])
    assert [axis.get_title() for axis in figure.axes] == ["one", "two"]
    plt.close(figure)
    with pytest.raises(ValueError, match="plane 'oblique'"):
        plot_slice_series([volume], affine, ["one"], plane="oblique")


def test_a_series_of_brains_shares_one_grey_scale():
    volume, affine = _volume()
    brains = [np.linspace(0, 1, volume.size).reshape(volume.shape) * scale
              for scale in (1.0, 2.0)]
    figure = plot_slice_series(brains, affine, ["20 years", "80 years"], backgrounds=brains,
                               threshold=np.inf)
    limits = [axis.images[0].get_clim() for axis in figure.axes]
    assert limits[0] == limits[1]
    assert limits[0][1] == pytest.approx(np.percentile(np.concatenate(
        [brain.ravel() for brain in brains]), 99.5))
    plt.close(figure)
