"""The generation API of the CVAE models: sample, reconstruct, encode, interpolate.

Both :class:`~pynet_cvae.plugins.cvae.CVAE` (the tutorial's recipe) and
:class:`~pynet_cvae.plugins.cvae.ConditionalCVAE` inherit :class:`GenerativeMixin`,
which builds these methods on three small ones every CVAE model has:

``classify(x)``
    The class logits of flattened images ``x``.
``encode_latent(x, onehot)``
    The mean and log-variance of q(z|x, y) (the tutorial's encoder ignores ``onehot``).
``decode(z, onehot)``
    Images in [0, 1] from latent vectors and (one-hot or soft) classes.

Every method runs without gradients, in evaluation mode, on the model's device, and
restores the model's training mode afterwards. :func:`write_sample_grid` writes a PNG
with one row per class, as ``pynet-cvae sample`` does.
"""

from __future__ import annotations

import contextlib
import math
from collections import namedtuple
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as func

from .grid import make_grid, save_grid_png

Labels = Union[int, Sequence[int], torch.Tensor]

Encoding = namedtuple("Encoding", ["z_mu", "z_log_var", "labels"])
Encoding.__doc__ = """What :meth:`GenerativeMixin.encode` returns.

Parameters
----------
z_mu, z_log_var : torch.Tensor
    ``(batch, latent_dim)`` mean and log-variance of q(z|x, y).
labels : torch.Tensor
    ``(batch,)`` the class ids the encoding is conditioned on (given, or predicted
    by the model's classifier).
"""


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` in evaluation mode without gradients; restore its mode on exit.

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Yields
    ------
    torch.nn.Module
        ``model``, in evaluation mode.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


class GenerativeMixin:
    """Generation methods for a CVAE model (see the module documentation).

    The model needs the attributes ``n_classes``, ``latent_dim`` and ``input_dim``
    and the methods ``classify``, ``encode_latent`` and ``decode``.
    """

    n_classes: int
    latent_dim: int
    input_dim: int

    def sample(self, labels: Labels, n: int = 1, z: Optional[torch.Tensor] = None,
               temperature: float = 1.0, generator: Optional[torch.Generator] = None
               ) -> torch.Tensor:
        """Generate ``n`` images of each requested class.

        Parameters
        ----------
        labels : int, sequence of int or torch.Tensor
            The classes to draw, in ``[0, n_classes)``.
        n : int, default 1
            Images per class; ignored when ``z`` is given.
        z : torch.Tensor, optional
            ``(n, latent_dim)`` latent vectors; by default drawn from the prior
            N(0, temperature^2 I). The same vectors are decoded for every class.
        temperature : float, default 1.0
            The standard deviation of the prior draws (lower: more typical images,
            less variety).
        generator : torch.Generator, optional
            A CPU generator making the draws reproducible.

        Returns
        -------
        torch.Tensor
            ``(len(labels) * n, input_dim)`` images in [0, 1], class-major: the
            ``n`` images of ``labels[0]`` first.
        """
        labels = self._label_tensor(labels)
        if z is None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"n must be a positive integer, got {n!r}")
            if not temperature > 0:
                raise ValueError(f"temperature must be > 0, got {temperature!r}")
            z = torch.randn(n, self.latent_dim, generator=generator) * temperature
        elif z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}), got {tuple(z.shape)}")
        device = self._device()
        count = z.shape[0]
        with evaluating(self):
            z = z.to(device).repeat(len(labels), 1)
            onehot = self._onehot(labels.to(device).repeat_interleave(count))
            return self.decode(z, onehot)

    def encode(self, x: torch.Tensor, labels: Optional[Labels] = None) -> Encoding:
        """Encode flattened images into q(z|x, y).

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` images.
        labels : int, sequence of int or torch.Tensor, optional
            One class per image to condition on; by default the classifier's most
            probable class.

        Returns
        -------
        Encoding
            ``(z_mu, z_log_var, labels)``.
        """
        x = self._check_inputs(x)
        with evaluating(self):
            labels = self._labels_for(x, labels)
            z_mu, z_log_var = self.encode_latent(x, self._onehot(labels))
        return Encoding(z_mu, z_log_var, labels)

    def reconstruct(self, x: torch.Tensor, labels: Optional[Labels] = None) -> torch.Tensor:
        """Decode the latent mean of each image with its class.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` images.
        labels : int, sequence of int or torch.Tensor, optional
            One class per image to encode and decode with; by default the
            classifier's most probable class.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` reconstructions in [0, 1].
        """
        encoding = self.encode(x, labels)
        with evaluating(self):
            return self.decode(encoding.z_mu, self._onehot(encoding.labels))

    def interpolate(self, x_start: torch.Tensor, x_end: torch.Tensor, steps: int = 8,
                    label: Optional[int] = None) -> torch.Tensor:
        """Decode the straight line between the latent codes of two images.

        Parameters
        ----------
        x_start, x_end : torch.Tensor
            Two flattened images, ``(input_dim,)`` or ``(1, input_dim)``.
        steps : int, default 8
            The number of images, both ends included.
        label : int, optional
            Decode every step with this class. By default the one-hot class moves
            from the start image's (predicted) class to the end image's along
            with z.

        Returns
        -------
        torch.Tensor
            ``(steps, input_dim)`` images.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        pair = torch.cat([self._check_inputs(x_start.reshape(1, -1)),
                          self._check_inputs(x_end.reshape(1, -1))])
        fixed = None if label is None else self._label_tensor(label).repeat(2)
        encoding = self.encode(pair, fixed)
        weights = torch.linspace(0.0, 1.0, steps, device=pair.device)[:, None]
        z = torch.lerp(encoding.z_mu[:1], encoding.z_mu[1:], weights)
        onehot = self._onehot(encoding.labels)
        onehot = torch.lerp(onehot[:1], onehot[1:], weights)
        with evaluating(self):
            return self.decode(z, onehot)

    # ------------------------------------------------------------------ helpers
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _onehot(self, labels: torch.Tensor) -> torch.Tensor:
        return func.one_hot(labels.long(), self.n_classes).to(torch.get_default_dtype())

    def _label_tensor(self, labels: Labels) -> torch.Tensor:
        tensor = torch.as_tensor(labels).reshape(-1).long()
        if tensor.numel() == 0:
            raise ValueError("labels is empty: expected at least one class id")
        if int(tensor.min()) < 0 or int(tensor.max()) >= self.n_classes:
            raise ValueError(f"labels must lie in [0, {self.n_classes}), got "
                             f"{tensor.tolist()[:10]}")
        return tensor.to(self._device())

    def _labels_for(self, x: torch.Tensor, labels: Optional[Labels]) -> torch.Tensor:
        if labels is None:
            return self.classify(x).argmax(dim=1)
        labels = self._label_tensor(labels)
        if labels.numel() != x.shape[0]:
            raise ValueError(f"expected one label per image ({x.shape[0]}), got "
                             f"{labels.numel()}")
        return labels

    def _check_inputs(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"expected flattened images of shape (batch, {self.input_dim}), "
                             f"got {tuple(x.shape)}")
        return x.to(self._device(), torch.get_default_dtype())


def square_image_shape(size: int) -> Tuple[int, int]:
    """The shape of a flattened square image.

    Parameters
    ----------
    size : int
        Its number of pixels.

    Returns
    -------
    tuple of int
        ``(side, side)``.
    """
    side = math.isqrt(size)
    if side * side != size:
        raise ValueError(f"cannot infer the image shape of a vector of size {size}; "
                         "pass image_shape=(height, width)")
    return side, side


def sample_grid(model: GenerativeMixin, n_columns: int = 8, temperature: float = 1.0,
                seed: int = 0, labels: Optional[Labels] = None,
                image_shape: Optional[Tuple[int, int]] = None):
    """A grid of samples: one row per class, one latent vector (the same for all rows)
    per column.

    Parameters
    ----------
    model : CVAE or ConditionalCVAE
        The model (any :class:`GenerativeMixin`).
    n_columns : int, default 8
        The number of latent vectors.
    temperature : float, default 1.0
        The standard deviation of the prior draws.
    seed : int, default 0
        The seed of the latent vectors.
    labels : sequence of int, optional
        The classes, one per row (default: every class).
    image_shape : tuple of int, optional
        ``(height, width)``; by default the model's ``image_shape`` attribute, else
        the square root of ``input_dim``.

    Returns
    -------
    numpy.ndarray
        The 2-D grid (see :func:`~pynet_cvae.plugins.cvae.make_grid`).
    """
    if labels is None:
        labels = list(range(model.n_classes))
    generator = torch.Generator().manual_seed(seed)
    images = model.sample(labels, n=n_columns, temperature=temperature, generator=generator)
    shape = image_shape or getattr(model, "image_shape", None) or square_image_shape(
        model.input_dim)
    return make_grid(images.cpu().numpy().reshape(-1, *shape), nrow=n_columns)


def write_sample_grid(model: GenerativeMixin, path: str, n_columns: int = 8,
                      temperature: float = 1.0, seed: int = 0,
                      labels: Optional[Labels] = None,
                      image_shape: Optional[Tuple[int, int]] = None, scale: int = 4) -> str:
    """Write :func:`sample_grid` as a PNG (rows: classes).

    Parameters
    ----------
    model : CVAE or ConditionalCVAE
        The model.
    path : str
        The PNG file (written atomically; its folder is created).
    n_columns : int, default 8
        The number of latent vectors.
    temperature : float, default 1.0
        The standard deviation of the prior draws.
    seed : int, default 0
        The seed of the latent vectors.
    labels : sequence of int, optional
        The classes, one per row (default: every class).
    image_shape : tuple of int, optional
        ``(height, width)`` (see :func:`sample_grid`).
    scale : int, default 4
        Each pixel becomes a ``scale x scale`` block.

    Returns
    -------
    str
        ``path``.
    """
    grid = sample_grid(model, n_columns=n_columns, temperature=temperature, seed=seed,
                       labels=labels, image_shape=image_shape)
    return save_grid_png(path, grid, scale=scale)
