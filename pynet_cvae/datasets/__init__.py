"""The data layer: the DataManager, the fetchers and ready-made transforms."""

from .fetchers import Item, fetch_digits, fetch_fashion_mnist, fetch_minst, fetch_mnist
from .manager import DataItem, DataManager, Loaders
from .nifti import NiftiItem, NiftiReference, fetch_nifti, write_nifti
from .synthetic import fetch_thick_digits
from .transforms import Flatten, Standardize, batched

__all__ = [
    "DataManager", "DataItem", "Loaders",
    "Item", "fetch_minst", "fetch_mnist", "fetch_fashion_mnist", "fetch_digits",
    "fetch_thick_digits",
    "NiftiItem", "NiftiReference", "fetch_nifti", "write_nifti",
    "Flatten", "Standardize", "batched",
]
