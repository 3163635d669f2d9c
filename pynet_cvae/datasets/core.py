"""pynet's ``pynet.datasets.core`` module path, for code that imports from it.

``from pynet_cvae.datasets.core import DataManager, ArrayDataset`` gives the same
objects as :mod:`pynet_cvae.datasets`; :data:`SetItem` is pynet's name of the
named tuple of loaders that :meth:`DataManager.get_dataloader` returns.
"""

from .arrays import ArrayDataset
from .items import DataItem
from .manager import DataManager, Loaders

SetItem = Loaders

__all__ = ["DataManager", "ArrayDataset", "DataItem", "SetItem"]
