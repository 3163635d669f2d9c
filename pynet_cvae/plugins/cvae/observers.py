"""The CVAE sampling observer: draw each condition from the prior after every epoch."""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Tuple

import numpy as np
import torch
from scipy import ndimage

from ...observable import rank_zero_only
from ...registry import Observers
from .generation import displayable, grid_rows, square_image_shape
from .grid import make_grid, save_grid_png

logger = logging.getLogger("pynet_cvae")


@rank_zero_only
class ConditionalSampler:
    """An ``after_epoch`` observer that generates one row of images per condition.

    The rows are the classes of a class-only model, or values along one covariate
    (``covariate``: every class of a categorical one, ``rows`` values from its mean
    - 2 std to its mean + 2 std for a continuous one, the other covariates held at
    ``fixed`` or their defaults). Each column decodes one latent vector z ~ N(0, I),
    the same z for every row, so the grid shows what the condition changes (rows)
    and what the rest encodes, e.g. stroke style (columns). The latent vectors are
    drawn from a seeded generator, so grids of successive epochs are comparable.

    It writes files and draws on the board, so it is
    :func:`~pynet_cvae.observable.rank_zero_only`: in a distributed run, rank 0 calls it.

    Parameters
    ----------
    n_columns : int, default 8
        The number of latent vectors (columns).
    image_shape : tuple of int, optional
        The ``(height, width)`` of a generated image; by default the square root
        of the model's ``input_dim``.
    output_dir : str, optional
        Write each epoch's grid as ``sampling_fold<f>_epoch<e>.png`` there.
    window : str, default "sampling"
        The Visdom window, used when the emitter has a ``board`` attribute, and the
        name of the grid given to the emitter's loggers (:mod:`pynet_cvae.loggers`).
    zoom : int, default 5
        The magnification of the images sent to the board and the loggers.
    seed : int, default 0
        The seed of the latent vectors.
    covariate : str, optional
        The covariate along the rows (default: the condition's first).
    rows : int, optional
        The number of rows along a continuous covariate (default 8).
    fixed : dict, optional
        The values of the other covariates.

    Notes
    -----
    The model must have the generation interface
    (:class:`~pynet_cvae.plugins.cvae.GenerativeMixin`), or ``latent_dim`` and
    ``n_classes`` attributes and a ``decoder`` taking ``cat([z, one_hot])`` as in the
    tutorial. It runs on the model's device; the images are moved to the CPU before
    display. A volume is shown by its middle slice.
    """

    def __init__(self, n_columns: int = 8, image_shape: Optional[Tuple[int, ...]] = None,
                 output_dir: Optional[str] = None, window: str = "sampling", zoom: int = 5,
                 seed: int = 0, covariate: Optional[str] = None, rows: Optional[int] = None,
                 fixed: Optional[dict] = None) -> None:
        if n_columns < 1:
            raise ValueError(f"n_columns must be >= 1, got {n_columns}")
        self.n_columns = n_columns
        self.image_shape = image_shape
        self.output_dir = output_dir
        self.window = window
        self.zoom = zoom
        self.seed = seed
        self.covariate, self.rows, self.fixed = covariate, rows, fixed
        self.last_path: Optional[str] = None

    def __call__(self, signal: Any) -> None:
        model = signal.object.model
        images = self.generate(model)
        epoch = getattr(signal, "epoch", 0)
        fold = getattr(signal, "fold", 0)
        grid = make_grid(images, nrow=self.n_columns)
        if self.output_dir is not None:
            self.last_path = save_grid_png(
                os.path.join(self.output_dir, f"sampling_fold{fold}_epoch{epoch}.png"), grid)
        if getattr(signal.object, "loggers", None):
            from ...loggers import send_images  # imports the plotting package: when used

            send_images(signal.object, self.window, np.kron(grid, np.ones((self.zoom,) * 2)),
                        step=epoch, fold=fold)
        board = getattr(signal.object, "board", None)
        if board is not None:
            board.viewer.images(
                self._for_display(images), nrow=self.n_columns,
                opts={"title": f"sampling (epoch {epoch})", "caption": "rows: conditions; "
                      "columns: latent vectors"}, win=self.window)

    def generate(self, model: torch.nn.Module) -> np.ndarray:
        """Return ``(rows * n_columns, H, W)`` images, row-major, on the CPU."""
        generator = torch.Generator().manual_seed(self.seed)
        if hasattr(model, "sample") and hasattr(model, "condition"):
            values, _ = grid_rows(model, covariate=self.covariate, count=self.rows,
                                  fixed=self.fixed)
            z = torch.randn(self.n_columns, int(model.latent_dim), generator=generator)
            images = model.sample(values, z=z, generator=generator)
        else:
            images = self._decode_tutorial_style(model, generator)
        shape = self.image_shape or getattr(model, "image_shape", None) \
            or square_image_shape(images.shape[1])
        return displayable(images.detach().cpu().numpy(), shape)

    def _decode_tutorial_style(self, model: torch.nn.Module,
                               generator: torch.Generator) -> torch.Tensor:
        latent_dim, n_classes = _model_dimensions(model)
        device = next(model.parameters()).device
        z = torch.randn(self.n_columns, latent_dim, generator=generator)
        z = z.repeat(n_classes, 1).to(device)
        labels = torch.arange(n_classes).repeat_interleave(self.n_columns).to(device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                onehot = torch.nn.functional.one_hot(labels, n_classes).to(z.dtype)
                return model.decoder(torch.cat([z, onehot], dim=1))
        finally:
            model.train(was_training)

    def _for_display(self, images: np.ndarray) -> np.ndarray:
        zoomed = np.asarray([ndimage.zoom(image, self.zoom, order=0) for image in images])
        return np.clip(zoomed, 0.0, 1.0)[:, None] * 255.0


def _model_dimensions(model: torch.nn.Module) -> Tuple[int, int]:
    try:
        return int(model.latent_dim), int(model.n_classes)
    except AttributeError:
        raise AttributeError(
            f"the sampling observer needs a model with latent_dim and n_classes attributes "
            f"(like pynet_cvae's CVAE); got {type(model).__name__}") from None


sampling = Observers.register(ConditionalSampler(), name="sampling")
"""The tutorial's ``sampling`` observer: ``interface.add_observer("after_epoch", sampling)``."""
