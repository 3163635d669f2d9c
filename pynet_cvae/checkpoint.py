"""Checkpoints: written atomically with a SHA-256, loaded safely (``weights_only=True``).

A checkpoint is a dict of tensors, numbers, strings, None and lists/tuples/dicts of
them (:func:`save_checkpoint` refuses anything else, so every checkpoint it writes
loads with ``weights_only=True``):

``format_version``
    :data:`CHECKPOINT_FORMAT_VERSION`.
``model``, ``optimizer``, ``scheduler``
    The state dicts (``scheduler`` may be None).
``fold``, ``epoch``, ``stopped``
    Where the run stood when the checkpoint was written, and whether an observer
    had stopped the fold (early stopping).
``train_history``, ``validation_history``
    :meth:`History.to_dict` of each history (or None).
``rng``
    The random states of Python, NumPy and torch (:func:`pynet_cvae.seeding.rng_state`).
``observers``
    The state of every observer with ``state_dict()``
    (:meth:`Observable.observer_states`).
``train_loader``
    The training loader's ``state_dict()`` (or None).
``content_sha256``
    The digest of every other entry (:func:`~pynet_cvae.plain_data.content_digest`),
    written by :func:`save_checkpoint` and removed by :func:`load_checkpoint`.

Beside ``model_0_epoch_3.pth`` lies ``model_0_epoch_3.pth.sha256`` in ``sha256sum``
format (``sha256sum -c`` checks it). The checkpoint is written to a temporary file,
fsynced and renamed, then its checksum likewise, so a crash leaves either the
previous files or the new ones. :func:`load_checkpoint` checks the SHA-256 when the
file is there, and the digest inside the file when it is not (a copied checkpoint
whose ``.sha256`` stayed behind is still checked); a file with neither loads with a
warning. It tells a truncated or corrupted file (:class:`CorruptCheckpointError`)
from one that would run code when unpickled (:class:`UnsafeCheckpointError`, which
names the Python objects the file refers to).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import pickle
import re
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

import torch

from .fileio import atomic_path, atomic_write_text, remove_stale_temporaries
from .plain_data import check_plain_data, content_digest, referenced_globals

logger = logging.getLogger("pynet_cvae")

CHECKPOINT_FORMAT_VERSION = 3
"""The version :func:`save_checkpoint` writes."""

READABLE_FORMAT_VERSIONS = (1, 2, 3)
"""The versions :func:`load_checkpoint` reads (1 lacks the RNG and observer states, 1
and 2 the digest of their content)."""

DIGEST_KEY = "content_sha256"
"""The entry of a version-3 checkpoint holding :func:`~pynet_cvae.plain_data.content_digest`
of the other entries."""

CHECKSUM_SUFFIX = ".sha256"

RESUME_KEYS = ("model", "optimizer", "fold", "epoch")
"""The entries a checkpoint needs to resume a run."""

_CHECKPOINT_NAME = re.compile(r"^model_(?P<fold>\d+)_epoch_(?P<epoch>\d+)\.pth$")


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: missing entries, unknown version, bad content."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file is truncated, corrupted or does not match its SHA-256."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint file holds objects that would run code when unpickled."""


class CheckpointWriteError(OSError, RuntimeError):
    """Writing a checkpoint failed (e.g. a full disk); the previous files are kept.

    An :class:`OSError` carrying the ``errno`` of the failure, and a
    :class:`RuntimeError` so that code catching failed runs catches it too.
    """


def checkpoint_path(checkpointdir: str, fold: int, epoch: int) -> str:
    """The file name pynet uses: ``model_<fold>_epoch_<epoch>.pth``."""
    return os.path.join(checkpointdir, f"model_{fold}_epoch_{epoch}.pth")


def checksum_path(path: str) -> str:
    """The SHA-256 file beside checkpoint ``path``."""
    return path + CHECKSUM_SUFFIX


def save_checkpoint(path: str, **state: Any) -> str:
    """Write ``state`` plus the format version to ``path`` atomically, with its SHA-256.

    Parameters
    ----------
    path : str
        The checkpoint file; its directory is created if needed.
    **state
        The entries to save (see the module documentation): tensors, numbers,
        strings, None and lists/tuples/dicts of them.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    TypeError
        If an entry holds another type of object (it could not be loaded safely).
    CheckpointWriteError
        If the file cannot be written (full disk, file size limit, permissions...);
        ``path`` then keeps its previous content or stays absent.
    """
    if DIGEST_KEY in state:
        raise TypeError(f"{DIGEST_KEY!r} is written by save_checkpoint itself: expected "
                        "another entry name")
    payload = {"format_version": CHECKPOINT_FORMAT_VERSION, **state}
    check_plain_data(payload)
    payload[DIGEST_KEY] = content_digest(payload)
    checksum = checksum_path(path)
    renamed = False
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(checksum)  # a stale checksum must never describe the new file
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as stream:
                writer = _HashingWriter(stream)
                _torch_save(payload, writer)
        renamed = True
        atomic_write_text(checksum, f"{writer.hexdigest()}  {os.path.basename(path)}\n")
    except OSError as error:
        if renamed:
            with contextlib.suppress(OSError):
                os.remove(path)  # the save failed as a whole: no half-committed pair
        raise _write_error(path, error) from error
    return path


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint with ``torch.load(..., weights_only=True)``.

    The SHA-256 beside the file, when present, is checked first; without it, the
    digest of the content written inside the file (format version 3) is checked
    after loading. A file with neither (a bare state dict, a checkpoint of an older
    version whose ``.sha256`` was lost) is loaded with a warning: its integrity
    cannot be checked. A bare state dict (what ``torch.save(model.state_dict(),
    path)`` writes) is accepted and returned as ``{"model": state_dict}``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptCheckpointError
        If the file is truncated, corrupted or does not match its SHA-256.
    UnsafeCheckpointError
        If the file holds objects other than tensors and plain data (a pickle that
        would run code); nothing in it is run.
    CheckpointError
        If it holds no model or has an unknown format version.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    checked = verify_checksum(path)
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise CorruptCheckpointError(
                f"checkpoint {path!r} is truncated or corrupted: {_first_line(error)}"
            ) from None
        raise UnsafeCheckpointError(
            f"refusing to load {path!r}: it refers to {_unsafe_detail(path, error)}, "
            "which is not a tensor nor plain data and could run code when unpickled; "
            "nothing in it was run") from None
    except Exception as error:  # torch raises many types for a damaged file
        raise CorruptCheckpointError(
            f"checkpoint {path!r} is truncated or corrupted: "
            f"{type(error).__name__}: {_first_line(error)}") from None
    content = _check_content(path, content)
    recorded = content.pop(DIGEST_KEY, None)
    if not checked:
        _verify_digest(path, content, recorded)
    return content


def _verify_digest(path: str, content: Dict[str, Any], recorded: Optional[str]) -> None:
    """Check the digest written inside a checkpoint (warn when there is none)."""
    if recorded is None:
        logger.warning(
            "checkpoint %r has no SHA-256 (no %s file beside it, no digest inside): its "
            "integrity cannot be checked", path, os.path.basename(checksum_path(path)))
        return
    actual = content_digest(content)
    if actual != recorded:
        raise CorruptCheckpointError(
            f"checkpoint {path!r} is corrupted: the digest of its content is {actual}, "
            f"the file records {recorded} (and {os.path.basename(checksum_path(path))} "
            "is missing)")


def verify_checksum(path: str) -> Optional[bool]:
    """Check ``path`` against the SHA-256 file beside it.

    Returns
    -------
    bool or None
        True when it matches, None when there is no SHA-256 file.

    Raises
    ------
    CorruptCheckpointError
        If the file does not match its SHA-256 (or the SHA-256 file is unreadable).
    """
    checksum = checksum_path(path)
    try:
        with open(checksum, encoding="utf-8") as stream:
            expected = stream.read().split()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise CorruptCheckpointError(
            f"the SHA-256 file {checksum!r} of checkpoint {path!r} is unreadable: "
            f"{error}") from None
    actual = _sha256_file(path)
    if not expected or expected[0].lower() != actual:
        found = expected[0] if expected else "nothing"
        raise CorruptCheckpointError(
            f"checkpoint {path!r} is truncated or corrupted: its SHA-256 is {actual}, "
            f"{os.path.basename(checksum)} records {found}")
    return True


def list_checkpoints(checkpointdir: str) -> List[Tuple[int, int, str]]:
    """The ``(fold, epoch, path)`` of each checkpoint in ``checkpointdir``, in order."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(checkpointdir), "model_*_epoch_*.pth")):
        match = _CHECKPOINT_NAME.match(os.path.basename(path))
        if match is not None:
            found.append((int(match["fold"]), int(match["epoch"]), path))
    return sorted(found)


def latest_checkpoint(checkpointdir: str) -> Optional[str]:
    """The checkpoint of ``checkpointdir`` with the highest (fold, epoch), or None."""
    checkpoints = list_checkpoints(checkpointdir)
    return checkpoints[-1][2] if checkpoints else None


def last_good_checkpoint(checkpointdir: str, map_location: Any = "cpu",
                         required: Sequence[str] = RESUME_KEYS
                         ) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The latest checkpoint of ``checkpointdir`` that loads and holds ``required``.

    Truncated or corrupted checkpoints are skipped with a warning naming them.

    Returns
    -------
    (str, dict) or None
        The path and the content, or None when the folder holds no checkpoint.

    Raises
    ------
    UnsafeCheckpointError
        If a checkpoint would run code when unpickled (never skipped silently).
    CorruptCheckpointError
        If there are checkpoints but none is usable.
    """
    rejected = []
    for _, _, path in reversed(list_checkpoints(checkpointdir)):
        try:
            content = load_checkpoint(path, map_location=map_location)
            missing = [key for key in required if content.get(key) is None]
            if missing:
                raise CorruptCheckpointError(f"checkpoint {path!r} holds no {missing}")
        except (CorruptCheckpointError, FileNotFoundError) as error:
            rejected.append(str(error))
            logger.warning("skipping checkpoint: %s", error)
            continue
        if rejected:
            logger.warning("using the previous good checkpoint %s", path)
        return path, content
    if rejected:
        raise CorruptCheckpointError(
            f"no usable checkpoint in {checkpointdir!r}: " + "; ".join(rejected))
    return None


def prune_checkpoints(checkpointdir: str, keep_last: int, keep: Sequence[str] = ()
                      ) -> List[str]:
    """Remove all but the ``keep_last`` latest checkpoints (and their SHA-256 files).

    ``initial_state.pth``, the checkpoints listed in ``keep`` and other files are left
    alone.

    Returns
    -------
    list of str
        The removed checkpoints.
    """
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
        raise ValueError(f"keep_last must be an integer >= 1, got {keep_last!r}")
    kept = {os.path.abspath(path) for path in keep}
    removed = []
    for _, _, path in list_checkpoints(checkpointdir)[:-keep_last]:
        if os.path.abspath(path) in kept:
            continue
        for name in (checksum_path(path), path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
        removed.append(path)
    return removed


def remove_partial_files(checkpointdir: str) -> List[str]:
    """Remove the temporary files that killed saves left in ``checkpointdir``.

    A save in progress in another process holds its temporary file's lock and is
    left alone (:func:`~pynet_cvae.fileio.remove_stale_temporaries`).
    """
    return [str(path) for path in remove_stale_temporaries(checkpointdir)]


class _HashingWriter:
    """A write-only stream that hashes what it passes on and keeps the OS error."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.error: Optional[OSError] = None

    def write(self, data: bytes) -> int:
        try:
            written = self._stream.write(data)
        except OSError as error:
            self.error = error
            raise
        self._hash.update(data)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _torch_save(payload: Dict[str, Any], writer: _HashingWriter) -> None:
    """``torch.save`` into ``writer``; a failed write surfaces as its OSError."""
    try:
        torch.save(payload, writer)
    except RuntimeError:
        if writer.error is not None:  # torch reports it as "unexpected pos ..."
            raise writer.error from None
        raise


def _write_error(path: str, error: OSError) -> CheckpointWriteError:
    message = (f"cannot write checkpoint {path!r}: {error.strerror or error}; the previous "
               "checkpoints are kept")
    if error.errno is None:
        return CheckpointWriteError(message)
    return CheckpointWriteError(error.errno, message)


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_content(path: str, content: Any) -> Dict[str, Any]:
    if not isinstance(content, dict):
        raise CheckpointError(
            f"checkpoint {path!r} holds a {type(content).__name__}, expected a dict")
    if "format_version" not in content:
        if all(isinstance(value, torch.Tensor) for value in content.values()):
            return {"model": content}
        if "model" not in content:
            raise CheckpointError(
                f"checkpoint {path!r} has neither a 'model' entry nor only tensors; "
                f"keys: {sorted(map(str, content))[:10]}")
        return content
    version = content["format_version"]
    if version not in READABLE_FORMAT_VERSIONS:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {version!r}; this pynet_cvae "
            f"reads versions {list(READABLE_FORMAT_VERSIONS)}")
    return content


def _unsafe_detail(path: str, error: BaseException) -> str:
    """The globals a refused checkpoint refers to, e.g. ``posix.system``."""
    named = re.findall(r"GLOBAL ([\w.]+)", str(error))
    for name in referenced_globals(path):
        if name not in named:
            named.append(name)
    if named:
        return ", ".join(named)
    return f"an object that weights-only loading refuses ({_first_line(error)})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
