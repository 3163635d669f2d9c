"""plot_history and plot_data: pynet's matplotlib figures."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from pynet_cvae.history import History
from pynet_cvae.plotting import plot_data, plot_history


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_one_panel_per_value_and_one_curve_per_fold():
    history = History(name="train")
    for fold in range(2):
        for epoch in range(3):
            history.log((fold, epoch), loss=1.0 / (epoch + 1), accuracy=0.2 * epoch + fold,
                        kl=0.1 * fold)
    history.log((1, 3), loss=0.1, accuracy=0.9, kl=0.0)
    history.log((0, 3), extra=5.0)
    figure = plot_history(history, title="run")
    axes = figure.axes
    assert [axis.get_title() for axis in axes] == ["loss", "accuracy", "kl", "extra"]
    assert figure._suptitle.get_text() == "run"
    loss_lines = axes[0].get_lines()
    assert len(loss_lines) == 2 and axes[0].get_xlabel() == "epoch"
    assert loss_lines[1].get_xdata().tolist() == [0, 1, 2, 3]
    assert loss_lines[1].get_ydata().tolist() == pytest.approx([1, 0.5, 1 / 3, 0.1])
    assert len(axes[3].get_lines()) == 1
    with pytest.raises(ValueError, match="the validation history holds no value"):
        plot_history(History(name="validation"))


def test_plot_data_shows_images_from_a_tensor_with_labels():
    images = torch.rand(8, 2, 5, 5)
    images[3] = -1  # no positive value: never shown
    figure = plot_data(images, nb_samples=4, labels=[f"label {i}" for i in range(8)], seed=0)
    axes = figure.axes
    assert len(axes) == 2 * 4  # one row per channel
    titles = [axis.get_title() for axis in axes if axis.get_title()]
    assert len(titles) == 4 and "label 3" not in titles
    first = plot_data(images.numpy(), nb_samples=3, random=False)
    assert [axis.get_title() for axis in first.axes[:3]] == ["Image 0", "Image 1", "Image 2"]


def test_plot_data_rgb_and_volumes():
    colours = np.random.default_rng(0).uniform(-1, 1, (4, 3, 6, 6))
    figure = plot_data(colours, nb_samples=2, rgb=True, random=False)
    shown = figure.axes[0].get_images()[0].get_array()
    assert shown.shape == (6, 6, 3) and shown.min() >= 0 and shown.max() <= 1
    volumes = np.ones((2, 1, 3, 4, 5))
    sliced = plot_data(volumes, slice_axis=0, nb_samples=6, random=False)
    assert len(sliced.axes) == 6 and sliced.axes[0].get_images()[0].get_array().shape == (4, 5)


@pytest.mark.parametrize("data, options, message", [
    (np.zeros((2, 4, 4)), {}, r"data of shape \(2, 4, 4\) is not supported"),
    (np.ones((2, 1, 4, 4)), {"rgb": True}, "rgb=True needs 3 channels"),
    (np.zeros((2, 1, 4, 4)), {}, "no image of data .* has a positive value in channel 0"),
])
def test_plot_data_errors_name_the_problem(data, options, message):
    with pytest.raises(ValueError, match=message):
        plot_data(data, **options)
