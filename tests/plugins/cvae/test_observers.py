import numpy as np
import pytest
import torch
from matplotlib.image import imread

from pynet_cvae.observable import SignalObject
from pynet_cvae.plotting import Board
from pynet_cvae.plugins.cvae import CVAE, ConditionalSampler, make_grid, sampling
from pynet_cvae.registry import Observers

from ...servers import window_data


class Emitter:
    def __init__(self, model, board=None):
        self.model = model
        if board is not None:
            self.board = board


def test_sampling_is_the_registered_observer():
    assert Observers.get("sampling") is sampling
    assert isinstance(sampling, ConditionalSampler)


def test_generate_gives_one_row_per_class_with_shared_latents():
    torch.manual_seed(0)
    model = CVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=4)
    images = ConditionalSampler(n_columns=5).generate(model)
    assert images.shape == (20, 8, 8)
    again = ConditionalSampler(n_columns=5).generate(model)
    np.testing.assert_array_equal(images, again)  # seeded latents: comparable epochs
    assert model.training  # the model's mode is restored


def test_the_observer_writes_a_png_per_epoch_without_a_board(tmp_path):
    model = CVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10)
    observer = ConditionalSampler(n_columns=4, output_dir=str(tmp_path))
    observer(SignalObject(Emitter(model), "after_epoch", epoch=2, fold=0))
    path = tmp_path / "sampling_fold0_epoch2.png"
    assert observer.last_path == str(path) and path.exists()
    picture = imread(str(path))
    rows = 10 * (8 + 1) + 1
    columns = 4 * (8 + 1) + 1
    assert picture.shape[:2] == (rows * 4, columns * 4)


@pytest.mark.visdom
def test_the_observer_shows_the_grid_on_a_real_board(visdom_server):
    model = CVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10)
    board = Board(port=visdom_server.port, env="sampling_observer")
    try:
        ConditionalSampler(n_columns=2, zoom=3)(
            SignalObject(Emitter(model, board), "after_epoch", epoch=4, fold=0))
        window = window_data(board.viewer, "sampling", "sampling_observer")
    finally:
        board.close()
    assert window["type"] == "image"
    assert window["title"] == "sampling (epoch 4)"
    assert window["content"]["src"].startswith("data:image/")


def test_a_model_without_latent_dimensions_is_a_clear_error():
    with pytest.raises(AttributeError, match="latent_dim and n_classes"):
        ConditionalSampler().generate(torch.nn.Linear(2, 2))


def test_non_square_images_need_an_image_shape():
    model = CVAE(input_dim=12, hidden_dim=8, latent_dim=2, n_classes=3)
    with pytest.raises(ValueError, match="pass image_shape"):
        ConditionalSampler().generate(model)
    assert ConditionalSampler(image_shape=(3, 4)).generate(model).shape == (24, 3, 4)


def test_make_grid_layout():
    grid = make_grid(np.zeros((3, 2, 2)), nrow=2, padding=1)
    assert grid.shape == (7, 7)
    assert grid[1, 1] == 0 and grid[0, 0] == 1 and grid[4, 4] == 1  # 4th cell is padding
