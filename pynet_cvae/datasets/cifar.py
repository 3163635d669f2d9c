"""CIFAR-10 for pynet's scripts: ``fetch_cifar`` prepares it as pynet did.

The 60,000 colour images (50,000 training then 10,000 test) become a float32
``(60000, 3, 32, 32)`` array normalised as pynet's ``Normalize((0.5,) * 3, (0.5,) * 3)``
did, to [-1, 1], and a table with the columns ``label`` (0-9), ``category`` (the
class name) and ``split``. The files keep pynet's names (``pynet_cifar_inputs.npy``,
``pynet_cifar.tsv``), so a folder pynet prepared is reused as it is.

The source is the official *binary* version (``cifar-10-binary.tar.gz``, records of one
label byte and 3,072 pixel bytes), never the pickled Python version: pickles can run
code when loaded. The archive, or its extracted ``cifar-10-batches-bin`` folder,
found in the folder is used (its records are checked, whatever their number);
otherwise it is downloaded and checked against :data:`CIFAR10_SHA256`.
"""

from __future__ import annotations

import logging
import tarfile
from collections import OrderedDict, namedtuple
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np

from ..fileio import atomic_path
from ..registry import Fetchers
from .download import download_file
from .fetchers import PathLike, _write_metadata
from .prepared import is_prepared, record_prepared

logger = logging.getLogger("pynet_cvae")

__all__ = ["CifarItem", "CifarFormatError", "fetch_cifar", "CIFAR10_CLASSES",
           "CIFAR10_MIRRORS", "CIFAR10_ARCHIVE", "CIFAR10_SHA256"]

#: What :func:`fetch_cifar` returns: pynet's fields, ``labels`` mapping each class id
#: to its name.
CifarItem = namedtuple("CifarItem", ["input_path", "output_path", "metadata_path", "labels"])

#: pynet's class names, in class-id order.
CIFAR10_CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")
#: The official site of the data set.
CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
#: SHA-256 of the official binary archive (170,052,171 bytes; its published MD5 is
#: c32a1d4ab5d03f1284b67883e8d87530).
CIFAR10_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"

_FOLDER = "cifar-10-batches-bin"
_TRAIN_FILES = tuple(f"data_batch_{number}.bin" for number in range(1, 6))
_TEST_FILE = "test_batch.bin"
_RECORD_BYTES = 1 + 3 * 32 * 32


class CifarFormatError(ValueError):
    """A CIFAR-10 binary file is malformed (the message names it)."""


def _records(data: bytes, name: str) -> np.ndarray:
    """Parse binary records into a ``(N, 3073)`` uint8 array."""
    if not data or len(data) % _RECORD_BYTES:
        raise CifarFormatError(f"{name} holds {len(data)} bytes: expected a non-zero "
                               f"multiple of {_RECORD_BYTES} (one label byte and 3x32x32 "
                               "pixel bytes per image)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD_BYTES)
    if records[:, 0].max() > 9:
        raise CifarFormatError(f"{name} has label {int(records[:, 0].max())}: expected 0-9")
    return records


def _read_sources(directory: Path, archive: Optional[Path]) -> List[np.ndarray]:
    """The records of the five training files then the test file."""
    names = _TRAIN_FILES + (_TEST_FILE,)
    if archive is None:
        paths = [directory / _FOLDER / name for name in names]
        return [_records(path.read_bytes(), str(path)) for path in paths]
    try:
        with tarfile.open(archive, "r:gz") as tar:
            parts = []
            for name in names:
                member = tar.extractfile(f"{_FOLDER}/{name}")  # read, never extracted
                if member is None:
                    raise KeyError(name)
                parts.append(_records(member.read(), f"{archive}:{_FOLDER}/{name}"))
            return parts
    except (tarfile.TarError, OSError, EOFError, KeyError) as error:
        raise CifarFormatError(f"{archive} is not a readable CIFAR-10 binary archive: "
                               f"{error!r}") from None


def _locate(directory: Path, mirrors: Sequence[str], sha256: Optional[str]) -> Optional[Path]:
    """The archive to read, or None when the extracted folder is complete."""
    folder = directory / _FOLDER
    if all((folder / name).is_file() for name in _TRAIN_FILES + (_TEST_FILE,)):
        return None
    archive = directory / CIFAR10_ARCHIVE
    if archive.is_file():
        return archive
    hint = (f"To use CIFAR-10 offline, place {CIFAR10_ARCHIVE} (or its extracted "
            f"{_FOLDER} folder) in {str(directory)!r}.")
    return download_file(CIFAR10_ARCHIVE, list(mirrors), directory, sha256=sha256, hint=hint)


def _write_inputs(path: Path, parts: List[np.ndarray]) -> None:
    total = sum(len(part) for part in parts)
    with atomic_path(path) as temporary:
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32,
                                          shape=(total, 3, 32, 32))
        start = 0
        for part in parts:
            pixels = part[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)
            array[start:start + len(part)] = (pixels / np.float32(255) - 0.5) / 0.5
            start += len(part)
        array.flush()
        del array


@Fetchers.register
def fetch_cifar(datasetdir: PathLike, mirrors: Optional[Sequence[str]] = None,
                checksum: Union[str, None] = CIFAR10_SHA256) -> CifarItem:
    """Prepare CIFAR-10 (60,000 32x32 colour images, 10 classes) as pynet did.

    Parameters
    ----------
    datasetdir : str or path-like
        The folder where the data set is prepared (created if needed).
    mirrors : sequence of str, optional
        Base URLs to download ``cifar-10-binary.tar.gz`` from, tried in order,
        instead of :data:`CIFAR10_MIRRORS`.
    checksum : str or None
        The archive's SHA-256 (None downloads it unverified).

    Returns
    -------
    CifarItem
        ``(input_path, output_path=None, metadata_path, labels)``, ``labels`` an
        ordered dict ``{0: "plane", ..., 9: "truck"}``.

    Raises
    ------
    DownloadError
        If the archive is missing and every mirror fails.
    CifarFormatError
        If a binary file or the archive is malformed (the message names it).
    """
    directory = Path(datasetdir).expanduser()
    inputs, metadata = directory / "pynet_cifar_inputs.npy", directory / "pynet_cifar.tsv"
    labels = OrderedDict(enumerate(CIFAR10_CLASSES))
    item = CifarItem(str(inputs), None, str(metadata), labels)
    if is_prepared(item, required=("label", "category")):
        return item
    directory.mkdir(parents=True, exist_ok=True)
    parts = _read_sources(directory, _locate(directory, mirrors or CIFAR10_MIRRORS, checksum))
    logger.info("preparing CIFAR-10: %d training and %d test images",
                sum(len(part) for part in parts[:-1]), len(parts[-1]))
    _write_inputs(inputs, parts)
    classes = np.concatenate([part[:, 0] for part in parts]).astype(np.int64)
    _write_metadata(str(metadata), {
        "label": classes, "category": np.asarray(CIFAR10_CLASSES)[classes],
        "split": np.repeat(["train", "test"], [sum(len(part) for part in parts[:-1]),
                                               len(parts[-1])])})
    record_prepared(item)
    return item
