"""Random image augmentations of flattened image batches, for pseudo-labelling.

:class:`~pynet_cvae.plugins.cvae.SemiSupervisedCVAE` (``pseudo_labels=True``) labels each
unlabelled image with its classifier's confident guess on a *weak* view (a small
translation) and trains the classifier to give that class on a *strong* view (a
larger translation, a blanked square, a contrast change), as in FixMatch (Sohn et al.
2020). Everything runs on whole batches with tensor operations, on the batch's device,
with torch's global random generator (so a run is reproducible from its seed).
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as func

from ...distributed import batch_draw


def _check_images(images: torch.Tensor, image_shape: Tuple[int, int]) -> None:
    if images.dim() != 2 or images.shape[1] != image_shape[0] * image_shape[1]:
        raise ValueError(f"expected flattened images of shape (batch, "
                         f"{image_shape[0] * image_shape[1]}) for image_shape "
                         f"{tuple(image_shape)}, got {tuple(images.shape)}")


def translate(images: torch.Tensor, image_shape: Tuple[int, int], max_shift: int,
              flip: bool = False) -> torch.Tensor:
    """Shift each image by a random whole number of pixels, filling with zeros.

    Parameters
    ----------
    images : torch.Tensor
        ``(batch, height * width)`` flattened images.
    image_shape : tuple of int
        ``(height, width)``.
    max_shift : int
        Each image moves by up to this many pixels along each axis (uniformly).
    flip : bool, default False
        Also mirror half of the images left to right (for classes that a mirror
        does not change, such as clothes; not for digits).

    Returns
    -------
    torch.Tensor
        The shifted images, same shape.
    """
    _check_images(images, image_shape)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift!r}")
    count, (height, width) = images.shape[0], image_shape
    pictures = images.reshape(count, height, width)
    if flip:
        mirrored = batch_draw(lambda rows: torch.rand(rows, device=images.device),
                              count) < 0.5
        pictures = torch.where(mirrored[:, None, None], pictures.flip(2), pictures)
    if max_shift == 0:
        return pictures.reshape(count, height * width)
    padded = func.pad(pictures, (max_shift,) * 4)
    offsets = batch_draw(lambda rows: torch.randint(0, 2 * max_shift + 1, (2, rows),
                                                    device=images.device), count, dim=1)
    rows = offsets[0][:, None] + torch.arange(height, device=images.device)[None]
    columns = offsets[1][:, None] + torch.arange(width, device=images.device)[None]
    batch = torch.arange(count, device=images.device)[:, None, None]
    return padded[batch, rows[:, :, None], columns[:, None, :]].reshape(count, height * width)


def cutout(images: torch.Tensor, image_shape: Tuple[int, int], size: int) -> torch.Tensor:
    """Blank a ``size`` x ``size`` square at a random place of each image.

    Parameters
    ----------
    images : torch.Tensor
        ``(batch, height * width)`` flattened images.
    image_shape : tuple of int
        ``(height, width)``.
    size : int
        The side of the square (clipped at the borders).

    Returns
    -------
    torch.Tensor
        The images with a zero square each, same shape.
    """
    _check_images(images, image_shape)
    count, (height, width) = images.shape[0], image_shape
    device = images.device
    top = batch_draw(lambda rows: torch.randint(0, height, (rows,), device=device),
                     count) - size // 2
    left = batch_draw(lambda rows: torch.randint(0, width, (rows,), device=device),
                      count) - size // 2
    rows = _inside(torch.arange(height, device=device), top, size)
    columns = _inside(torch.arange(width, device=device), left, size)
    square = rows[:, :, None] & columns[:, None, :]
    return images.masked_fill(square.reshape(count, height * width), 0.0)


def _inside(positions: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """``(batch, len(positions))``: whether each position lies in ``[start, start + size)``."""
    offsets = positions[None] - starts[:, None]
    return (offsets >= 0) & (offsets < size)


def scale_contrast(images: torch.Tensor, low: float = 0.5, high: float = 1.5) -> torch.Tensor:
    """Multiply each image by a random factor in ``[low, high)``, clipped to [0, 1].

    Parameters
    ----------
    images : torch.Tensor
        ``(batch, pixels)`` images in [0, 1].
    low, high : float
        The range of the factors.

    Returns
    -------
    torch.Tensor
    """
    draws = batch_draw(lambda rows: torch.rand(rows, 1, device=images.device),
                       images.shape[0])
    factors = low + (high - low) * draws
    return (images * factors.to(images.dtype)).clamp(0.0, 1.0)


def weak_view(images: torch.Tensor, image_shape: Tuple[int, int],
              flip: bool = False) -> torch.Tensor:
    """A weakly augmented view: a shift of up to 2 pixels on 28-pixel images (scaled
    with the image, at least 1) and a mirror if ``flip``."""
    return translate(images, image_shape, _scaled(2, image_shape), flip)


def strong_view(images: torch.Tensor, image_shape: Tuple[int, int],
                flip: bool = False) -> torch.Tensor:
    """A strongly augmented view: a shift of up to 4 pixels (and a mirror if ``flip``),
    a blanked square of 12 pixels' side on 28-pixel images (scaled with the image) and
    a contrast factor in [0.5, 1.5)."""
    shifted = translate(images, image_shape, _scaled(4, image_shape), flip)
    return scale_contrast(cutout(shifted, image_shape, _scaled(12, image_shape)))


def _scaled(pixels: int, image_shape: Tuple[int, int]) -> int:
    """``pixels`` of a 28-pixel image, in pixels of an image of ``image_shape``."""
    return max(1, round(pixels * min(image_shape) / 28))
