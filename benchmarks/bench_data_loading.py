"""Data-loader throughput: our batched loaders against a plain torch DataLoader.

Run on demand (not part of the test suite)::

    python benchmarks/bench_data_loading.py            # 60,000 Fashion-MNIST images
    python benchmarks/bench_data_loading.py --quick    # a small check that it runs

One epoch of the tutorial's training data (batch 64, shuffled, each image flattened to
784 values, the image as its own target, the class as label) is loaded by:

- ``ours (memory-mapped)``: ``DataManager(...).get_dataloader(train=True).train``
  reading the ``.npy`` memory-mapped, as users do;
- ``ours (from_numpy)``: ``DataManager.from_numpy`` over the arrays in memory;
- ``torch (TensorDataset)``: ``DataLoader(TensorDataset(x, x, y), batch_size=64,
  shuffle=True)`` over the same arrays, loaded whole into tensors.

The contenders run interleaved, ``--repeats`` times each; the medians of samples per
second are printed, with their ratios to the plain DataLoader.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, NamedTuple, Optional

import numpy as np
import pandas as pd
import torch

TRAIN_IMAGES = 60000
TEST_IMAGES = 10000


class Files(NamedTuple):
    """The benchmark's data set: an ``.npy`` of images and a TSV with ``label`` and
    ``split`` (``"train"`` rows first, then ``"validation"`` rows)."""

    input_path: str
    metadata_path: str
    samples: int
    validation: int = 0


def prepare_fashion_mnist(samples: int, workdir: str, datadir: Optional[str] = None,
                          validation: int = 0) -> Files:
    """Write Fashion-MNIST images and labels to ``workdir``.

    The first ``samples`` training images, then the first ``validation`` test
    images. The data set comes from :func:`pynet_cvae.datasets.fetch_fashion_mnist`
    (Debian's ``dataset-fashion-mnist`` when installed), prepared once in ``datadir``
    (by default the per-user cache folder).
    """
    from pynet_cvae.datasets import fetch_fashion_mnist
    from pynet_cvae.datasets.fetchers import default_data_dir

    if not 1 <= samples <= TRAIN_IMAGES or not 0 <= validation <= TEST_IMAGES:
        raise ValueError(f"samples {samples!r} or validation {validation!r} out of range: "
                         f"expected 1 to {TRAIN_IMAGES} and 0 to {TEST_IMAGES}")
    item = fetch_fashion_mnist(datadir or default_data_dir("fashion-mnist"))
    metadata = pd.read_csv(item.metadata_path, sep="\t")
    split = metadata["split"].to_numpy()
    rows = np.concatenate([np.flatnonzero(split == "train")[:samples],
                           np.flatnonzero(split == "test")[:validation]])
    images = np.load(item.input_path, mmap_mode="r")
    files = Files(os.path.join(workdir, "images.npy"), os.path.join(workdir, "labels.tsv"),
                  samples, validation)
    np.save(files.input_path, np.ascontiguousarray(images[rows]))
    table = metadata.iloc[rows][["label"]].assign(
        split=np.repeat(["train", "validation"], [samples, validation]))
    table.to_csv(files.metadata_path, sep="\t", index=False)
    return files


def load_arrays(files: Files, split: str = "train"):
    """A split's images flattened to ``(N, 784)`` float32 and int64 labels, in memory."""
    rows = slice(0, files.samples) if split == "train" else slice(files.samples, None)
    images = np.load(files.input_path)[rows]
    labels = np.array(pd.read_csv(files.metadata_path, sep="\t")["label"], dtype=np.int64)
    return images.reshape(len(images), 28 * 28), labels[rows]


def tutorial_manager(files: Files, batch_size: int):
    """The tutorial's DataManager over ``files``: one fold (with its validation rows)."""
    from pynet_cvae.datasets import DataManager
    from pynet_cvae.datasets.transforms import Flatten

    splits = {"train": {"split": "train"}}
    if files.validation:
        splits["validation"] = {"split": "validation"}
    return DataManager(files.input_path, files.metadata_path, labels=["label"],
                       custom_stratification=splits, number_of_folds=1,
                       batch_size=batch_size, input_transforms=[Flatten()], add_input=True)


def _epoch_rate(loader) -> float:
    """Samples per second of one pass over ``loader`` (touching every tensor)."""
    start, samples = time.perf_counter(), 0
    for batch in loader:
        samples += len(batch[0])
    return samples / (time.perf_counter() - start)


def build_loaders(files: Files, batch_size: int) -> Dict[str, Callable[[], object]]:
    """Each contender: a function returning an iterable over one epoch."""
    from pynet_cvae.datasets import DataManager
    from pynet_cvae.datasets.transforms import Flatten

    images, labels = load_arrays(files)
    mapped = tutorial_manager(files, batch_size).get_dataloader(train=True).train
    in_memory = DataManager.from_numpy(
        train_inputs=images, train_labels=labels, batch_size=batch_size,
        input_transforms=[Flatten()], add_input=True).get_dataloader(train=True).train
    tensors = torch.from_numpy(images), torch.from_numpy(labels)
    plain = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(tensors[0], tensors[0], tensors[1]),
        batch_size=batch_size, shuffle=True)
    return {"ours (memory-mapped)": lambda: mapped, "ours (from_numpy)": lambda: in_memory,
            "torch (TensorDataset)": lambda: plain}


def run(files: Files, batch_size: int, repeats: int) -> Dict[str, List[float]]:
    """Run the contenders interleaved; return each one's samples per second."""
    loaders = build_loaders(files, batch_size)
    rates: Dict[str, List[float]] = {name: [] for name in loaders}
    for name, loader in loaders.items():  # warm up: page cache, first-touch allocations
        _epoch_rate(loader())
    for _ in range(repeats):
        for name, loader in loaders.items():
            rates[name].append(_epoch_rate(loader()))
    return rates


def report(rates: Dict[str, List[float]], baseline: str) -> None:
    """Print the median rate of each contender and its ratio to ``baseline``."""
    reference = statistics.median(rates[baseline])
    print(f"{'loader':<24}{'median samples/s':>18}{'ratio':>8}   runs")
    for name, values in rates.items():
        median = statistics.median(values)
        runs = ", ".join(f"{value:,.0f}" for value in values)
        print(f"{name:<24}{median:>18,.0f}{median / reference:>8.2f}   {runs}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=TRAIN_IMAGES)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--datadir", help="where Fashion-MNIST is prepared (cached)")
    parser.add_argument("--quick", action="store_true", help="3,000 images, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = min(args.samples, 3000), 2
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_data_loading_") as workdir:
        files = prepare_fashion_mnist(args.samples, workdir, args.datadir)
        print(f"Fashion-MNIST: {files.samples} images, batch {args.batch_size}, "
              f"{args.repeats} interleaved runs, {args.threads} threads")
        report(run(files, args.batch_size, args.repeats), "torch (TensorDataset)")


if __name__ == "__main__":
    main()
