"""Peak memory of training on a memory-mapped ``.npy`` far larger than that peak.

Run on demand (not part of the test suite)::

    python benchmarks/bench_memory.py                  # a 4 GB data set (and a 0.5 GB one)
    python benchmarks/bench_memory.py --size-gb 8 --tmpdir /data/tmp
    python benchmarks/bench_memory.py --quick          # a small check that it runs

The benchmark writes, into a temporary folder (removed afterwards), an ``.npy`` of
random 28 x 28 float32 images of ``--size-gb`` GB, chunk by chunk, and a TSV of random
labels; then, in a child process, it trains the tutorial's recipe (CVAE 784-128-20, 10
classes, ``DecodeLoss(10)``, Adam 1e-3, batch 64) for one epoch over every image
through ``DataManager`` (memory-mapped input, NaN check at preparation) and
``DeepLearningInterface``. It prints the child's peak resident memory (``ru_maxrss``)
and the ratio of the data file's size to it (the goal: at least 4). A second, smaller
data set (an eighth of the size) shows that the peak does not grow with the data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

IMAGE_SHAPE = (1, 28, 28)
IMAGE_BYTES = 4 * 28 * 28
CHUNK_IMAGES = 16384


def write_data_set(folder: str, size_bytes: int, seed: int = 0) -> int:
    """Write ``images.npy`` (about ``size_bytes``) and ``labels.tsv``; return N.

    The array is streamed to the file chunk by chunk: memory stays bounded.
    """
    count = max(1, size_bytes // IMAGE_BYTES)
    rng = np.random.default_rng(seed)
    with open(os.path.join(folder, "images.npy"), "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": False, "shape": (count,) + IMAGE_SHAPE})
        for start in range(0, count, CHUNK_IMAGES):
            rows = min(CHUNK_IMAGES, count - start)
            stream.write(rng.random((rows,) + IMAGE_SHAPE, dtype=np.float32).tobytes())
    with open(os.path.join(folder, "labels.tsv"), "w", encoding="utf-8") as stream:
        stream.write("label\n")
        for start in range(0, count, CHUNK_IMAGES * 16):
            labels = rng.integers(0, 10, min(CHUNK_IMAGES * 16, count - start))
            stream.write("\n".join(map(str, labels.tolist())) + "\n")
    return count


def train_child(folder: str, threads: int) -> None:
    """In the child: train one epoch over the whole data set, print a JSON summary."""
    import torch

    from pynet_cvae.datasets import DataManager
    from pynet_cvae.datasets.transforms import Flatten
    from pynet_cvae.interfaces import DeepLearningInterface
    from pynet_cvae.plugins.cvae import CVAE, ClassificationLoss, DecodeLoss, VAELoss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    manager = DataManager(os.path.join(folder, "images.npy"),
                          os.path.join(folder, "labels.tsv"), labels=["label"],
                          number_of_folds=1, test_size=0, batch_size=64,
                          input_transforms=[Flatten()], add_input=True)
    prepared = time.perf_counter()
    interface = DeepLearningInterface(
        model=CVAE(input_dim=784, hidden_dim=128, latent_dim=20, n_classes=10),
        optimizer_name="Adam", learning_rate=1e-3, loss=DecodeLoss(10.0),
        metrics=[ClassificationLoss(), VAELoss()], progress=False)
    history, _ = interface.training(manager, nb_epochs=1, fold_index=0,
                                    with_validation=False)
    print(json.dumps({
        "samples": len(manager["train"][0]), "prepare_s": prepared - start,
        "train_s": time.perf_counter() - prepared, "loss": history["loss"][1][-1],
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def measure(folder: str, threads: int) -> dict:
    """Run :func:`train_child` in a child process; return its summary."""
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", folder,
         "--threads", str(threads)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the training child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(size_bytes: int, tmpdir: str, threads: int) -> None:
    """Generate, train and report for the large data set and one of an eighth its size."""
    workdir = tempfile.mkdtemp(prefix="bench_memory_", dir=tmpdir)
    try:
        print(f"{'data file':>12} {'images':>10} {'peak RSS':>10} {'file/peak':>10} "
              f"{'prepare':>8} {'train':>8}")
        for size in (size_bytes // 8, size_bytes):
            folder = os.path.join(workdir, str(size))
            os.mkdir(folder)
            write_data_set(folder, size)
            file_bytes = os.path.getsize(os.path.join(folder, "images.npy"))
            summary = measure(folder, threads)
            peak = summary["maxrss_kib"] * 1024
            print(f"{file_bytes / 2 ** 30:>9.2f} GB {summary['samples']:>10,} "
                  f"{peak / 2 ** 20:>7.0f} MB {file_bytes / peak:>10.1f} "
                  f"{summary['prepare_s']:>7.1f}s {summary['train_s']:>7.0f}s")
            shutil.rmtree(folder)
        verdict = "OK" if file_bytes >= 4 * peak else "below the goal of 4x"
        print(f"largest data file / peak resident memory: {file_bytes / peak:.1f}x ({verdict})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=4.0)
    parser.add_argument("--tmpdir", help="folder of the temporary data (default: $TMPDIR)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a 0.1 GB data set")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        train_child(args.child, args.threads)
        return
    size = 0.1 if args.quick else args.size_gb
    print(f"training one epoch on generated memory-mapped data, {args.threads} threads")
    run(int(size * 2 ** 30), args.tmpdir, args.threads)


if __name__ == "__main__":
    main()
