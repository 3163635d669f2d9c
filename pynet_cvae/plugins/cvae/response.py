"""How generated images follow a continuous covariate: the covariate's response curve.

Conditioning on a continuous covariate is useful only if asking for another value
changes the generated images accordingly. :func:`covariate_response` generates
images along the covariate, the same latent draws at every value, measures a
property of each image (by default its mean intensity: the ink of a stroke
thickness, a brightness) and reports how closely the property follows the value
asked for::

    response = covariate_response(model, "thickness", values=np.linspace(0, 1, 8))
    response.correlation      # Pearson, per generated image
    response.monotonic        # does the mean property move one way along the values?
"""

from __future__ import annotations

import itertools
from collections import namedtuple
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ...conditions import Categorical, Continuous

__all__ = ["Response", "covariate_response", "mean_intensity"]

Response = namedtuple("Response", ["values", "measured", "spread", "correlation",
                                   "curve_correlation", "monotonic"])
Response.__doc__ = """What :func:`covariate_response` returns.

Parameters
----------
values : numpy.ndarray
    The requested values of the covariate.
measured, spread : numpy.ndarray
    The property's mean and standard deviation over the images generated at each value.
correlation : float
    Pearson's correlation between the value each image was generated with and its
    measured property, over every generated image.
curve_correlation : float
    Pearson's correlation between ``values`` and ``measured``.
monotonic : bool
    Whether ``measured`` strictly increases, or strictly decreases, along ``values``.
"""


def mean_intensity(images: np.ndarray) -> np.ndarray:
    """The mean pixel value of each flattened image, ``(N,)``."""
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1).mean(axis=1)


def covariate_response(model: Any, covariate: str, values: Optional[Sequence[float]] = None,
                       measure: Callable[[np.ndarray], np.ndarray] = mean_intensity,
                       samples: int = 32, fixed: Optional[Mapping[str, Any]] = None,
                       seed: int = 0) -> Response:
    """Generate images along a continuous covariate and measure a property of them.

    At each value, the model decodes ``samples`` latent draws (the same draws at
    every value) for every combination of the classes of its categorical
    covariates that ``fixed`` does not set; its other continuous covariates are held
    at ``fixed`` or their mean.

    Parameters
    ----------
    model : GenerativeMixin
        A trained model whose condition has the continuous covariate ``covariate``.
    covariate : str
        The covariate that varies.
    values : sequence of float, optional
        The values asked for (at least 2); by default 8 from its mean - 2 std to
        its mean + 2 std.
    measure : callable, default :func:`mean_intensity`
        ``(N, input_dim)`` images (a NumPy array) to ``(N,)`` measurements.
    samples : int, default 32
        Latent draws per condition.
    fixed : mapping, optional
        Values of other covariates.
    seed : int, default 0
        The seed of the latent draws.

    Returns
    -------
    Response
    """
    condition = model.condition
    varying = condition[covariate]
    if not isinstance(varying, Continuous):
        raise ValueError(f"covariate {covariate!r} is {varying.kind}: the response is "
                         "measured along a continuous covariate")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    values = varying.grid() if values is None else np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be at least 2 finite numbers, got {values!r}")
    fixed = dict(fixed or {})
    if covariate in fixed:
        raise ValueError(f"covariate {covariate!r} varies: it cannot also be fixed")
    table, conditions = _other_covariates(condition, covariate, fixed)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, model.latent_dim, generator=generator)
    measured = []
    for value in values:
        images = model.sample({**table, covariate: value}, z=z)
        measured.append(np.asarray(measure(images.cpu().numpy()), dtype=np.float64))
    sizes = {row.shape for row in measured}
    if sizes != {(conditions * samples,)}:
        raise ValueError(f"measure must return one value per image, got shapes "
                         f"{sorted(sizes)} for {conditions * samples} images")
    means = np.array([row.mean() for row in measured])
    requested = np.repeat(values, [len(row) for row in measured])
    steps = np.diff(means)
    return Response(values=values, measured=means,
                    spread=np.array([row.std() for row in measured]),
                    correlation=_pearson(requested, np.concatenate(measured)),
                    curve_correlation=_pearson(values, means),
                    monotonic=bool(np.all(steps > 0) or np.all(steps < 0)))


def _other_covariates(condition: Any, covariate: str,
                      fixed: Mapping[str, Any]) -> Tuple[dict, int]:
    """Columns of every class combination of the unset categorical covariates, and
    the number of combinations."""
    unset = [item for item in condition.covariates
             if isinstance(item, Categorical) and item.name != covariate
             and item.name not in fixed]
    combinations = list(itertools.product(*[range(item.n_classes) for item in unset]))
    table = {key: np.full(len(combinations), value, dtype=np.float64)
             for key, value in fixed.items()}
    for index, item in enumerate(unset):
        table[item.name] = np.array([row[index] for row in combinations], dtype=np.float64)
    return table, len(combinations)


def _pearson(first: np.ndarray, second: np.ndarray) -> float:
    if np.std(first) == 0 or np.std(second) == 0:
        return float("nan")
    return float(np.corrcoef(first, second)[0, 1])
