"""Optional dependencies: importing one, or saying which extra installs it.

Features that need a library outside the core's dependencies (the TensorBoard and
MLflow loggers, the ONNX export) import it with :func:`import_extra`; a missing one
is a :class:`MissingExtraError` naming the extra (``pip install
'pynet-cvae[export]'``), which the command line reports in one line;
:func:`quiet_loggers` keeps their notes (each database migration, each graph pass)
out of a command's output. This module imports nothing heavy: the command line's
error reporting uses it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any, Iterator

__all__ = ["MissingExtraError", "import_extra", "quiet_loggers"]


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


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Show only the errors of the loggers ``names`` (and their children) in the block.

    Parameters
    ----------
    *names : str
        Logger names, e.g. ``"onnxscript"``.

    Yields
    ------
    None
    """
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
