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
