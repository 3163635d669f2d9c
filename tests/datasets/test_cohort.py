"""The synthetic brain cohort: reproducible, laid out as BIDS, and true to its laws."""

import json
import os

import nibabel
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from pynet_cvae.datasets.cohort import fetch_synthetic_cohort, measure_ventricle_volume, \
    ventricle_volume_curve
from pynet_cvae.datasets.participants import load_mask
from pynet_cvae.registry import Fetchers

pytestmark = pytest.mark.slow

N_SUBJECTS = 48


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return fetch_synthetic_cohort(tmp_path_factory.mktemp("cohort"), n_subjects=N_SUBJECTS,
                                  seed=3)


@pytest.fixture(scope="module")
def tables(cohort):
    return (pd.read_csv(cohort.table_path, sep="\t"), pd.read_csv(cohort.truth_path, sep="\t"))


def test_the_cohort_is_the_same_bit_for_bit_for_the_same_seed(cohort, tmp_path):
    again = fetch_synthetic_cohort(tmp_path, n_subjects=N_SUBJECTS, seed=3)
    for name in ("input_path", "metadata_path", "truth_path"):
        with open(getattr(cohort, name), "rb") as first, open(getattr(again, name), "rb") as second:
            assert first.read() == second.read(), name
    other = fetch_synthetic_cohort(tmp_path, n_subjects=N_SUBJECTS, seed=4)
    assert not np.array_equal(np.load(other.input_path), np.load(cohort.input_path))
    stamp = os.stat(again.input_path).st_mtime_ns
    assert fetch_synthetic_cohort(tmp_path, n_subjects=N_SUBJECTS, seed=3) == again
    assert os.stat(again.input_path).st_mtime_ns == stamp  # generated once
    assert Fetchers.get("fetch_synthetic_cohort") is fetch_synthetic_cohort


def test_the_cohort_is_a_bids_folder_with_splits_and_lesion_masks(cohort, tables):
    participants, truth = tables
    assert list(participants.columns) == ["participant_id", "t1", "age", "sex", "site",
                                          "group", "split", "lesion_mask"]
    counts = participants.groupby(["split", "group"]).size().to_dict()
    assert counts == {("train", "control"): 24, ("calibration", "control"): 8,
                      ("test", "control"): 8, ("test", "lesion"): 8}
    images = np.load(cohort.input_path, mmap_mode="r")
    assert images.shape == (N_SUBJECTS, 1, 49, 58, 47)
    first = nibabel.load(os.path.join(cohort.directory, participants["t1"][0]))
    assert first.header.get_zooms() == (4.0, 4.0, 4.0)
    lesions = pd.read_csv(os.path.join(cohort.directory, "lesions.tsv"), sep="\t")
    mask = load_mask(cohort.mask_path)
    for _, row in participants[participants["group"] == "lesion"].iterrows():
        lesion = np.asarray(nibabel.load(os.path.join(cohort.directory,
                                                      row["lesion_mask"])).dataobj) > 0
        assert lesion.any() and mask[lesion].all()
        listed = lesions[lesions["participant_id"] == row["participant_id"]]
        assert 1 <= len(listed) <= 3
        true = truth.set_index("participant_id").loc[row["participant_id"]]
        assert true["n_lesions"] == len(listed)
        assert true["lesion_volume_ml"] == pytest.approx(lesion.sum() * 64 / 1000, rel=0.5)
    assert participants.loc[participants["group"] == "control", "lesion_mask"].isna().all()
    described = json.loads(open(os.path.join(cohort.directory, "cohort.json")).read())
    assert described["seed"] == 3 and len(described["sites"]) == 3


def test_ventricles_widen_grey_matter_thins_and_brains_shrink_with_age(tables):
    participants, truth = tables
    age = participants["age"]
    assert spearmanr(age, truth["ventricle_volume_ml"]).statistic > 0.85
    grey_fraction = truth["grey_matter_volume_ml"] / truth["brain_volume_ml"]
    assert spearmanr(age, grey_fraction).statistic < -0.8  # whatever the head's size
    design = np.column_stack([np.ones(len(age)), age, participants["sex"] == "M"])
    slope, male = np.linalg.lstsq(design, truth["brain_volume_ml"], rcond=None)[0][1:]
    assert slope < 0 and male > 0  # older brains are smaller, men's larger


def test_the_law_is_nonlinear_and_the_images_show_it(cohort, tables):
    participants, truth = tables
    curve = ventricle_volume_curve([20, 50, 80])
    assert curve[2] - curve[1] > 2 * (curve[1] - curve[0]) > 0  # accelerating
    template = nibabel.load(os.path.join(cohort.directory, "template_ventricles.nii.gz"))
    measured = measure_ventricle_volume(np.load(cohort.input_path, mmap_mode="r"),
                                        template.get_fdata(), load_mask(cohort.mask_path),
                                        voxel_volume=64.0)
    assert spearmanr(participants["age"], measured).statistic > 0.6
    assert np.corrcoef(measured, truth["ventricle_volume_ml"])[0, 1] > 0.7


def test_each_site_scales_the_intensities_its_own_way(cohort, tables):
    participants, _ = tables
    described = json.loads(open(os.path.join(cohort.directory, "cohort.json")).read())
    scales = {site["name"]: site["intensity_scale"] for site in described["sites"]}
    images = np.load(cohort.input_path, mmap_mode="r")
    mask = load_mask(cohort.mask_path)
    medians = participants.assign(level=[np.median(image[0][mask]) for image in images]) \
        .groupby("site")["level"].mean()
    assert list(medians.sort_values().index) == sorted(scales, key=scales.get)


@pytest.mark.parametrize("arguments, message", [
    ({"n_subjects": 6}, "n_subjects 6"), ({"n_sites": 0}, "n_sites 0"),
    ({"voxel_size": -4}, "voxel_size -4"), ({"lesion_radius_mm": (9, 3)}, "lesion_radius_mm"),
])
def test_bad_arguments_are_named(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        fetch_synthetic_cohort(tmp_path, **arguments)
