"""An independent judge: a small CNN that tells which class an image shows.

The judge is trained on the training split of a prepared data set (a fetcher's
``.npy`` images and TSV with ``label`` and ``split`` columns), scored on its test
split, and cached beside the data (``judge_<key>.pth``, the key a hash of the data
files and of the training settings), so every evaluation of the same data set uses
the same judge. Its own test accuracy is the ceiling of the conditional generation
accuracy that :mod:`~pynet_cvae.plugins.cvae.evaluation` reports.

The cache is a derived file, checked at each use rather than trusted: a cached
judge is scored on the test split again, and a cache that is damaged, does not fit
the data set or scores other than it records is trained again and rewritten.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import namedtuple
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as func

from ...checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .augmentation import translate
from .networks.blocks import conv_block

logger = logging.getLogger("pynet_cvae")

Judge = namedtuple("Judge", ["model", "test_accuracy", "path", "images_per_class"],
                   defaults=(None,))
Judge.__doc__ = """A trained judge.

Parameters
----------
model : JudgeCNN
    The network, in evaluation mode.
test_accuracy : float
    Its accuracy on the real test images.
path : str
    The cache file it was loaded from or written to.
images_per_class : int or None, default None
    The training images per class of a judge trained on a seeded subset of the
    training split (the Classification Accuracy Score's classifier of real images);
    None: the whole split.
"""

JUDGE_VERSION = 3
#: The judge's training epochs (at least: small data sets get more, see :data:`MIN_STEPS`).
JUDGE_EPOCHS = 10
#: The width of the judge's feature space (:meth:`JudgeCNN.embed`).
EMBEDDING_WIDTH = 128
#: How far a cached judge's test accuracy may be from the one it records (the same
#: judge scored on another device may label a few images otherwise).
ACCURACY_TOLERANCE = 0.01
#: The fewest optimisation steps of a judge's training (small data sets get more epochs).
MIN_STEPS = 2000
#: Added to the seed of a judge trained on a subset of the training split to draw that
#: subset, so that the draw and the weights do not come from one random stream.
SUBSET_SEED_OFFSET = 7


class JudgeCNN(nn.Module):
    """Two blocks of two 3x3 convolutions (batch-normalised) and a max-pooling, then
    two dense layers with dropout.

    Parameters
    ----------
    image_shape : tuple of int
        ``(height, width)`` of the gray images.
    n_classes : int
        The number of classes.
    """

    def __init__(self, image_shape: Sequence[int], n_classes: int) -> None:
        super().__init__()
        self.image_shape = tuple(int(side) for side in image_shape)
        height, width = (side // 4 for side in self.image_shape)
        if height < 1 or width < 1:
            raise ValueError(f"the judge needs images of at least 4 x 4 pixels, got "
                             f"{self.image_shape}")
        self.features = nn.Sequential(conv_block(1, 32), conv_block(32, 64), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Dropout(0.25), nn.Linear(64 * height * width, EMBEDDING_WIDTH), nn.ReLU(),
            nn.Dropout(0.25), nn.Linear(EMBEDDING_WIDTH, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The class logits of images.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, 1, H, W)`` or flattened ``(batch, H * W)`` images.

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes)`` logits.
        """
        return self.classifier[3:](self.embed(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The features of images in the judge's penultimate layer.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, 1, H, W)`` or flattened ``(batch, H * W)`` images.

        Returns
        -------
        torch.Tensor
            ``(batch, 128)`` activations of the first dense layer (after its ReLU),
            the space :mod:`~pynet_cvae.plugins.cvae.fidelity` compares images in.
        """
        hidden = self.features(x.reshape(x.shape[0], 1, *self.image_shape))
        return self.classifier[:3](hidden)


def read_split(metadata_path: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """The rows of a split of a fetcher's table, and their labels.

    Parameters
    ----------
    metadata_path : str
        The table (``label`` and ``split`` columns).
    split : str
        ``"train"`` or ``"test"``.

    Returns
    -------
    rows, labels : numpy.ndarray
        The row numbers and their int64 labels.
    """
    import pandas as pd

    metadata = pd.read_csv(metadata_path, sep="\t")
    for column in ("label", "split"):
        if column not in metadata.columns:
            raise ValueError(f"metadata {metadata_path!r} has no {column!r} column: expected "
                             f"a fetcher's table, got columns {list(metadata.columns)}")
    rows = np.flatnonzero(metadata["split"].to_numpy() == split)
    if not len(rows):
        raise ValueError(f"metadata {metadata_path!r} has no row of split {split!r}")
    return rows, metadata["label"].to_numpy()[rows].astype(np.int64)


def training_rows(metadata_path: str, images_per_class: Optional[int] = None, seed: int = 0
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """The rows a judge trains on, and their labels: the training split, or a subset.

    Parameters
    ----------
    metadata_path : str
        A fetcher's table (``label`` and ``split`` columns).
    images_per_class : int, optional
        Keep this many training images of each class (all of a smaller class), drawn
        with ``seed + SUBSET_SEED_OFFSET``; by default the whole split.
    seed : int, default 0
        The judge's seed.

    Returns
    -------
    rows, labels : numpy.ndarray
        Sorted row numbers and their int64 labels.
    """
    rows, labels = read_split(metadata_path, "train")
    if images_per_class is None:
        return rows, labels
    rng = np.random.default_rng(seed + SUBSET_SEED_OFFSET)
    chosen = [rng.choice(members, min(images_per_class, len(members)), replace=False)
              for members in (np.flatnonzero(labels == label)
                              for label in range(int(labels.max()) + 1))]
    kept = np.sort(np.concatenate(chosen))
    return rows[kept], labels[kept]


def train_and_score_judge(images: np.ndarray, metadata_path: str,
                          images_per_class: Optional[int] = None, epochs: int = JUDGE_EPOCHS,
                          seed: int = 0, min_steps: int = MIN_STEPS, device: Any = "cpu"
                          ) -> Tuple[JudgeCNN, float]:
    """Train a judge on :func:`training_rows` and score it on the test split.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, 1, H, W)`` images, memory-mapped or not.
    metadata_path : str
        Their table (``label`` and ``split`` columns).
    images_per_class, seed : int
        See :func:`training_rows` (``seed`` seeds the training too).
    epochs, min_steps, device
        See :func:`train_judge`.

    Returns
    -------
    judge, test_accuracy : JudgeCNN, float
        The judge (in evaluation mode) and its accuracy on the real test images.
    """
    rows, labels = training_rows(metadata_path, images_per_class, seed)
    test_rows, test_labels = read_split(metadata_path, "test")
    n_classes = int(max(labels.max(), test_labels.max())) + 1
    judge = train_judge(images, rows, labels, n_classes, epochs=epochs, seed=seed,
                        min_steps=min_steps, device=device)
    return judge, accuracy_on_rows(judge, images, test_rows, test_labels)


def predict(judge: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The judge's class for each image, by batches, without gradients.

    Parameters
    ----------
    judge : torch.nn.Module
        The judge.
    images : torch.Tensor
        Images, flattened or not, on any device.
    batch_size : int, default 512
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        The class ids, on the CPU.
    """
    if not images.shape[0]:
        return torch.empty(0, dtype=torch.long)
    return _by_batches(judge, images, batch_size, lambda batch: judge(batch).argmax(dim=1))


def _by_batches(judge: nn.Module, images: torch.Tensor, batch_size: int,
                compute: Any) -> torch.Tensor:
    """``compute`` of each batch of ``images``, in evaluation mode, without gradients,
    concatenated on the CPU."""
    was_training = judge.training
    judge.eval()
    device = next(judge.parameters()).device
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start:start + batch_size].to(device, torch.float32)
                outputs.append(compute(batch).cpu())
    finally:
        judge.train(was_training)
    return torch.cat(outputs)


def embed(judge: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The judge's features of each image (:meth:`JudgeCNN.embed`), by batches.

    Parameters
    ----------
    judge : JudgeCNN
        The judge.
    images : torch.Tensor
        Images, flattened or not, on any device.
    batch_size : int, default 512
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        ``(len(images), 128)`` features, on the CPU.
    """
    return _by_batches(judge, images, batch_size, lambda batch: judge.embed(batch))


def accuracy_on_rows(judge: nn.Module, images: np.ndarray, rows: np.ndarray,
                     labels: np.ndarray, batch_size: int = 512) -> float:
    """The judge's accuracy on some rows of an image array (read batch by batch).

    Parameters
    ----------
    judge : torch.nn.Module
        The judge.
    images : numpy.ndarray
        ``(N, 1, H, W)`` images, memory-mapped or not.
    rows : numpy.ndarray
        The rows to score.
    labels : numpy.ndarray
        Their labels.
    batch_size : int, default 512
        Images per batch.

    Returns
    -------
    float
        The fraction of rows the judge labels right.
    """
    correct = 0
    for start in range(0, len(rows), batch_size):
        batch = torch.from_numpy(np.asarray(images[rows[start:start + batch_size]],
                                            dtype=np.float32))
        predicted = predict(judge, batch, batch_size)
        correct += int((predicted.numpy() == labels[start:start + batch_size]).sum())
    return correct / max(1, len(rows))


def train_judge(images: np.ndarray, rows: np.ndarray, labels: np.ndarray, n_classes: int,
                epochs: int = JUDGE_EPOCHS, batch_size: int = 128,
                learning_rate: float = 3e-3, seed: int = 0, min_steps: int = MIN_STEPS,
                device: Any = "cpu") -> JudgeCNN:
    """Train a :class:`JudgeCNN` on randomly shifted images with the cross-entropy.

    AdamW (weight decay 5e-4) follows a one-cycle schedule: the learning rate rises
    to ``learning_rate`` over the first 30 % of the steps, then anneals to nearly 0.
    Each image of a batch moves by up to 2 pixels along each axis on 28-pixel images
    (scaled with the image; none below 14 pixels, where a pixel is too much of it):
    a shifted garment or digit is still one, and the judge must not depend on the
    exact position of a generated image. The random state of torch is left as it was,
    and gradients are enabled even when the caller disabled them (an evaluation
    trains the Classification Accuracy Score's classifiers under ``torch.no_grad``).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, 1, H, W)`` images, memory-mapped or not.
    rows : numpy.ndarray
        The training rows.
    labels : numpy.ndarray
        Their labels.
    n_classes : int
        The number of classes.
    epochs : int, default :data:`JUDGE_EPOCHS`
        The epochs, or more on a small data set: see ``min_steps``.
    batch_size : int, default 128
        Images per step.
    learning_rate : float, default 3e-3
        The peak of the one-cycle schedule.
    seed : int, default 0
        The seed of the weights, the batches and the shifts.
    min_steps : int, default :data:`MIN_STEPS`
        The fewest optimisation steps.
    device : str or torch.device, default "cpu"
        Where it trains.

    Returns
    -------
    JudgeCNN
        The judge, in evaluation mode.
    """
    steps_per_epoch = -(-len(rows) // batch_size)
    epochs = max(epochs, -(-min_steps // steps_per_epoch))
    image_shape = tuple(int(side) for side in images.shape[-2:])
    max_shift = min(image_shape) // 14
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        judge = JudgeCNN(image_shape, n_classes).to(device)
        optimizer = torch.optim.AdamW(judge.parameters(), lr=learning_rate,
                                      weight_decay=5e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=learning_rate, total_steps=epochs * steps_per_epoch)
        judge.train()
        for _ in range(epochs):
            order = rng.permutation(len(rows))
            for start in range(0, len(order), batch_size):
                chosen = np.sort(order[start:start + batch_size])
                batch = torch.from_numpy(np.asarray(images[rows[chosen]], dtype=np.float32))
                batch = translate(batch.reshape(len(chosen), -1).to(device), image_shape,
                                  max_shift)
                target = torch.from_numpy(labels[chosen]).to(device)
                optimizer.zero_grad(set_to_none=True)
                func.cross_entropy(judge(batch), target).backward()
                optimizer.step()
                schedule.step()
    judge.eval()
    return judge


def load_or_train_judge(input_path: str, metadata_path: str, cache_dir: Optional[str] = None,
                        epochs: int = JUDGE_EPOCHS, seed: int = 0, device: Any = "cpu",
                        min_steps: int = MIN_STEPS, images_per_class: Optional[int] = None
                        ) -> Judge:
    """The judge of a prepared data set: loaded from its cache, or trained and cached.

    The cache is never trusted for a figure: a loaded judge is scored on the test
    split again, and the cache is rebuilt (with a warning saying why) when it
    cannot be read (truncated, corrupted, refused), lacks an entry, does not fit
    the data set, or scores other than it records (by more than
    :data:`ACCURACY_TOLERANCE`).

    Parameters
    ----------
    input_path, metadata_path : str
        A fetcher's ``.npy`` images ``(N, 1, H, W)`` and TSV (``label``, ``split``).
    cache_dir : str, optional
        Where ``judge_<key>.pth`` lives; by default beside ``input_path``.
    epochs, seed : int
        The judge's training epochs (at least, see :func:`train_judge`) and seed
        (part of the cache key).
    device : str or torch.device, default "cpu"
        Where the judge is trained and returned.
    min_steps : int, default :data:`MIN_STEPS`
        The fewest optimisation steps (part of the cache key).
    images_per_class : int, optional
        Train on this many images of each class (:func:`training_rows`; part of the
        cache key), as the Classification Accuracy Score's classifier of real images
        is; by default on the whole training split.

    Returns
    -------
    Judge
        ``(model, test_accuracy, path, images_per_class)``, ``test_accuracy``
        measured now.

    Raises
    ------
    ValueError
        If the images are not ``(N, 1, H, W)`` or ``images_per_class`` is not an
        integer >= 1.
    """
    images = np.load(input_path, mmap_mode="r")
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected gray images of shape (N, 1, H, W) in {input_path!r}, "
                         f"got {images.shape}")
    if images_per_class is not None and (isinstance(images_per_class, bool) or not
                                         isinstance(images_per_class, int)
                                         or images_per_class < 1):
        raise ValueError(f"images_per_class must be an integer >= 1 or None, got "
                         f"{images_per_class!r}")
    key = _cache_key(input_path, metadata_path, epochs, seed, min_steps, images_per_class)
    directory = cache_dir or os.path.dirname(os.path.abspath(input_path))
    path = os.path.join(directory, f"judge_{key}.pth")
    train_labels = read_split(metadata_path, "train")[1]
    test_rows, test_labels = read_split(metadata_path, "test")
    expected = {"key": key,
                "n_classes": int(max(train_labels.max(), test_labels.max())) + 1,
                "image_shape": [int(side) for side in images.shape[-2:]],
                "images_per_class": images_per_class}
    if os.path.isfile(path):
        cached = _read_cache(path, expected, device)
        if cached is not None:
            judge, recorded = cached
            measured = accuracy_on_rows(judge, images, test_rows, test_labels)
            if abs(measured - recorded) <= ACCURACY_TOLERANCE:
                return Judge(judge, measured, path, images_per_class)
            logger.warning("the judge cache %s records a test accuracy of %.4f but the judge "
                           "scores %.4f on the test split: training it again", path,
                           recorded, measured)
    logger.info("training the judge cached as %s (%s)", path,
                "the whole training split" if images_per_class is None
                else f"{images_per_class} training images per class")
    judge, test_accuracy = train_and_score_judge(images, metadata_path, images_per_class,
                                                 epochs=epochs, seed=seed,
                                                 min_steps=min_steps, device=device)
    logger.info("judge test accuracy %.4f", test_accuracy)
    save_checkpoint(path, model={name: value.cpu() for name, value in
                                 judge.state_dict().items()}, test_accuracy=test_accuracy,
                    epochs=epochs, seed=seed, **expected)
    return Judge(judge, test_accuracy, path, images_per_class)


def _read_cache(path: str, expected: Dict[str, Any], device: Any
                ) -> Optional[Tuple[JudgeCNN, float]]:
    """The judge and its recorded accuracy from a cache file, or None (with a warning)."""
    try:
        state = load_checkpoint(path)
        mismatched = [name for name, value in expected.items() if state.get(name) != value]
        if mismatched:
            raise CheckpointError(f"its {mismatched} do not match the data set "
                                  f"(expected {expected})")
        recorded = state.get("test_accuracy")
        if isinstance(recorded, bool) or not isinstance(recorded, float) \
                or not 0 <= recorded <= 1:
            raise CheckpointError(f"its test_accuracy {recorded!r} is not a number in [0, 1]")
        judge = JudgeCNN(expected["image_shape"], expected["n_classes"])
        judge.load_state_dict(state["model"])
    except (CheckpointError, KeyError, RuntimeError, TypeError, ValueError) as error:
        logger.warning("the judge cache %s cannot be used (%s): training it again", path,
                       error)
        return None
    return judge.to(device).eval(), recorded


def _cache_key(input_path: str, metadata_path: str, epochs: int, seed: int,
               min_steps: int, images_per_class: Optional[int]) -> str:
    settings = f"judge-v{JUDGE_VERSION}-e{epochs}-m{min_steps}-s{seed}"
    if images_per_class is not None:  # the whole split's key is the one it always was
        settings += f"-p{images_per_class}"
    digest = hashlib.sha256(settings.encode())
    for path in (input_path, metadata_path):
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]
