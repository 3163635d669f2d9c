"""CIFAR-10 binary files written by hand for the tests (the official format: each
record is one label byte then 3x32x32 pixel bytes, red then green then blue)."""

import io
import tarfile
from pathlib import Path
from typing import List, Tuple

import numpy as np

BATCH_NAMES = [f"data_batch_{number}.bin" for number in range(1, 6)] + ["test_batch.bin"]
FOLDER = "cifar-10-batches-bin"


def records(count: int, seed: int, separable: bool = False
            ) -> Tuple[np.ndarray, np.ndarray, bytes]:
    """``(labels, pixels, bytes)`` of ``count`` records; ``separable`` gives each class
    its own colour (plus noise) so that a network can learn them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    if separable:
        colours = np.random.default_rng(99).integers(30, 225, (10, 3))
        pixels = colours[labels][:, :, None] + rng.normal(0, 30, (count, 3, 1024))
        pixels = np.clip(pixels, 0, 255).astype(np.uint8).reshape(count, -1)
    else:
        pixels = rng.integers(0, 256, (count, 3 * 32 * 32)).astype(np.uint8)
        pixels[0, :2] = (0, 255)
    return labels, pixels, np.concatenate([labels[:, None], pixels], axis=1).tobytes()


def batches(per_file: int, separable: bool = False) -> List[Tuple[np.ndarray, np.ndarray,
                                                                   bytes]]:
    """The records of the six batch files, ``per_file`` each."""
    return [records(per_file, seed, separable) for seed in range(len(BATCH_NAMES))]


def write_folder(directory: Path, parts) -> Path:
    """Write ``parts`` as the extracted ``cifar-10-batches-bin`` folder."""
    folder = Path(directory) / FOLDER
    folder.mkdir(parents=True)
    for name, (_, _, data) in zip(BATCH_NAMES, parts):
        (folder / name).write_bytes(data)
    return folder


def archive(parts) -> bytes:
    """``parts`` as the bytes of ``cifar-10-binary.tar.gz``."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w:gz") as tar:
        for name, (_, _, data) in zip(BATCH_NAMES, parts):
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return stream.getvalue()
