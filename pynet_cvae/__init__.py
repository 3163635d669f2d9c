"""pynet-cvae: a pynet-style PyTorch training framework with a conditional VAE plugin.

Importing the package is cheap: it configures no logging and loads no plugin.
Plugins are discovered the first time a registry is queried. pynet's top-level
names (:func:`~pynet_cvae.registry.get_tools`,
:class:`~pynet_cvae.interfaces.NetParameters`,
:func:`~pynet_cvae.utils.setup_logging`) are imported on first use.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {"get_tools": "pynet_cvae.registry", "NetParameters": "pynet_cvae.interfaces",
         "setup_logging": "pynet_cvae.utils"}

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pynet_cvae' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
