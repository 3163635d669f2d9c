"""The data layer: the DataManager, the fetchers and ready-made transforms."""

from .cifar import CifarItem, fetch_cifar
from .fetchers import Item, fetch_digits, fetch_fashion_mnist, fetch_minst, fetch_mnist
from .manager import DataItem, DataManager, Loaders
from .nifti import NiftiItem, NiftiReference, fetch_nifti, write_nifti
from .participants import ParticipantsItem, fetch_participants
from .cohort import CohortItem, fetch_synthetic_cohort
from .synthetic import fetch_thick_digits
from .transforms import Flatten, Standardize, batched

__all__ = [
    "DataManager", "DataItem", "Loaders",
    "Item", "fetch_minst", "fetch_mnist", "fetch_fashion_mnist", "fetch_digits",
    "CifarItem", "fetch_cifar", "fetch_thick_digits",
    "NiftiItem", "NiftiReference", "fetch_nifti", "write_nifti",
    "ParticipantsItem", "fetch_participants", "CohortItem", "fetch_synthetic_cohort",
    "Flatten", "Standardize", "batched",
]
