"""Check the installation: the package version and its dependencies' versions.

``import pynet_cvae.configure`` changes nothing (as in pynet, importing it only makes
:func:`info` available).
"""

from __future__ import annotations

import platform
import re
from importlib import metadata
from typing import Dict, Tuple

from . import __version__

__all__ = ["dependency_versions", "info"]

DISTRIBUTION = "pynet-cvae"


def dependency_versions() -> Dict[str, Tuple[str, str]]:
    """Each required dependency's ``(required version, installed version)``.

    The requirements are read from the installed package's metadata (optional
    extras left out); ``"?"`` marks a dependency that is not installed.

    Returns
    -------
    dict
        ``{name: (specifier, installed)}``, e.g. ``{"torch": (">=2.1", "2.13.0")}``.
    """
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}
    versions = {}
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([^;]*)", requirement)
        name, specifier = match.group(1), match.group(2).strip() or "any"
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "?"
        versions[name] = (specifier, installed)
    return versions


def info() -> str:
    """A report of the package version, Python's and the dependencies' versions.

    Returns
    -------
    str
        One line per item, e.g. ``torch        >=2.1      required | 2.13.0 installed``.
    """
    lines = [f"Package version: {__version__}",
             f"Python: {platform.python_version()} ({platform.platform()})", "",
             "Dependencies:"]
    for name, (required, installed) in dependency_versions().items():
        lines.append(f"  {name:15s}: {required:10s} required | {installed:10s} installed")
    return "\n".join(lines)
