"""Fixtures of the DataManager tests: real .npy and .tsv files in a temporary folder."""

from collections import namedtuple

import numpy as np
import pandas as pd
import pytest

Files = namedtuple("Files", ["input_path", "output_path", "metadata_path", "inputs", "outputs",
                             "metadata"])


def row_ids(batch_inputs) -> list:
    """The rows a batch of inputs came from (each sample starts with its row number)."""
    flat = batch_inputs.reshape(len(batch_inputs), -1)
    return [int(round(float(value))) for value in flat[:, 0]]


def write_files(folder, rows=100, labels=None, shape=(1, 4, 4)) -> Files:
    """Write inputs whose first value is the row number, outputs, and metadata."""
    size = int(np.prod(shape))
    inputs = (np.arange(rows)[:, None] + np.arange(size)[None, :] / (10 * size))
    inputs = inputs.reshape((rows,) + tuple(shape)).astype(np.float32)
    outputs = (-inputs[:, :1]).astype(np.float32)
    labels = np.arange(rows) % 4 if labels is None else np.asarray(labels)
    metadata = pd.DataFrame({
        "label": labels,
        "age": 20.5 + np.arange(rows) / 2,
        "site": np.where(np.arange(rows) % 2 == 0, "paris", "lyon"),
        "diagnosis": np.where(np.arange(rows) % 3 == 0, "patient", "control"),
    })
    paths = [str(folder / name) for name in ("inputs.npy", "outputs.npy", "metadata.tsv")]
    np.save(paths[0], inputs)
    np.save(paths[1], outputs)
    metadata.to_csv(paths[2], sep="\t", index=False)
    return Files(paths[0], paths[1], paths[2], inputs, outputs, metadata)


def batches_over_epochs(loader, epochs: int) -> list:
    """The batches of ``epochs`` successive epochs (each chosen with ``set_epoch``)."""
    batches = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        batches.extend(loader)
    return batches


@pytest.fixture
def rows_of():
    """The :func:`row_ids` helper, as a fixture."""
    return row_ids


@pytest.fixture
def files(tmp_path) -> Files:
    """100 samples of shape (1, 4, 4), 4 balanced classes in column 'label'."""
    return write_files(tmp_path)


@pytest.fixture
def make_files(tmp_path):
    """Factory: ``make_files(rows=..., labels=..., shape=...)`` in a fresh sub-folder."""
    counter = iter(range(1000))

    def make(**options) -> Files:
        folder = tmp_path / f"set{next(counter)}"
        folder.mkdir()
        return write_files(folder, **options)

    return make
