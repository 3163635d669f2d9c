"""Optional dependencies: importing one, or saying which extra installs it.

Features that need a library outside the core's dependencies (the TensorBoard and
MLflow loggers, the ONNX export) import it with :func:`import_extra`; a missing one
is a :class:`MissingExtraError` naming the extra (``pip install
'pynet-cvae[export]'``), which the command line reports in one line. This module
imports nothing heavy: the command line's error reporting uses it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MissingExtraError", "import_extra"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra installing it."""


def import_extra(module: str, extra: str, feature: str) -> Any:
    """Import ``module``, an optional dependency, or say which extra installs it.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"torch.utils.tensorboard"``.
    extra : str
        The pynet-cvae extra that installs it, e.g. ``"tensorboard"``.
    feature : str
        What needs it, for the message.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtraError
        If it cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{feature} needs the optional dependency {extra!r}, which is not installed "
            f"({error}): pip install 'pynet-cvae[{extra}]'") from error
