"""Checkpoints: written atomically, loaded safely (``weights_only=True``).

A checkpoint is a dict of tensors, numbers, strings and lists/dicts of them:

``format_version``
    :data:`CHECKPOINT_FORMAT_VERSION`.
``model``, ``optimizer``, ``scheduler``
    The state dicts (``scheduler`` may be None).
``fold``, ``epoch``
    Where the run stood when the checkpoint was written.
``train_history``, ``validation_history``
    :meth:`History.to_dict` of each history (or None).
"""

from __future__ import annotations

import glob
import os
import pickle
import re
import zipfile
from typing import Any, Dict, Optional

import torch

from .fileio import atomic_open

CHECKPOINT_FORMAT_VERSION = 1

_CHECKPOINT_NAME = re.compile(r"^model_(?P<fold>\d+)_epoch_(?P<epoch>\d+)\.pth$")


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted or unsafe."""


def checkpoint_path(checkpointdir: str, fold: int, epoch: int) -> str:
    """The file name pynet uses: ``model_<fold>_epoch_<epoch>.pth``."""
    return os.path.join(checkpointdir, f"model_{fold}_epoch_{epoch}.pth")


def save_checkpoint(path: str, **state: Any) -> str:
    """Write ``state`` plus the format version to ``path`` atomically.

    Parameters
    ----------
    path : str
        The checkpoint file; its directory is created if needed.
    **state
        The entries to save (see the module documentation).

    Returns
    -------
    str
        ``path``.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {"format_version": CHECKPOINT_FORMAT_VERSION, **state}
    with atomic_open(path, "wb") as stream:
        torch.save(payload, stream)
    return path


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint with ``torch.load(..., weights_only=True)``.

    A bare state dict (what ``torch.save(model.state_dict(), path)`` writes) is
    accepted and returned as ``{"model": state_dict}``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is truncated, corrupted, holds anything but plain data (a
        pickle that would run code), or has an unknown format version.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refusing to load {path!r}: it holds objects other than tensors and plain "
            f"data, which could run code when unpickled ({_first_line(error)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {path!r} is truncated or corrupted: {_first_line(error)}") from None
    if not isinstance(content, dict):
        raise CheckpointError(
            f"checkpoint {path!r} holds a {type(content).__name__}, expected a dict")
    if "format_version" not in content:
        if all(isinstance(value, torch.Tensor) for value in content.values()):
            return {"model": content}
        if "model" not in content:
            raise CheckpointError(
                f"checkpoint {path!r} has neither a 'model' entry nor only tensors; "
                f"keys: {sorted(content)[:10]}")
        return content
    version = content["format_version"]
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {version!r}; this pynet_cvae "
            f"reads version {CHECKPOINT_FORMAT_VERSION}")
    return content


def latest_checkpoint(checkpointdir: str) -> Optional[str]:
    """The checkpoint of ``checkpointdir`` with the highest (fold, epoch), or None."""
    best = None
    for path in glob.glob(os.path.join(checkpointdir, "model_*_epoch_*.pth")):
        match = _CHECKPOINT_NAME.match(os.path.basename(path))
        if match is None:
            continue
        key = (int(match["fold"]), int(match["epoch"]))
        if best is None or key > best[0]:
            best = (key, path)
    return None if best is None else best[1]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
