"""A small synthetic cohort shared by the normative tests (generated once)."""

import pytest

from pynet_cvae.datasets.cohort import fetch_synthetic_cohort
from pynet_cvae.normative import NormativeData


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory):
    """60 subjects at 4 mm: 30 train, 10 calibration, 10 healthy and 10 lesioned test."""
    return fetch_synthetic_cohort(tmp_path_factory.mktemp("normative-cohort"),
                                  n_subjects=60, seed=1)


@pytest.fixture(scope="session")
def small_data(small_cohort):
    return NormativeData.from_item(small_cohort)


@pytest.fixture(scope="session")
def coarse_cohort(tmp_path_factory):
    """36 subjects at 8 mm (25 x 29 x 24 voxels), for the CVAE: 18 train, 6 calibration,
    6 healthy and 6 lesioned test."""
    return fetch_synthetic_cohort(tmp_path_factory.mktemp("coarse-cohort"), n_subjects=36,
                                  voxel_size=8.0, seed=2)


@pytest.fixture(scope="session")
def coarse_data(coarse_cohort):
    return NormativeData.from_item(coarse_cohort)
