"""Decide on which API page each public object of a package is documented.

Users import most objects from a package (``from pynet_cvae.datasets import
DataManager``), while the objects are defined in its modules
(``pynet_cvae.datasets.manager``). Each object is documented once, under its
shortest public name: the objects a package lists in ``__all__`` are documented on
the package's page, and the page of the module that defines them links there. An
object exported by no package is documented on its own module's page. Autodoc
records the defining module's name as the canonical name, so references to either
name resolve.

The plan is recomputed at every build, so a new module or a new public object
appears in the API reference without any edit to the documentation.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType
from typing import Any, Dict, List, Tuple

from sphinx.pycode import ModuleAnalyzer
from sphinx.errors import PycodeError

# (name, autodoc directive: class, exception, function or data, show the base classes)
Entry = Tuple[str, str, bool]


def public_modules(package_name: str) -> List[str]:
    """Return the package and every module below it whose dotted path has no ``_`` part.

    Parameters
    ----------
    package_name : str
        An importable package, e.g. ``"pynet_cvae"``.

    Returns
    -------
    list of str
        Dotted module names, the package first, then in ``pkgutil`` walk order.
    """
    package = importlib.import_module(package_name)
    names = [package_name]
    for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return names


def _directive(value: Any) -> str:
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return "function"
    return "data"


def _has_bases(value: Any) -> bool:
    """Whether a class derives from anything but ``object`` (worth a "Bases:" line)."""
    return inspect.isclass(value) and value.__bases__ != (object,)


def _documented_attributes(module: ModuleType) -> List[str]:
    """Module-level names that carry a docstring (``X = ...`` then ``\"\"\"doc\"\"\"``)."""
    try:
        attribute_docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
    except PycodeError:
        return []
    return [name for namespace, name in attribute_docs
            if not namespace and not name.startswith("_")]


def exported_names(module: ModuleType) -> List[str]:
    """The public names of ``module``: its ``__all__``, or what it defines.

    Without ``__all__``: the classes and functions whose ``__module__`` is this
    module, and the module attributes documented with a docstring. Dunder names
    (``__version__``) are left out.
    """
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return [name for name in declared if not name.startswith("__")]
    names = [name for name, value in vars(module).items()
             if not name.startswith("_")
             and (inspect.isclass(value) or inspect.isfunction(value))
             and getattr(value, "__module__", None) == module.__name__]
    names += [name for name in _documented_attributes(module) if name not in names]
    return names


def _homes(modules: Dict[str, ModuleType]) -> Dict[int, str]:
    """Map each exported object to the one module whose page documents it.

    An object a package exports lives on the shortest such package; another one on
    the module that defines it, or else the first module that exports it.
    """
    homes: Dict[int, str] = {}
    packages = sorted((name for name, module in modules.items()
                       if hasattr(module, "__path__") and hasattr(module, "__all__")),
                      key=lambda name: (name.count("."), name))
    for package_name in packages:
        package = modules[package_name]
        for name in exported_names(package):
            value = getattr(package, name)
            if inspect.ismodule(value):
                continue
            homes.setdefault(id(value), package_name)
    for module_name, module in modules.items():
        for name in exported_names(module):
            value = getattr(module, name, None)
            if value is None or inspect.ismodule(value) or id(value) in homes:
                continue
            defining = getattr(value, "__module__", None)
            if defining in modules and name in exported_names(modules[defining]):
                homes[id(value)] = defining
            else:
                homes[id(value)] = module_name
    return homes


def _exported_as(module: ModuleType, value: Any, name: str) -> str:
    """The name under which ``module`` exports ``value``: ``name``, unless the module
    documents it under another one (an alias such as pynet's ``SetItem``)."""
    names = exported_names(module)
    if name in names and getattr(module, name, None) is value:
        return name
    return next((other for other in names if getattr(module, other, None) is value), name)


def build_plan(package_name: str) -> Dict[str, Dict[str, List[Any]]]:
    """Return, per public module, what its API page documents and what it links to.

    Parameters
    ----------
    package_name : str
        The package to document.

    Returns
    -------
    dict
        ``{module: {"documented": [(name, directive, show_bases), ...],
        "elsewhere": [(name, "package.name"), ...]}}``; ``directive`` is the
        autodoc directive suffix (``class``, ``exception``, ``function``, ``data``)
        and ``show_bases`` tells whether the class has base classes to show.
    """
    modules = {name: importlib.import_module(name) for name in public_modules(package_name)}
    homes = _homes(modules)
    plan: Dict[str, Dict[str, List[Any]]] = {}
    for module_name, module in modules.items():
        documented: List[Entry] = []
        elsewhere: List[Tuple[str, str]] = []
        for name in exported_names(module):
            value = getattr(module, name, None)
            if value is None or inspect.ismodule(value):
                continue
            home = homes[id(value)]
            if home == module_name:
                documented.append((name, _directive(value), _has_bases(value)))
            else:
                elsewhere.append((name, f"{home}.{_exported_as(modules[home], value, name)}"))
        plan[module_name] = {"documented": documented, "elsewhere": elsewhere}
    return plan
