"""Registries of networks, losses, metrics, regularizers, observers, fetchers and recipes.

Objects are added with a class decorator::

    from pynet_cvae.registry import Networks

    @Networks.register
    class MyNet(torch.nn.Module):
        ...

Third-party packages extend the registries through the Python entry-point group
``pynet_cvae.plugins``: each entry point names a module whose import registers its
objects. Plugins are discovered once, the first time a registry is queried.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar, Dict, List, Optional, TypeVar

logger = logging.getLogger("pynet_cvae")

PLUGIN_GROUP = "pynet_cvae.plugins"

# Modules of pynet_cvae itself that register objects on import.
_BUILTIN_MODULES = ("pynet_cvae.datasets", "pynet_cvae.metrics", "pynet_cvae.observers",
                    "pynet_cvae.recipes")

T = TypeVar("T")


class Registry:
    """Base class of a registry: a mapping from names to objects.

    Each subclass holds its own mapping. Do not instantiate a registry: use its
    class methods.
    """

    kind: ClassVar[str] = "object"
    _entries: ClassVar[Dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._entries = {}

    @classmethod
    def register(cls, obj: Optional[T] = None, *, name: Optional[str] = None) -> Any:
        """Add ``obj`` to the registry under ``name`` (default: its ``__name__``).

        Usable as a bare decorator (``@Losses.register``) or with a name
        (``@Losses.register(name="my_loss")``). Registering the same object twice
        under the same name is harmless; another object under a taken name is an
        error.

        Parameters
        ----------
        obj : object, optional
            The class or function to register.
        name : str, optional
            The name to register it under.

        Returns
        -------
        object
            ``obj`` itself, so the decorator leaves the decorated object unchanged.

        Raises
        ------
        ValueError
            If another object is already registered under that name.
        """
        if obj is None:
            return lambda target: cls.register(target, name=name)
        key = name if name is not None else getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"cannot register {obj!r} in {cls.__name__}: it has no __name__, "
                "pass name='...'")
        existing = cls._entries.get(key)
        if existing is not None and existing is not obj:
            raise ValueError(
                f"{cls.kind} name {key!r} is already registered in {cls.__name__} "
                f"by {_describe(existing)}; choose another name")
        cls._entries[key] = obj
        return obj

    @classmethod
    def unregister(cls, name: str) -> None:
        """Remove ``name`` from the registry (a missing name is an error)."""
        if name not in cls._entries:
            raise KeyError(f"{cls.kind} {name!r} is not registered in {cls.__name__}")
        del cls._entries[name]

    @classmethod
    def get_registry(cls) -> Dict[str, Any]:
        """Return a copy of the registered objects, plugins included."""
        load_plugins()
        return dict(cls._entries)

    @classmethod
    def get(cls, name: str) -> Any:
        """Return the object registered under ``name``.

        Raises
        ------
        KeyError
            If nothing is registered under that name; the message lists the
            registered names.
        """
        load_plugins()
        try:
            return cls._entries[name]
        except KeyError:
            raise KeyError(
                f"no {cls.kind} named {name!r} in {cls.__name__}; registered: "
                f"{sorted(cls._entries)}") from None

    @classmethod
    def contains(cls, name: str) -> bool:
        """Tell whether ``name`` is registered (plugins included)."""
        load_plugins()
        return name in cls._entries


class Networks(Registry):
    """Registry of network classes (``torch.nn.Module`` subclasses)."""

    kind = "network"


class Losses(Registry):
    """Registry of loss classes or functions."""

    kind = "loss"


class Metrics(Registry):
    """Registry of metric classes or functions."""

    kind = "metric"


class Regularizers(Registry):
    """Registry of regularizers: ``regularizer`` observers adding a penalty to the loss
    (see :mod:`pynet_cvae.observable`)."""

    kind = "regularizer"


class Observers(Registry):
    """Registry of observer callables (see :mod:`pynet_cvae.observable`)."""

    kind = "observer"


class Fetchers(Registry):
    """Registry of data set fetchers (see :mod:`pynet_cvae.datasets`)."""

    kind = "fetcher"


class Recipes(Registry):
    """Registry of training recipes (see :mod:`pynet_cvae.recipes`): what
    ``pynet-cvae train --recipe NAME`` trains."""

    kind = "recipe"


REGISTRIES = {
    "networks": Networks,
    "regularizers": Regularizers,
    "losses": Losses,
    "metrics": Metrics,
    "observers": Observers,
    "fetchers": Fetchers,
    "recipes": Recipes,
}


def get_tools(tool_name: Optional[str] = None) -> Dict[str, Any]:
    """Return every registry's content, keyed by registry name, or one registry's.

    Parameters
    ----------
    tool_name : str, optional
        One of ``"networks"``, ``"regularizers"``, ``"losses"``, ``"metrics"``,
        ``"observers"``, ``"fetchers"``: return that registry's content only.

    Returns
    -------
    dict
        ``{"networks": {...}, "regularizers": {...}, "losses": {...},
        "metrics": {...}, "observers": {...}, "fetchers": {...}, "recipes": {...}}``,
        or ``{name: object}`` for ``tool_name``.

    Raises
    ------
    ValueError
        If ``tool_name`` is not a registry's name.
    """
    if tool_name is not None:
        if tool_name not in REGISTRIES:
            raise ValueError(f"tool_name {tool_name!r} unknown: expected one of "
                             f"{list(REGISTRIES)}")
        return REGISTRIES[tool_name].get_registry()
    return {name: registry.get_registry() for name, registry in REGISTRIES.items()}


_plugins_lock = threading.RLock()
_plugins_loaded = False
_loaded_plugin_names: List[str] = []


def load_plugins(reload: bool = False) -> List[str]:
    """Import every module declared in the ``pynet_cvae.plugins`` entry-point group.

    Runs once per process (unless ``reload``); a plugin that fails to import is
    skipped with a warning naming it.

    Parameters
    ----------
    reload : bool, default False
        Look for entry points again (e.g. after installing a plugin package in the
        running process). Modules already imported are not imported twice.

    Returns
    -------
    list of str
        The names of the entry points loaded so far.
    """
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded and not reload:
            return list(_loaded_plugin_names)
        _plugins_loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        for entry_point in entry_points(group=PLUGIN_GROUP):
            if entry_point.name in _loaded_plugin_names:
                continue
            try:
                importlib.import_module(entry_point.value.split(":")[0])
            except Exception as error:  # a broken plugin must not break the others
                warnings.warn(
                    f"pynet_cvae plugin {entry_point.name!r} ({entry_point.value}) "
                    f"failed to import and is skipped: {error!r}",
                    RuntimeWarning, stacklevel=2)
                continue
            _loaded_plugin_names.append(entry_point.name)
            logger.info("loaded pynet_cvae plugin %s", entry_point.name)
        return list(_loaded_plugin_names)


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{module}.{qualname}" if module else qualname


def resolve(registry: type, name: str, fallback: Optional[Callable[[str], Any]] = None) -> Any:
    """Look ``name`` up in ``registry``, then in ``fallback``; a clear error if neither has it."""
    if registry.contains(name):
        return registry.get(name)
    if fallback is not None:
        found = fallback(name)
        if found is not None:
            return found
    raise ValueError(
        f"unknown {registry.kind} {name!r}: not in {registry.__name__} "
        f"({sorted(registry.get_registry())}) nor in torch")
