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

#: pynet's top-level names that have no counterpart, with what to use instead.
_NOT_PROVIDED = {
    "get_interfaces": "pynet's model zoo is not part of pynet_cvae: write "
                      "DeepLearningInterface(model='Name', model_kwargs=params) for a "
                      "network registered in pynet_cvae.registry.Networks",
}

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _NOT_PROVIDED:
        raise AttributeError(f"pynet_cvae has no {name!r}: {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'pynet_cvae' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
