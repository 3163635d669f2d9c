"""Fetchers: prepare a data set once in a folder and return its files.

Each fetcher returns an :data:`Item` ``(input_path, output_path, metadata_path)``
ready for :class:`~pynet_cvae.datasets.DataManager`: a ``.npy`` array of float32
images in [0, 1] with shape ``(N, 1, H, W)``, training images first, then test
images, and a tab-separated table with one row per image and at least the
columns ``label`` (int) and ``split`` (``"train"`` or ``"test"``).
``output_path`` is None.

The prepared files are written atomically (the array first, the table last), so
a later call reuses them and an interrupted preparation is redone. Delete them to
prepare the data set again. Fetchers are registered in
:class:`~pynet_cvae.registry.Fetchers` under their function names.
"""

from __future__ import annotations

import logging
import os
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..fileio import atomic_path
from ..registry import Fetchers
from .download import download_file, sha256sum
from .idx import IDXFormatError, IDXHeader, check_pair, iter_idx_chunks

logger = logging.getLogger("pynet_cvae")

PathLike = Union[str, "os.PathLike[str]"]

#: What a fetcher returns: the input array, the output array (None here) and the
#: metadata table.
Item = namedtuple("Item", ["input_path", "output_path", "metadata_path"])

#: The four IDX files of MNIST-like data sets, in the order they are stacked.
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

#: MNIST mirrors (the PyTorch and TensorFlow ones; yann.lecun.com now refuses
#: downloads).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: SHA-256 of the official gzipped MNIST files (as listed by TensorFlow Datasets,
#: torchvision-based and other projects; sizes 9912422, 28881, 1648877, 4542).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Fashion-MNIST mirrors: Zalando's official bucket, then its GitHub repository.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: SHA-256 of the official gzipped Fashion-MNIST files (upstream publishes MD5
#: 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...; these SHA-256 come from
#: two independent third-party checksum lists that agree).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte.gz":
        "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte.gz":
        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte.gz":
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}
#: Where Debian's ``dataset-fashion-mnist`` package installs the four files
#: (re-compressed: same data, other gzip bytes than upstream).
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class _IDXDataSet:
    title: str
    prefix: str
    mirrors: Tuple[str, ...]
    sha256: Mapping[str, str]
    search_dirs: Tuple[Path, ...] = ()
    class_names: Optional[Tuple[str, ...]] = None
    foreign_sha256: Mapping[str, str] = field(default_factory=dict)
    install_hint: str = ""


_MNIST = _IDXDataSet("MNIST", "mnist", MNIST_MIRRORS, MNIST_SHA256)
_FASHION_MNIST = _IDXDataSet(
    "Fashion-MNIST", "fashion_mnist", FASHION_MNIST_MIRRORS, FASHION_MNIST_SHA256,
    search_dirs=(DEBIAN_FASHION_MNIST_DIR,), class_names=FASHION_MNIST_CLASSES,
    foreign_sha256={digest: "MNIST" for digest in MNIST_SHA256.values()},
    install_hint="install the Debian package dataset-fashion-mnist")


def _item(directory: Path, prefix: str) -> Item:
    return Item(input_path=str(directory / f"{prefix}_inputs.npy"), output_path=None,
                metadata_path=str(directory / f"{prefix}_metadata.tsv"))


def _is_prepared(item: Item, required: Sequence[str] = ("label", "split")) -> bool:
    """Tell whether both files exist and agree (a crash may have left only one), the
    table having the ``required`` columns."""
    inputs, metadata = Path(item.input_path), Path(item.metadata_path)
    if not (inputs.is_file() and metadata.is_file()):
        return False
    try:
        rows = np.load(inputs, mmap_mode="r").shape[0]
        with open(metadata, encoding="utf-8") as stream:
            columns = stream.readline().rstrip("\n").split("\t")
            lines = sum(1 for _ in stream)
    except (OSError, ValueError) as error:
        logger.warning("prepared files %s are unreadable (%s): preparing again",
                       inputs, error)
        return False
    if rows != lines or not set(required) <= set(columns):
        logger.warning("prepared files %s (%d rows) and %s (%d rows, columns %s) "
                       "disagree: preparing again", inputs, rows, metadata, lines, columns)
        return False
    return True


def _write_metadata(path: str, columns: Dict[str, np.ndarray]) -> None:
    import pandas as pd

    with atomic_path(path) as temporary:
        pd.DataFrame(columns).to_csv(temporary, sep="\t", index=False)


def _find_idx_files(directory: Path) -> Dict[str, Path]:
    """The IDX files present in ``directory``, by base name (raw file preferred)."""
    found = {}
    for name in IDX_NAMES:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


def _reject_other_data_set(spec: _IDXDataSet, files: Mapping[str, Path]) -> None:
    """Refuse another data set's official files left in the folder (same names)."""
    for path in files.values():
        if path.suffix != ".gz":
            continue
        other = spec.foreign_sha256.get(sha256sum(path))
        if other is not None:
            raise ValueError(
                f"{path} is the official {other} file, not {spec.title}: use another "
                f"datasetdir for {spec.title}")


def _manual_hint(spec: _IDXDataSet, directory: Path) -> str:
    names = ", ".join(f"{name}.gz" for name in IDX_NAMES)
    extra = f", or {spec.install_hint}" if spec.install_hint else ""
    return (f"To use {spec.title} offline, place these four files in "
            f"{str(directory)!r}: {names} (uncompressed copies without the .gz suffix "
            f"work too){extra}.")


def _locate_sources(spec: _IDXDataSet, directory: Path,
                    mirrors: Optional[Sequence[str]],
                    checksums: Optional[Mapping[str, Optional[str]]]) -> Dict[str, Path]:
    """Find the four IDX files (folder, then known places), downloading missing ones."""
    present = _find_idx_files(directory)
    if spec.foreign_sha256:
        _reject_other_data_set(spec, present)
    if len(present) < len(IDX_NAMES):
        for search_dir in spec.search_dirs:
            elsewhere = _find_idx_files(search_dir)
            if len(elsewhere) == len(IDX_NAMES):
                logger.info("using %s files from %s", spec.title, search_dir)
                return elsewhere
    expected = {**spec.sha256, **(checksums or {})}
    hint = _manual_hint(spec, directory)
    for name in IDX_NAMES:
        if name not in present:
            filename = f"{name}.gz"
            present[name] = download_file(
                filename, list(mirrors or spec.mirrors), directory,
                sha256=expected.get(filename), hint=hint)
    return present


def _write_inputs(path: str, headers: Sequence[IDXHeader], scale: float) -> None:
    """Stack IDX image files into a float32 ``(N, 1, H, W)`` .npy, chunk by chunk."""
    total = sum(header.count for header in headers)
    height, width = headers[0].shape[1:]
    with atomic_path(path) as temporary:
        array = np.lib.format.open_memmap(
            temporary, mode="w+", dtype=np.float32, shape=(total, 1, height, width))
        start = 0
        for header in headers:
            for chunk in iter_idx_chunks(header.path):
                stop = start + chunk.shape[0]
                array[start:stop, 0] = chunk.astype(np.float32) / np.float32(scale)
                start = stop
        array.flush()
        del array


def _prepare_idx(spec: _IDXDataSet, sources: Mapping[str, Path], item: Item) -> None:
    train, train_labels = check_pair(sources[IDX_NAMES[0]], sources[IDX_NAMES[1]])
    test, test_labels = check_pair(sources[IDX_NAMES[2]], sources[IDX_NAMES[3]])
    if train.shape[1:] != test.shape[1:]:
        raise IDXFormatError(
            f"training images in {train.path!r} are {train.shape[1:]} but test images "
            f"in {test.path!r} are {test.shape[1:]}; expected the same size")
    if train.count + test.count == 0:
        raise IDXFormatError(f"IDX files {train.path!r} and {test.path!r} hold no image")
    logger.info("preparing %s: %d training and %d test images of %dx%d", spec.title,
                train.count, test.count, *train.shape[1:])
    _write_inputs(item.input_path, [train, test], scale=255.0)
    labels = np.concatenate([train_labels, test_labels])
    columns = {"label": labels,
               "split": np.repeat(["train", "test"], [train.count, test.count])}
    if spec.class_names is not None:
        columns["class_name"] = np.asarray(spec.class_names)[labels]
    _write_metadata(item.metadata_path, columns)


def _fetch_idx(spec: _IDXDataSet, datasetdir: PathLike,
               mirrors: Optional[Sequence[str]],
               checksums: Optional[Mapping[str, Optional[str]]]) -> Item:
    directory = Path(datasetdir).expanduser()
    item = _item(directory, spec.prefix)
    if _is_prepared(item):
        return item
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    sources = _locate_sources(spec, directory, mirrors, checksums)
    _prepare_idx(spec, sources, item)
    return item


@Fetchers.register
def fetch_minst(datasetdir: PathLike, mirrors: Optional[Sequence[str]] = None,
                checksums: Optional[Mapping[str, Optional[str]]] = None) -> Item:
    """Prepare MNIST (70,000 28x28 digits; pynet's spelling, alias ``fetch_mnist``).

    IDX files already in ``datasetdir`` (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each optionally ``.gz``) are validated and used
    whatever their number of images, so a subset, or Fashion-MNIST, can be placed
    there. Missing ones are downloaded from :data:`MNIST_MIRRORS` and checked
    against :data:`MNIST_SHA256`. The table has the columns ``label`` and ``split``.

    Parameters
    ----------
    datasetdir : str or path-like
        The folder where the data set is prepared (created if needed).
    mirrors : sequence of str, optional
        Base URLs to download the gzipped IDX files from, tried in order, instead
        of the official mirrors (e.g. a local or proxy mirror).
    checksums : mapping, optional
        SHA-256 of each ``.gz`` file, overriding the official ones; a value of
        None downloads that file unverified.

    Returns
    -------
    Item
        ``(input_path, output_path=None, metadata_path)``.

    Raises
    ------
    DownloadError
        If a file is missing and every mirror fails; the message lists every URL
        tried and the files to place by hand.
    IDXFormatError
        If an IDX file is malformed (the message names it).
    """
    return _fetch_idx(_MNIST, datasetdir, mirrors, checksums)


fetch_mnist = Fetchers.register(fetch_minst, name="fetch_mnist")


@Fetchers.register
def fetch_fashion_mnist(datasetdir: PathLike, mirrors: Optional[Sequence[str]] = None,
                        checksums: Optional[Mapping[str, Optional[str]]] = None) -> Item:
    """Prepare Fashion-MNIST (70,000 28x28 images of clothes, 10 classes).

    The IDX files are looked for in ``datasetdir``, then in
    :data:`DEBIAN_FASHION_MNIST_DIR` (Debian's ``dataset-fashion-mnist``); both
    are validated. Missing files are downloaded from
    :data:`FASHION_MNIST_MIRRORS` and checked against
    :data:`FASHION_MNIST_SHA256`. Use a ``datasetdir`` other than MNIST's: the
    files have the same names (official MNIST files found there are refused).
    The table has the columns ``label``, ``split`` and ``class_name``.

    Parameters
    ----------
    datasetdir : str or path-like
        The folder where the data set is prepared (created if needed).
    mirrors : sequence of str, optional
        Base URLs to download the gzipped IDX files from, tried in order, instead
        of the official mirrors (e.g. a local or proxy mirror).
    checksums : mapping, optional
        SHA-256 of each ``.gz`` file, overriding the official ones; a value of
        None downloads that file unverified.

    Returns
    -------
    Item
        ``(input_path, output_path=None, metadata_path)``.

    Raises
    ------
    DownloadError
        If a file is missing and every mirror fails; the message lists every URL
        tried and the files to place by hand.
    IDXFormatError
        If an IDX file is malformed (the message names it).
    """
    return _fetch_idx(_FASHION_MNIST, datasetdir, mirrors, checksums)


def default_data_dir(name: str) -> Path:
    """The per-user folder for data set ``name``.

    ``$PYNET_CVAE_DATA/<name>`` when that variable is set, else
    ``$XDG_CACHE_HOME/pynet_cvae/<name>`` (``~/.cache/pynet_cvae/<name>``).
    """
    root = os.environ.get("PYNET_CVAE_DATA")
    if root:
        return Path(root).expanduser() / name
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "pynet_cvae" / name


@Fetchers.register
def fetch_digits(datasetdir: Optional[PathLike] = None) -> Item:
    """Prepare scikit-learn's 1,797 8x8 digits; needs no network.

    The pixel values 0..16 are scaled to [0, 1]. A fixed stratified split
    (``train_test_split(test_size=0.2, stratify=labels, random_state=0)``) gives
    1,437 training then 360 test images. The table has the columns ``label``,
    ``split`` and ``source_index`` (the row in ``sklearn.datasets.load_digits``).

    Parameters
    ----------
    datasetdir : str or path-like, optional
        The folder where the data set is prepared; by default
        :func:`default_data_dir` ``("digits")``.

    Returns
    -------
    Item
        ``(input_path, output_path=None, metadata_path)``.
    """
    directory = Path(datasetdir).expanduser() if datasetdir else default_data_dir("digits")
    item = _item(directory, "digits")
    if _is_prepared(item):
        return item
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    labels = digits.target.astype(np.int64)
    train, test = train_test_split(np.arange(labels.size), test_size=0.2,
                                   stratify=labels, random_state=0)
    order = np.concatenate([np.sort(train), np.sort(test)])
    with atomic_path(item.input_path) as temporary:
        with open(temporary, "wb") as stream:
            np.save(stream, (digits.images[order, None] / 16.0).astype(np.float32))
    _write_metadata(item.metadata_path, {
        "label": labels[order],
        "split": np.repeat(["train", "test"], [train.size, test.size]),
        "source_index": order})
    return item


__all__ = ["Item", "fetch_minst", "fetch_mnist", "fetch_fashion_mnist", "fetch_digits",
           "default_data_dir", "IDX_NAMES", "MNIST_MIRRORS", "MNIST_SHA256",
           "FASHION_MNIST_MIRRORS", "FASHION_MNIST_SHA256", "DEBIAN_FASHION_MNIST_DIR"]
