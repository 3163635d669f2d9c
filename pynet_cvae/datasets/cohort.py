"""A synthetic brain cohort with known truth, made offline from the MNI152 template.

:func:`fetch_synthetic_cohort` draws ``n_subjects`` brains whose anatomy follows the
documented laws of :mod:`~pynet_cvae.datasets.cohort_laws` (ventricles widen, grey
matter thins and the brain shrinks with age, men's brains are larger, each brain has
its own size and smooth deformation), each scanned at one of ``n_sites`` sites that
change its intensity scale, bias field, blur and noise. Ages are uniform in
[20, 85], sex and site are drawn with equal chances. The subjects fall in four
groups, in this order of ``participant_id``: half are healthy ``train`` subjects,
a sixth healthy ``calibration`` subjects, a sixth healthy ``test`` subjects and a
sixth ``test`` subjects with one to three simulated lesions (ellipsoids of radius
``lesion_radius_mm``, in white matter, darker than grey matter). The folder is laid
out as a BIDS data set:

- ``participants.tsv``: ``participant_id``, ``t1`` (the image's path), ``age``,
  ``sex``, ``site``, ``group`` (``control`` or ``lesion``), ``split`` and
  ``lesion_mask`` (the lesion mask's path, empty for controls);
- ``sub-XXX/anat/sub-XXX_T1w.nii.gz``: the images, in MNI space;
- ``derivatives/lesions/sub-XXX_lesion.nii.gz``: the lesion masks (voxels at least
  half filled by a lesion);
- ``ground_truth.tsv``: per subject the ventricle, grey-matter, brain and lesion
  volumes (ml) measured on the subject's own tissue maps, and its number of lesions;
- ``lesions.tsv``: each lesion's centre (mm), radii (mm) and volume (ml);
- ``template_t1.nii.gz`` and ``template_ventricles.nii.gz``: the template on the
  cohort's grid (a background for figures, and where ventricles are measured);
- ``cohort.json``: the parameters, the laws and each site's effects.

The participants table then goes through
:func:`~pynet_cvae.datasets.participants.fetch_participants`, which makes the
memory-mapped data set and the brain mask. Everything derives from ``seed``: the same
arguments give the same files, bit for bit. nilearn is needed for the template.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..fileio import atomic_path
from ..registry import Fetchers
from .brain_template import BrainTemplate, load_mni152
from .cohort_laws import TISSUE_INTENSITIES, AgeingLaw, Anatomy, TemplateSampler, \
    apply_site, random_sites, render_t1, simulate_anatomy
from .fetchers import PathLike, default_data_dir
from .participants import fetch_participants

logger = logging.getLogger("pynet_cvae")

__all__ = ["CohortItem", "fetch_synthetic_cohort", "measure_ventricle_volume",
           "ventricle_volume_curve"]

#: What :func:`fetch_synthetic_cohort` returns: the data set's files
#: (:func:`~pynet_cvae.datasets.participants.fetch_participants`), then the
#: participants table, the ground truth and the cohort's folder.
CohortItem = namedtuple("CohortItem", ["input_path", "output_path", "metadata_path",
                                       "reference_path", "mask_path", "table_path",
                                       "truth_path", "directory"])

_FORMAT = 1  # bump when the generated files change for the same arguments
_AGE_RANGE = (20.0, 85.0)
_LESION_COUNT = (1, 3)


def _groups(n_subjects: int) -> List[Tuple[str, str]]:
    """``(group, split)`` of each subject, in order: see the module's description."""
    sixth = n_subjects // 6
    sizes = {("control", "train"): n_subjects - 3 * sixth, ("control", "calibration"): sixth,
             ("control", "test"): sixth, ("lesion", "test"): sixth}
    return [key for key, size in sizes.items() for _ in range(size)]


def _lesions(anatomy: Anatomy, template: BrainTemplate, count: int,
             radius_mm: Tuple[float, float], rng: np.random.Generator,
             supersampling: int = 4) -> List[Dict[str, float]]:
    """Put ``count`` ellipsoidal lesions into the anatomy's white matter, in place."""
    from scipy import ndimage

    grid = template.grid
    sizes = np.array(grid.voxel_sizes)
    brain = (anatomy.grey_matter + anatomy.white_matter + anatomy.csf) >= 0.5
    depth_mm = ndimage.distance_transform_edt(brain, sampling=sizes)
    fraction = np.zeros(grid.shape, dtype=np.float64)
    offsets = (np.arange(supersampling) + 0.5) / supersampling - 0.5
    lesions = []
    for _ in range(count):
        radii = rng.uniform(*radius_mm) * rng.uniform(0.75, 1.25, 3)
        candidates = np.argwhere((anatomy.white_matter >= 0.8) & (depth_mm > radii.max() + 4))
        if not len(candidates):
            raise ValueError(f"no white matter deep enough for a lesion of radii {radii} mm")
        centre_index = candidates[rng.integers(len(candidates))] + rng.uniform(-0.5, 0.5, 3)
        reach = np.ceil(radii / sizes).astype(int) + 1
        low = np.maximum(np.floor(centre_index).astype(int) - reach, 0)
        high = np.minimum(np.floor(centre_index).astype(int) + reach + 1, grid.shape)
        box = np.indices(high - low).reshape(3, -1).T + low
        sub = box[:, None, :] + np.stack(np.meshgrid(offsets, offsets, offsets,
                                                     indexing="ij"), -1).reshape(1, -1, 3)
        inside = ((((sub - centre_index) * sizes / radii) ** 2).sum(-1) <= 1).mean(1)
        local = fraction[tuple(box.T)]
        fraction[tuple(box.T)] = np.maximum(local, inside)
        centre_mm = grid.affine[:3, :3] @ centre_index + grid.affine[:3, 3]
        lesions.append({"x_mm": centre_mm[0], "y_mm": centre_mm[1], "z_mm": centre_mm[2],
                        "radius_x_mm": radii[0], "radius_y_mm": radii[1],
                        "radius_z_mm": radii[2],
                        "volume_ml": float(inside.sum() * grid.voxel_volume / 1000)})
    kept = (1.0 - fraction).astype(np.float32)
    for name in ("grey_matter", "white_matter", "csf", "ventricles"):
        setattr(anatomy, name, getattr(anatomy, name) * kept)
    anatomy.lesion = fraction.astype(np.float32)
    return lesions


def _save_image(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    # Not atomic one by one: cohort.json, written last, marks the whole folder complete.
    import nibabel

    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(data, affine), path)


def _parameters(n_subjects, voxel_size, n_sites, seed, law, lesion_radius_mm) -> dict:
    return {"format": _FORMAT, "n_subjects": n_subjects, "voxel_size": float(voxel_size),
            "n_sites": n_sites, "seed": seed, "law": law.as_dict(),
            "lesion_radius_mm": list(lesion_radius_mm), "tissue_intensities":
            TISSUE_INTENSITIES, "age_range": list(_AGE_RANGE)}


def _generate(directory: Path, parameters: dict, law: AgeingLaw,
              template: BrainTemplate) -> None:
    rng = np.random.default_rng(parameters["seed"])
    sites = random_sites(parameters["n_sites"], rng)
    sampler = TemplateSampler(template, law)
    affine = template.grid.affine
    rows, truth, lesion_rows = [], [], []
    for index, (group, split) in enumerate(_groups(parameters["n_subjects"])):
        subject = f"sub-{index + 1:03d}"
        subject_rng = np.random.default_rng([parameters["seed"], index])
        age = float(np.round(subject_rng.uniform(*_AGE_RANGE), 1))
        sex = "M" if subject_rng.random() < 0.5 else "F"
        site = sites[int(subject_rng.integers(len(sites)))]
        anatomy = simulate_anatomy(sampler, age, sex, subject_rng)
        mask_path, count = "", 0
        if group == "lesion":
            count = int(subject_rng.integers(_LESION_COUNT[0], _LESION_COUNT[1] + 1))
            for number, lesion in enumerate(_lesions(
                    anatomy, template, count, tuple(parameters["lesion_radius_mm"]),
                    subject_rng)):
                lesion_rows.append({"participant_id": subject, "lesion": number + 1, **lesion})
            mask_path = f"derivatives/lesions/{subject}_lesion.nii.gz"
            _save_image((anatomy.lesion >= 0.5).astype(np.uint8), affine, directory / mask_path)
        brain = (anatomy.grey_matter + anatomy.white_matter + anatomy.csf
                 + anatomy.lesion) >= 0.5
        image = apply_site(render_t1(anatomy), brain, site, template.grid.voxel_sizes,
                           subject_rng)
        t1_path = f"{subject}/anat/{subject}_T1w.nii.gz"
        _save_image(image, affine, directory / t1_path)
        rows.append({"participant_id": subject, "t1": t1_path, "age": age, "sex": sex,
                     "site": site.name, "group": group, "split": split,
                     "lesion_mask": mask_path})
        truth.append({"participant_id": subject, **anatomy.volumes_ml(
            template.grid.voxel_volume), "n_lesions": count})
    _save_image(template.t1, affine, directory / "template_t1.nii.gz")
    _save_image(template.ventricles, affine, directory / "template_ventricles.nii.gz")
    for name, table in (("lesions.tsv", pd.DataFrame(lesion_rows, columns=[
            "participant_id", "lesion", "x_mm", "y_mm", "z_mm", "radius_x_mm",
            "radius_y_mm", "radius_z_mm", "volume_ml"])),
            ("ground_truth.tsv", pd.DataFrame(truth)),
            ("participants.tsv", pd.DataFrame(rows))):
        table.to_csv(directory / name, sep="\t", index=False, float_format="%.6g")
    described = dict(parameters, sites=[vars(site) for site in sites])
    with atomic_path(directory / "cohort.json") as temporary:  # last: marks completion
        Path(temporary).write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")


def _is_generated(directory: Path, parameters: dict) -> bool:
    try:
        described = json.loads((directory / "cohort.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return {key: described.get(key) for key in parameters} == json.loads(
        json.dumps(parameters))


@Fetchers.register
def fetch_synthetic_cohort(datasetdir: Optional[PathLike] = None, n_subjects: int = 240,
                           voxel_size: float = 4.0, n_sites: int = 3, seed: int = 0,
                           law: Optional[AgeingLaw] = None,
                           lesion_radius_mm: Tuple[float, float] = (5.0, 10.0)) -> CohortItem:
    """Generate, once, a synthetic brain cohort with known truth (see the module).

    Parameters
    ----------
    datasetdir : str or path-like, optional
        Where the cohort's folder (``cohort_n<N>_<size>mm_seed<seed>``) is made; by
        default :func:`~pynet_cvae.datasets.fetchers.default_data_dir`
        ``("synthetic_cohort")``.
    n_subjects : int
        The number of subjects (at least 12).
    voxel_size : float
        The isotropic voxel size in mm (4 mm: 49 x 58 x 47 voxels).
    n_sites : int
        The number of acquisition sites (at least 1).
    seed : int
        The seed of every random choice.
    law : AgeingLaw, optional
        The ageing law (default :class:`~pynet_cvae.datasets.cohort_laws.AgeingLaw`).
    lesion_radius_mm : (float, float)
        The range of the lesions' mean radius.

    Returns
    -------
    CohortItem
        The data set's files (``input_path``, ``output_path=None``,
        ``metadata_path``, ``reference_path``, ``mask_path``), ``table_path`` (the
        participants table), ``truth_path`` (``ground_truth.tsv``) and ``directory``.
    """
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or n_subjects < 12:
        raise ValueError(f"n_subjects {n_subjects!r} is invalid: expected an int >= 12 (a "
                         "sixth of them in each held-out group)")
    if isinstance(n_sites, bool) or not isinstance(n_sites, int) or n_sites < 1:
        raise ValueError(f"n_sites {n_sites!r} is invalid: expected an int >= 1")
    if not np.isscalar(voxel_size) or not float(voxel_size) > 0:
        raise ValueError(f"voxel_size {voxel_size!r} is invalid: expected one size in mm > 0")
    low, high = (float(value) for value in lesion_radius_mm)
    if not 0 < low <= high:
        raise ValueError(f"lesion_radius_mm {lesion_radius_mm!r} is invalid: expected "
                         "(low, high) with 0 < low <= high")
    law = law or AgeingLaw()
    parameters = _parameters(n_subjects, voxel_size, n_sites, int(seed), law, (low, high))
    root = Path(datasetdir).expanduser() if datasetdir else default_data_dir("synthetic_cohort")
    directory = root / f"cohort_n{n_subjects}_{float(voxel_size):g}mm_seed{int(seed)}"
    if not _is_generated(directory, parameters):
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        logger.info("generating a synthetic cohort of %d subjects in %s", n_subjects,
                    directory)
        _generate(directory, parameters, law, load_mni152(voxel_size))
    table = directory / "participants.tsv"
    item = fetch_participants(table, image_column="t1", covariates=["age", "sex", "site"],
                              categorical=["sex", "site"])
    return CohortItem(*item, table_path=str(table),
                      truth_path=str(directory / "ground_truth.tsv"),
                      directory=str(directory))


def measure_ventricle_volume(images: np.ndarray, template_ventricles: np.ndarray,
                             brain_mask: np.ndarray, voxel_volume: float,
                             search_mm: float = 8.0, voxel_sizes: Tuple[float, ...] = (4, 4, 4),
                             ) -> np.ndarray:
    """Measure the lateral ventricles' volume (ml) on images of the cohort's grid.

    Each image is divided by its median inside ``brain_mask`` (which removes the
    site's intensity scale); voxels within ``search_mm`` of the template's
    ventricles and darker than midway between fluid and grey matter count as
    ventricle. This sees only the images, so it measures generated brains too.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, X, Y, Z)`` (or ``(N, 1, X, Y, Z)``) images.
    template_ventricles : numpy.ndarray
        The template's ventricle fraction map on the same grid.
    brain_mask : numpy.ndarray
        The data set's brain mask.
    voxel_volume : float
        mm^3 per voxel.
    search_mm : float
        How far from the template's ventricles they may have grown.
    voxel_sizes : tuple of float
        The grid's voxel sizes (mm), for ``search_mm``.

    Returns
    -------
    numpy.ndarray
        One volume per image, in ml.
    """
    from scipy import ndimage

    images = np.asarray(images, dtype=np.float32)
    images = images.reshape((len(images),) + np.shape(brain_mask))
    outside = ndimage.distance_transform_edt(template_ventricles < 0.5, sampling=voxel_sizes)
    region = (outside <= search_mm) & brain_mask
    intensities = TISSUE_INTENSITIES
    reference = np.median(images[:, brain_mask], axis=1)  # a brain's median: grey-white
    median_tissue = (intensities["grey_matter"] + intensities["white_matter"]) / 2
    threshold = (intensities["csf"] + intensities["grey_matter"]) / 2 / median_tissue
    dark = images[:, region] < threshold * reference[:, None]
    return dark.sum(axis=1) * voxel_volume / 1000.0


def ventricle_volume_curve(ages, sex: str = "F", voxel_size: float = 4.0,
                           law: Optional[AgeingLaw] = None,
                           template: Optional[BrainTemplate] = None) -> np.ndarray:
    """The ground-truth curve: the ventricle volume (ml) of the template at each age.

    The template is aged by ``law`` (no individual size or deformation) and its
    ventricle fraction map summed, which is how ``ground_truth.tsv`` measures each
    subject.

    Parameters
    ----------
    ages : float or sequence of float
        The ages.
    sex : {"F", "M"}
        The sex (it scales the brain's size).
    voxel_size : float
        The grid's voxel size (mm): that of the cohort.
    law : AgeingLaw, optional
        The cohort's law (default :class:`~pynet_cvae.datasets.cohort_laws.AgeingLaw`).
    template : BrainTemplate, optional
        The template on the grid (default :func:`~pynet_cvae.datasets.brain_template.load_mni152`).

    Returns
    -------
    numpy.ndarray
        One volume (ml) per age.
    """
    law = law or AgeingLaw()
    plain = AgeingLaw(**{**law.as_dict(), "size_jitter": 0.0, "deformation_mm": 0.0})
    template = template or load_mni152(voxel_size)
    sampler = TemplateSampler(template, plain)
    rng = np.random.default_rng(0)
    return np.array([simulate_anatomy(sampler, float(age), sex, rng).volumes_ml(
        template.grid.voxel_volume)["ventricle_volume_ml"] for age in np.atleast_1d(ages)])

