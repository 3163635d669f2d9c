"""The data layer: the DataManager and the data set fetchers."""

from .fetchers import Item, fetch_digits, fetch_fashion_mnist, fetch_minst, fetch_mnist
from .manager import DataItem, DataManager, Loaders

__all__ = [
    "DataManager", "DataItem", "Loaders",
    "Item", "fetch_minst", "fetch_mnist", "fetch_fashion_mnist", "fetch_digits",
]
