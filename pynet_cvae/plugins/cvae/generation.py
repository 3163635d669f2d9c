"""The generation interface of the zoo's models: sample, reconstruct, encode, interpolate.

Every model of the zoo inherits :class:`GenerativeMixin`, which builds these methods
on a few small ones:

``condition``
    The model's :class:`~pynet_cvae.conditions.Condition` (for the
    tutorial's models, the classes).
``encode_latent(x, c)``
    The mean and log-variance of q(z|x, c), ``c`` the encoded condition (the
    tutorial's encoder ignores it).
``decode(z, c)``
    Images (their expected values) from latent vectors and encoded conditions.
``classify(x)``
    The class logits, for models with a classifier (``has_classifier``): then the
    condition of an image may be left out and is predicted.
``prior_parameters(c)``
    The prior p(z|c) as a mean and a log-variance: N(0, I) unless a model learns one.
``prior_latent(noise, values, c, generator)``
    The latent vectors generated from: standard normal draws through the prior, or
    through a sampling prior fitted after training
    (:class:`~pynet_cvae.plugins.cvae.AggregatePrior`).

A condition is given as class ids for a class-only model (``model.sample([3, 7],
n=8)``), or as a mapping covariate -> values (``model.sample({"age": [40, 80]})``),
or as a table of values (see :meth:`Condition.values`). ``sample(...,
acceptance_threshold=p)`` keeps only the images the model's own classifier gives
their class a probability of at least ``p`` and draws again for the others
(rejection sampling, class-only models with a classifier). Every method runs without
gradients, in evaluation mode, on the model's device, and restores the training mode
afterwards. :func:`write_sample_grid` writes a PNG with one row per condition, as
``pynet-cvae sample`` does.
"""

from __future__ import annotations

import contextlib
import math
from collections import namedtuple
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ...conditions import Condition, ConditionValues
from .grid import make_grid, save_grid_png

Labels = ConditionValues

#: The most candidates :meth:`GenerativeMixin.sample` draws for one image when it
#: rejects those its classifier does not recognise.
MAX_DRAWS = 20

Encoding = namedtuple("Encoding", ["z_mu", "z_log_var", "labels"])
Encoding.__doc__ = """What :meth:`GenerativeMixin.encode` returns.

Parameters
----------
z_mu, z_log_var : torch.Tensor
    ``(batch, latent_dim)`` mean and log-variance of q(z|x, c).
labels : torch.Tensor
    The condition values the encoding is conditioned on (given, or the classes
    predicted by the model's classifier).
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
    """Generation methods for a conditional model (see the module documentation).

    The model needs the attributes ``condition``, ``latent_dim`` and ``input_dim``
    and the methods ``encode_latent`` and ``decode`` (and ``classify`` when
    ``has_classifier``).
    """

    condition: Condition
    latent_dim: int
    input_dim: int
    has_classifier: bool = True

    @property
    def n_classes(self) -> Optional[int]:
        """The number of classes of a class-only condition (None otherwise)."""
        return self.condition.n_classes

    def prior_parameters(self, condition: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The prior p(z|c): mean and log-variance, ``(batch, latent_dim)`` each.

        Parameters
        ----------
        condition : torch.Tensor
            ``(batch, width)`` encoded conditions.
        """
        zeros = condition.new_zeros(condition.shape[0], self.latent_dim)
        return zeros, zeros

    def sample(self, labels: Labels, n: int = 1, z: Optional[torch.Tensor] = None,
               temperature: float = 1.0, generator: Optional[torch.Generator] = None,
               acceptance_threshold: float = 0.0, max_draws: int = MAX_DRAWS
               ) -> torch.Tensor:
        """Generate ``n`` images of each requested condition.

        Parameters
        ----------
        labels : int, sequence, mapping or torch.Tensor
            The conditions to draw: class ids of a class-only model, a mapping
            covariate -> values, or a table (see the module documentation).
        n : int, default 1
            Images per condition; ignored when ``z`` is given.
        z : torch.Tensor, optional
            ``(n, latent_dim)`` standard normal draws; by default drawn with
            ``generator``. The same draws serve every condition (the prior's mean and
            scale of each condition are applied to them).
        temperature : float, default 1.0
            Scales the draws (lower: more typical images, less variety).
        generator : torch.Generator, optional
            A CPU generator making the draws reproducible (those of ``z``, and the
            components of a fitted aggregate prior, drawn even when ``z`` is given).
        acceptance_threshold : float, default 0.0
            When above 0 (a class-only model with a classifier): keep a generated
            image only when the model's own classifier gives the requested class at
            least this probability, and draw again for the others (rejection
            sampling; the redraws come from ``generator``, so only the accepted
            first draws keep their ``z``). 0: every draw is kept.
        max_draws : int, default :data:`MAX_DRAWS`
            The most candidates drawn for one image when ``acceptance_threshold`` is
            set; an image none of whose candidates is accepted is the candidate the
            classifier found most probable.

        Returns
        -------
        torch.Tensor
            ``(conditions * n, input_dim)`` images, condition-major: the ``n`` images
            of the first condition first.
        """
        values = self._condition_values(labels)
        self._check_acceptance(acceptance_threshold, max_draws)
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
            noise = z.to(device).repeat(values.shape[0], 1)
            values = values.repeat_interleave(count, dim=0)
            condition = self.condition.encode(values).to(device)
            images = self.decode(self.prior_latent(noise, values, condition, generator),
                                 condition)
            if acceptance_threshold:
                images = self._redraw_rejected(images, values, condition,
                                               acceptance_threshold, max_draws,
                                               temperature, generator)
            return images

    def _check_acceptance(self, threshold: float, max_draws: int) -> None:
        if not 0 <= threshold < 1:
            raise ValueError(f"acceptance_threshold must lie in [0, 1), got {threshold!r}")
        if isinstance(max_draws, bool) or not isinstance(max_draws, int) or max_draws < 1:
            raise ValueError(f"max_draws must be an integer >= 1, got {max_draws!r}")
        if threshold and not (self.has_classifier and self.condition.is_class_only):
            raise ValueError(f"acceptance_threshold needs a class-only model with a "
                             f"classifier; {type(self).__name__} has "
                             f"{'a classifier' if self.has_classifier else 'none'} and the "
                             f"condition {self.condition.names}")

    def _redraw_rejected(self, images: torch.Tensor, values: torch.Tensor,
                         condition: torch.Tensor, threshold: float, max_draws: int,
                         temperature: float, generator: Optional[torch.Generator]
                         ) -> torch.Tensor:
        """Rejection sampling: draw again for each image whose class the classifier
        gives less than ``threshold``, keeping the most probable candidate so far."""
        values = values.to(images.device)
        best = self.class_probability(images, values)
        for _ in range(max_draws - 1):
            pending = torch.nonzero(best < threshold).flatten()
            if not len(pending):
                break
            noise = torch.randn(len(pending), self.latent_dim, generator=generator)
            noise = noise.to(images.device) * temperature
            candidates = self.decode(self.prior_latent(noise, values[pending],
                                                       condition[pending], generator),
                                     condition[pending])
            probability = self.class_probability(candidates, values[pending])
            better = probability > best[pending]
            images[pending[better]] = candidates[better]
            best[pending[better]] = probability[better]
        return images

    def class_probability(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The probability the classifier gives each image's class, q(y = label | x).

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` images.
        labels : torch.Tensor
            ``(batch,)`` class ids.

        Returns
        -------
        torch.Tensor
            ``(batch,)`` probabilities.
        """
        with evaluating(self):
            logits = self.classify(x.to(torch.get_default_dtype()))
            return torch.softmax(logits, dim=1).gather(1, labels.long()[:, None])[:, 0]

    def prior_latent(self, noise: torch.Tensor, values: torch.Tensor,
                     condition: torch.Tensor,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Latent vectors to generate from, given standard normal draws.

        Parameters
        ----------
        noise : torch.Tensor
            ``(n, latent_dim)`` standard normal draws (scaled by a temperature).
        values : torch.Tensor
            The ``n`` condition values.
        condition : torch.Tensor
            ``(n, width)`` their encodings.
        generator : torch.Generator, optional
            For a model whose sampling prior draws more than ``noise`` (a mixture's
            components).

        Returns
        -------
        torch.Tensor
            ``(n, latent_dim)``: here ``mu(c) + noise * sigma(c)`` of
            :meth:`prior_parameters`.
        """
        prior_mu, prior_var = self.prior_parameters(condition)
        return prior_mu + noise * torch.exp(prior_var / 2)

    def encode(self, x: torch.Tensor, labels: Optional[Labels] = None) -> Encoding:
        """Encode flattened images into q(z|x, c).

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` images.
        labels : int, sequence, mapping or torch.Tensor, optional
            One condition per image; by default the classifier's most probable class.

        Returns
        -------
        Encoding
            ``(z_mu, z_log_var, labels)``.
        """
        x = self._check_inputs(x)
        with evaluating(self):
            labels = self._labels_for(x, labels)
            z_mu, z_log_var = self.encode_latent(x, self._encoded(labels))
        return Encoding(z_mu, z_log_var, labels)

    def reconstruct(self, x: torch.Tensor, labels: Optional[Labels] = None) -> torch.Tensor:
        """Decode the latent mean of each image with its condition.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` images.
        labels : int, sequence, mapping or torch.Tensor, optional
            One condition per image to encode and decode with; by default the
            classifier's most probable class.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` reconstructions.
        """
        encoding = self.encode(x, labels)
        with evaluating(self):
            return self.decode(encoding.z_mu, self._encoded(encoding.labels))

    def interpolate(self, x_start: torch.Tensor, x_end: torch.Tensor, steps: int = 8,
                    label: Optional[Labels] = None,
                    conditions: Optional[Labels] = None) -> torch.Tensor:
        """Decode the straight line between the latent codes of two images.

        Parameters
        ----------
        x_start, x_end : torch.Tensor
            Two flattened images, ``(input_dim,)`` or ``(1, input_dim)``.
        steps : int, default 8
            The number of images, both ends included.
        label : int or mapping, optional
            Decode every step with this one condition.
        conditions : sequence or mapping, optional
            The conditions of the two images (two values per covariate). By default
            the classifier's classes. Unless ``label`` is given, the encoded condition
            moves from the start's to the end's along with z.

        Returns
        -------
        torch.Tensor
            ``(steps, input_dim)`` images.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        pair = torch.cat([self._check_inputs(x_start.reshape(1, -1)),
                          self._check_inputs(x_end.reshape(1, -1))])
        given = conditions
        if label is not None:
            given = self._condition_values(label, count=2)
        encoding = self.encode(pair, given)
        weights = torch.linspace(0.0, 1.0, steps, device=pair.device)[:, None]
        z = torch.lerp(encoding.z_mu[:1], encoding.z_mu[1:], weights)
        condition = self._encoded(encoding.labels)
        condition = torch.lerp(condition[:1], condition[1:], weights)
        with evaluating(self):
            return self.decode(z, condition)

    # ------------------------------------------------------------------ helpers
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _encoded(self, values: torch.Tensor) -> torch.Tensor:
        return self.condition.encode(values).to(self._device())

    def _condition_values(self, labels: Labels, count: Optional[int] = None) -> torch.Tensor:
        values = self.condition.values(labels, count=count)
        if values.numel() == 0:
            raise ValueError("labels is empty: expected at least one condition")
        self.condition.encode(values)  # checks the class ids
        return values.to(self._device())

    def _labels_for(self, x: torch.Tensor, labels: Optional[Labels]) -> torch.Tensor:
        if labels is None:
            if not (self.has_classifier and self.condition.is_class_only):
                raise ValueError(f"{type(self).__name__} has no classifier to predict the "
                                 f"condition: give the images' {self.condition.names}")
            return self.classify(x).argmax(dim=1)
        values = self._condition_values(labels, count=x.shape[0])
        if values.shape[0] != x.shape[0]:
            raise ValueError(f"expected one label per image ({x.shape[0]}), got "
                             f"{values.shape[0]}")
        return values

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


def displayable(images: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """Flattened images as ``(N, H, W)`` pictures (a volume: its middle slice).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, prod(image_shape))`` images.
    image_shape : sequence of int
        ``(H, W)`` or ``(D, H, W)``.
    """
    shape = tuple(int(side) for side in image_shape)
    pictures = np.asarray(images).reshape(-1, *shape)
    if len(shape) == 3:
        pictures = pictures[:, shape[0] // 2]
    return pictures


def grid_rows(model: GenerativeMixin, labels: Optional[Labels] = None,
              covariate: Optional[str] = None, count: Optional[int] = None,
              fixed: Optional[Mapping[str, Any]] = None) -> Tuple[torch.Tensor, List[str]]:
    """The conditions of a sample grid's rows and their labels.

    Parameters
    ----------
    model : GenerativeMixin
        The model.
    labels : sequence or mapping, optional
        The rows' conditions; by default values along ``covariate``.
    covariate : str, optional
        The covariate along the rows (default: the first): every class of a
        categorical one, ``count`` values of a continuous one (mean +/- 2 std).
    count : int, optional
        The rows along a continuous covariate (default 8).
    fixed : mapping, optional
        The other covariates' values (default: class 0, the mean).
    """
    if labels is not None:
        values = model.condition.values(labels)
        names = model.condition.names
        rows = values.reshape(values.shape[0], -1).tolist()
        return values, [", ".join(f"{name}={value:g}" for name, value in zip(names, row))
                        for row in rows]
    return model.condition.grid(covariate, count=count, fixed=fixed)


def sample_grid(model: GenerativeMixin, n_columns: int = 8, temperature: float = 1.0,
                seed: int = 0, labels: Optional[Labels] = None,
                image_shape: Optional[Sequence[int]] = None, covariate: Optional[str] = None,
                rows: Optional[int] = None, fixed: Optional[Mapping[str, Any]] = None,
                acceptance_threshold: float = 0.0) -> np.ndarray:
    """A grid of samples: one row per condition, one latent draw (the same for all rows)
    per column.

    Parameters
    ----------
    model : GenerativeMixin
        The model.
    n_columns : int, default 8
        The number of latent draws.
    temperature : float, default 1.0
        Scales the draws.
    seed : int, default 0
        The seed of the draws.
    labels : sequence or mapping, optional
        The rows' conditions (default: along ``covariate``, see :func:`grid_rows`).
    image_shape : sequence of int, optional
        By default the model's ``image_shape`` attribute, else the square root of
        ``input_dim``.
    covariate, rows, fixed
        The covariate along the rows, the number of rows along a continuous one and
        the other covariates' values (see :func:`grid_rows`).
    acceptance_threshold : float, default 0.0
        Rejection sampling with the model's classifier (see
        :meth:`GenerativeMixin.sample`; 0: off).

    Returns
    -------
    numpy.ndarray
        The 2-D grid (see :func:`~pynet_cvae.plugins.cvae.make_grid`).
    """
    values, _ = grid_rows(model, labels, covariate, rows, fixed)
    generator = torch.Generator().manual_seed(seed)
    extra = {"acceptance_threshold": acceptance_threshold} if acceptance_threshold else {}
    images = model.sample(values, n=n_columns, temperature=temperature, generator=generator,
                          **extra)
    shape = image_shape or getattr(model, "image_shape", None) or square_image_shape(
        model.input_dim)
    return make_grid(displayable(images.cpu().numpy(), shape), nrow=n_columns)


def write_sample_grid(model: GenerativeMixin, path: str, n_columns: int = 8,
                      temperature: float = 1.0, seed: int = 0,
                      labels: Optional[Labels] = None,
                      image_shape: Optional[Sequence[int]] = None, scale: int = 4,
                      covariate: Optional[str] = None, rows: Optional[int] = None,
                      fixed: Optional[Mapping[str, Any]] = None,
                      acceptance_threshold: float = 0.0) -> str:
    """Write :func:`sample_grid` as a PNG (rows: conditions).

    Parameters
    ----------
    model : GenerativeMixin
        The model.
    path : str
        The PNG file (written atomically; its folder is created).
    n_columns, temperature, seed, labels, image_shape, covariate, rows, fixed
        As :func:`sample_grid`.
    acceptance_threshold : float, default 0.0
        As :func:`sample_grid`.
    scale : int, default 4
        Each pixel becomes a ``scale x scale`` block.

    Returns
    -------
    str
        ``path``.
    """
    grid = sample_grid(model, n_columns=n_columns, temperature=temperature, seed=seed,
                       labels=labels, image_shape=image_shape, covariate=covariate,
                       rows=rows, fixed=fixed, acceptance_threshold=acceptance_threshold)
    return save_grid_png(path, grid, scale=scale)
