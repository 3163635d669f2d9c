"""The seed tutorial runs unchanged on pynet_cvae (imports renamed from pynet.).

The script's data directory and Visdom port are the only things adapted, to a
directory of MNIST-format IDX files (a Fashion-MNIST subset, kept small so the 20
epochs stay quick) and a free port. Its Board starts the Visdom server itself.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pynet_cvae.datasets.fetchers import DEBIAN_FASHION_MNIST_DIR
from pynet_cvae.datasets.idx import read_idx, write_idx

from ..servers import free_port

SCRIPT = os.path.join(os.path.dirname(__file__), "seed_tutorial.py")
SEED_DATASETDIR = '"/neurospin/nsap/datasets/minst"'
SEED_BOARD = 'port=8097, host="http://localhost"'

# The tutorial names training()'s (train, validation) histories "test_history,
# train_history"; the report reads them in that order.
REPORT = """
import json as _json
_windows = _json.loads(interface.board.viewer.get_window_data(None, "vae"))
print("REPORT " + _json.dumps({
    "windows": sorted(_windows),
    "epochs": len(test_history["loss"][0]),
    "final_loss": test_history["loss"][1][-1],
    "final_val_loss": train_history["loss"][1][-1],
}))
"""


def write_subset(datasetdir, n_train=1000, n_test=200):
    """Write the first images of Fashion-MNIST as the four MNIST IDX files."""
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images = read_idx(os.path.join(DEBIAN_FASHION_MNIST_DIR,
                                       f"{prefix}-images-idx3-ubyte.gz"))[:count]
        labels = read_idx(os.path.join(DEBIAN_FASHION_MNIST_DIR,
                                       f"{prefix}-labels-idx1-ubyte.gz"))[:count]
        write_idx(os.path.join(datasetdir, f"{prefix}-images-idx3-ubyte.gz"),
                  np.ascontiguousarray(images))
        write_idx(os.path.join(datasetdir, f"{prefix}-labels-idx1-ubyte.gz"),
                  np.ascontiguousarray(labels))


def adapted_script(datasetdir, port):
    with open(SCRIPT, encoding="utf-8") as stream:
        source = stream.read()
    assert source.count(SEED_DATASETDIR) == 1 and source.count(SEED_BOARD) == 1
    source = source.replace(SEED_DATASETDIR, repr(str(datasetdir)))
    source = source.replace(SEED_BOARD, f'port={port}, host="http://localhost"')
    return source + REPORT


def test_the_script_only_renames_the_imports():
    with open(SCRIPT, encoding="utf-8") as stream:
        source = stream.read()
    assert "import pynet." not in source and "from pynet." not in source
    assert source.count("from pynet_cvae.") == 3
    assert "nb_epochs=20" in source


@pytest.mark.visdom
@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST_DIR),
                    reason="needs Debian's dataset-fashion-mnist (installed by .ci/run)")
def test_the_seed_tutorial_runs_20_epochs_and_fills_the_board(tmp_path):
    datasetdir = tmp_path / "minst"
    datasetdir.mkdir()
    write_subset(str(datasetdir))
    script = tmp_path / "tutorial.py"
    script.write_text(adapted_script(datasetdir, free_port()))
    environment = dict(os.environ, HOME=str(tmp_path))  # Visdom keeps its envs in ~/.visdom
    environment.pop("CI_MODE", None)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=900, env=environment, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    line = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")][-1]
    report = json.loads(line[len("REPORT "):])
    assert report["epochs"] == 20
    # each metric's plot carries its training and validation curves (val_<m> is a trace)
    assert {"loss", "lr", "ClassificationLoss", "VAELoss", "val_pred",
            "sampling"} <= set(report["windows"])
    # an untrained model's loss is ~570 nats per image (543 of BCE, 23 of cross-entropy)
    assert report["final_loss"] < 400 and report["final_val_loss"] < 400
