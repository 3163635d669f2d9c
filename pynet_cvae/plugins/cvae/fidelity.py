"""How close generated images lie to real ones, measured in a feature space.

The field scores a generator by comparing the distribution of its images with that of
real images in the feature space of a classifier (here the judge's penultimate layer,
:meth:`~pynet_cvae.plugins.cvae.judge.JudgeCNN.embed`):

:func:`frechet_distance`
    The Fréchet distance between the Gaussians fitted to the two sets of features
    (Heusel et al. 2017's FID, in the judge's space rather than Inception's):
    ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2)``. 0 for equal
    distributions; it grows with a shift of the mean and with a loss of variety.
:func:`precision_recall`
    Kynkäänniemi et al. (2019)'s improved precision and recall: each set's manifold is
    the union of balls around its points reaching their ``k``-th nearest neighbour;
    precision is the fraction of generated points inside the real manifold (fidelity),
    recall the fraction of real points inside the generated one (variety).

Distances are computed by blocks, so that memory stays bounded by
:data:`DISTANCE_BLOCK` distances whatever the number of images.
"""

from __future__ import annotations

from typing import Dict, Iterator, Tuple, Union

import numpy as np
import torch

__all__ = ["frechet_distance", "precision_recall", "DISTANCE_BLOCK"]

Features = Union[np.ndarray, torch.Tensor]

#: The most pairwise distances held at once (2**24 float64: 128 MiB).
DISTANCE_BLOCK = 2 ** 24


def frechet_distance(real: Features, generated: Features) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features.

    Parameters
    ----------
    real, generated : numpy.ndarray or torch.Tensor
        ``(n, d)`` and ``(m, d)`` features, at least 2 rows each.

    Returns
    -------
    float
        ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2)``, >= 0.

    Raises
    ------
    ValueError
        If the sets are not 2-D with the same width and at least 2 rows, or hold a
        non-finite value.
    """
    real, generated = _checked_pair(real, generated, minimum_rows=2)
    mean_gap = real.mean(axis=0) - generated.mean(axis=0)
    real_covariance = np.atleast_2d(np.cov(real, rowvar=False))
    generated_covariance = np.atleast_2d(np.cov(generated, rowvar=False))
    # (S_r^1/2 S_g S_r^1/2) is symmetric positive semi-definite: its square root's trace
    # is the sum of the square roots of its eigenvalues, exactly and without the
    # complex round-off of a general matrix square root
    root = _symmetric_sqrt(real_covariance)
    cross = np.linalg.eigvalsh(root @ generated_covariance @ root)
    trace = np.trace(real_covariance) + np.trace(generated_covariance) \
        - 2.0 * np.sqrt(np.clip(cross, 0.0, None)).sum()
    return float(max(0.0, mean_gap @ mean_gap + trace))


def precision_recall(real: Features, generated: Features, k: int = 3) -> Dict[str, float]:
    """Kynkäänniemi et al. (2019)'s precision and recall of generated features.

    Parameters
    ----------
    real, generated : numpy.ndarray or torch.Tensor
        ``(n, d)`` and ``(m, d)`` features, more than ``k`` rows each.
    k : int, default 3
        The neighbour whose distance is a point's radius (the paper's choice).

    Returns
    -------
    dict
        ``precision`` (generated points within the real manifold) and ``recall``
        (real points within the generated manifold), each in [0, 1].

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1 or a set has ``k`` rows or fewer.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    real, generated = _checked_pair(real, generated, minimum_rows=k + 1)
    real_t, generated_t = torch.from_numpy(real), torch.from_numpy(generated)
    real_radii, generated_radii = _radii(real_t, k), _radii(generated_t, k)
    return {"precision": _covered(generated_t, real_t, real_radii),
            "recall": _covered(real_t, generated_t, generated_radii)}


def _radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its ``k``-th nearest other point of the set."""
    radii = []
    for _, distances in _distance_blocks(points, points):
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """The fraction of ``points`` within a ball ``(centre, radius)``."""
    inside = 0
    for _, distances in _distance_blocks(points, centres):
        inside += int((distances <= radii[None, :]).any(dim=1).sum())
    return inside / len(points)


def _distance_blocks(rows: torch.Tensor, columns: torch.Tensor
                     ) -> Iterator[Tuple[int, torch.Tensor]]:
    """Yield ``(start, distances of rows[start:start + b] to every column)``."""
    block = max(1, DISTANCE_BLOCK // max(1, len(columns)))
    for start in range(0, len(rows), block):
        yield start, torch.cdist(rows[start:start + block], columns)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _checked_pair(real: Features, generated: Features, minimum_rows: int
                  ) -> Tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, features in (("real", real), ("generated", generated)):
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or len(features) < minimum_rows:
            raise ValueError(f"{name} features must be (rows, width) with at least "
                             f"{minimum_rows} rows, got shape {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError(f"{name} features hold a non-finite value")
        arrays.append(features)
    if arrays[0].shape[1] != arrays[1].shape[1]:
        raise ValueError(f"real and generated features differ in width: "
                         f"{arrays[0].shape[1]} != {arrays[1].shape[1]}")
    return arrays[0], arrays[1]
