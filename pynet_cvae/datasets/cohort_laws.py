"""The laws of the synthetic cohort: how anatomy changes with age and sex, how sites
distort images, and how one brain is drawn from them.

Every subject starts from the MNI152 template's tissue fractions
(:mod:`~pynet_cvae.datasets.brain_template`). With the ageing index
``d(age) = (max(age - 20, 0) / 60) ** 2`` (0 at 20 years, 1 at 80, accelerating):

- the lateral ventricles widen: the tissue around them is pushed away by
  ``ventricle_push_mm * d`` millimetres at their walls (a displacement along the
  gradient of the smoothed ventricle map), which multiplies their volume by about 2.5
  between 20 and 80 years;
- grey matter thins: a fraction ``grey_matter_loss * d`` of it becomes fluid;
- the brain shrinks: its size is scaled by ``1 - brain_shrink * d`` about its centre.

Sex scales the size by ``1 +/- sex_scale / 2`` (male larger); each subject gets a
random size factor (standard deviation ``size_jitter``) and a smooth random
deformation (Gaussian-smoothed noise, ``deformation_mm`` root mean square, over
``deformation_smoothness_mm``). The image is the tissue fractions weighted by T1-like
intensities (white matter 1, grey matter 0.65, fluid 0.25, lesion 0.35). A site then
multiplies it by its intensity scale and a smooth bias field, blurs it by its point
spread (full width at half maximum in mm) and adds its Gaussian noise inside the
brain. The ground truth (ventricle, grey-matter and brain volumes) is measured on the
subject's own fraction maps before the site's distortions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .brain_template import BrainTemplate

__all__ = ["AgeingLaw", "SiteEffects", "ageing_index", "random_sites", "Anatomy",
           "TemplateSampler", "simulate_anatomy", "render_t1", "apply_site", "TISSUE_INTENSITIES"]

#: T1-like intensity of each tissue (white matter is the reference).
TISSUE_INTENSITIES = {"white_matter": 1.0, "grey_matter": 0.65, "csf": 0.25, "lesion": 0.35}


def ageing_index(age) -> np.ndarray:
    """``d(age) = (max(age - 20, 0) / 60) ** 2``: 0 at 20 years, 1 at 80."""
    return (np.maximum(np.asarray(age, dtype=np.float64) - 20.0, 0.0) / 60.0) ** 2


@dataclass(frozen=True)
class AgeingLaw:
    """How anatomy depends on age and sex (see the module's description)."""

    ventricle_push_mm: float = 8.0
    grey_matter_loss: float = 0.2
    brain_shrink: float = 0.04
    sex_scale: float = 0.05
    size_jitter: float = 0.02
    deformation_mm: float = 1.5
    deformation_smoothness_mm: float = 10.0

    def size(self, age: float, sex: str) -> float:
        """The brain's linear size relative to the template (before individual jitter)."""
        sex_factor = 1 + self.sex_scale / 2 if sex == "M" else 1 - self.sex_scale / 2
        return float((1 - self.brain_shrink * ageing_index(age)) * sex_factor)

    def as_dict(self) -> Dict[str, float]:
        """The law's parameters."""
        return asdict(self)


@dataclass(frozen=True)
class SiteEffects:
    """How one acquisition site distorts images.

    Attributes
    ----------
    name : str
        The site's label in the participants table.
    intensity_scale : float
        Multiplies every intensity.
    bias : tuple of float
        Coefficients of the bias field ``exp(b . (x, y, z, x^2, y^2, z^2, xy, xz, yz))``
        over coordinates scaled to [-1, 1] on the grid.
    noise : float
        Standard deviation of the Gaussian noise inside the brain (white matter = 1).
    fwhm_mm : float
        Full width at half maximum of the site's Gaussian point spread.
    """

    name: str
    intensity_scale: float
    bias: Tuple[float, ...]
    noise: float
    fwhm_mm: float


def random_sites(count: int, rng: np.random.Generator) -> Tuple[SiteEffects, ...]:
    """``count`` sites with intensity scales in [0.8, 1.2], bias coefficients of
    standard deviation 0.08, noise in [0.02, 0.05] and blurs of 2 to 6 mm."""
    return tuple(SiteEffects(name=f"site{index + 1}",
                             intensity_scale=float(rng.uniform(0.8, 1.2)),
                             bias=tuple(float(value) for value in rng.normal(0, 0.08, 9)),
                             noise=float(rng.uniform(0.02, 0.05)),
                             fwhm_mm=float(rng.uniform(2.0, 6.0)))
                 for index in range(count))


@dataclass
class Anatomy:
    """One subject's tissue fraction maps on the template's grid."""

    grey_matter: np.ndarray
    white_matter: np.ndarray
    csf: np.ndarray
    ventricles: np.ndarray
    lesion: np.ndarray

    def volumes_ml(self, voxel_volume: float) -> Dict[str, float]:
        """Ventricle, grey-matter, brain and lesion volumes in ml."""
        def volume(fraction):
            return float(fraction.sum(dtype=np.float64) * voxel_volume / 1000.0)

        return {"ventricle_volume_ml": volume(self.ventricles),
                "grey_matter_volume_ml": volume(self.grey_matter),
                "brain_volume_ml": volume(self.grey_matter + self.white_matter + self.csf
                                          + self.lesion),
                "lesion_volume_ml": volume(self.lesion)}


def _world_coordinates(template: BrainTemplate, voxels: np.ndarray) -> np.ndarray:
    """World millimetres ``(3, M)`` of voxel indices ``(M, 3)``."""
    return template.grid.affine[:3, :3] @ voxels.T + template.grid.affine[:3, 3:4]


class TemplateSampler:
    """Draws subjects' tissue maps from a template: what every subject shares.

    Only the voxels where a brain may reach (the template's brain grown by
    :attr:`MARGIN_MM`) are computed; the ventricle push (the gradient of the
    template's ventricle map smoothed over 6 mm, scaled to 1 at its largest) is
    precomputed there.
    """

    #: How far (mm) beyond the template's brain a subject's brain may reach.
    MARGIN_MM = 8.0

    def __init__(self, template: BrainTemplate, law: AgeingLaw):
        from scipy import ndimage

        self.template, self.law = template, law
        sizes = np.array(template.grid.voxel_sizes)
        outside_mm = ndimage.distance_transform_edt(~template.brain_mask, sampling=sizes)
        self.region = outside_mm <= self.MARGIN_MM
        voxels = np.argwhere(self.region)
        self.points = _world_coordinates(template, voxels)
        self.centre = _world_coordinates(template, np.argwhere(template.brain_mask)).mean(
            axis=1, keepdims=True)
        smooth = ndimage.gaussian_filter(template.ventricles.astype(np.float64), 6.0 / sizes)
        # d/d(world) = inverse(linear part) transposed, applied to d/d(voxel index).
        to_world = np.linalg.inv(template.grid.affine[:3, :3]).T
        gradient = np.einsum("ij,j...->i...", to_world, np.stack(np.gradient(smooth)))
        push = gradient[(slice(None),) + tuple(voxels.T)]
        self.push = push / max(float(np.linalg.norm(push, axis=0).max()), 1e-12)
        self.to_voxels = np.linalg.inv(template.grid.affine)
        # The deformation's control points: a coarse grid over the field of view.
        spacing = law.deformation_smoothness_mm
        low, high = self.points.min(axis=1), self.points.max(axis=1)
        self._coarse_shape = tuple(int(size) for size in np.ceil((high - low) / spacing) + 5)
        self._coarse_points = (self.points - low[:, None]) / spacing + 2

    def deformation(self, rng: np.random.Generator) -> np.ndarray:
        """A smooth random displacement ``(3, M)`` of ``deformation_mm`` root mean square:
        white noise on control points ``deformation_smoothness_mm`` apart, smoothed over
        one control point (Gaussian) and interpolated trilinearly."""
        from scipy import ndimage

        noise = rng.standard_normal((3,) + self._coarse_shape)
        field = np.stack([ndimage.map_coordinates(
            ndimage.gaussian_filter(component, 1.0, mode="wrap"), self._coarse_points,
            order=1) for component in noise])
        scale = np.sqrt(np.mean(np.sum(field ** 2, axis=0)))
        return field * (self.law.deformation_mm / max(scale, 1e-12))

    def sample(self, volume: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``volume``'s trilinear values at world points ``(3, M)``, scattered onto the
        grid (zero outside :attr:`region`)."""
        from scipy import ndimage

        voxels = self.to_voxels[:3, :3] @ points + self.to_voxels[:3, 3:4]
        full = np.zeros(self.template.grid.shape, dtype=np.float32)
        full[self.region] = ndimage.map_coordinates(volume, voxels, order=1, mode="constant",
                                                    cval=0.0)
        return full


def simulate_anatomy(sampler: TemplateSampler, age: float, sex: str,
                     rng: np.random.Generator) -> Anatomy:
    """One subject's tissue fractions: the ageing law, sex, size and deformation."""
    template, law = sampler.template, sampler.law
    size = law.size(age, sex) * float(np.exp(rng.normal(0.0, law.size_jitter)))
    index = float(ageing_index(age))
    source = (sampler.centre + (sampler.points - sampler.centre) / size
              + law.ventricle_push_mm * index * sampler.push)
    if law.deformation_mm > 0:
        source = source + sampler.deformation(rng)
    grey, white, csf, ventricles = (sampler.sample(volume, source) for volume in (
        template.grey_matter, template.white_matter, template.csf, template.ventricles))
    lost = grey * np.float32(law.grey_matter_loss * index)
    return Anatomy(grey - lost, white, csf + lost, ventricles,
                   np.zeros(template.grid.shape, np.float32))


def render_t1(anatomy: Anatomy) -> np.ndarray:
    """The noiseless T1-like image of an anatomy."""
    weights = TISSUE_INTENSITIES
    return (weights["grey_matter"] * anatomy.grey_matter
            + weights["white_matter"] * anatomy.white_matter + weights["csf"] * anatomy.csf
            + weights["lesion"] * anatomy.lesion).astype(np.float32)


def _bias_field(shape: Tuple[int, ...], coefficients: Tuple[float, ...]) -> np.ndarray:
    x, y, z = (np.linspace(-1.0, 1.0, size).reshape([-1 if axis == dimension else 1
                                                     for dimension in range(3)])
               for axis, size in enumerate(shape))
    terms = (x, y, z, x ** 2, y ** 2, z ** 2, x * y, x * z, y * z)
    return np.exp(sum(coefficient * term for coefficient, term in zip(coefficients, terms)))


def apply_site(image: np.ndarray, brain: np.ndarray, site: SiteEffects,
               voxel_sizes: Tuple[float, ...], rng: np.random.Generator,
               bias_jitter: Optional[float] = 0.02) -> np.ndarray:
    """The image as scanned at ``site``: scale, bias field, blur, then noise in ``brain``.

    ``bias_jitter`` adds a subject's own small variation (standard deviation) to each
    bias coefficient.
    """
    from scipy import ndimage

    coefficients = np.asarray(site.bias) + (rng.normal(0, bias_jitter, len(site.bias))
                                            if bias_jitter else 0.0)
    scanned = image * site.intensity_scale * _bias_field(image.shape, tuple(coefficients))
    sigma = site.fwhm_mm / (2 * math.sqrt(2 * math.log(2))) / np.array(voxel_sizes)
    scanned = ndimage.gaussian_filter(scanned, sigma, mode="constant")
    scanned = scanned + site.noise * rng.standard_normal(image.shape)
    return np.where(brain, scanned, 0.0).astype(np.float32)
