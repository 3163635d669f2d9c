"""The original pynet (PyPI ``python-network`` 0.0.1) running the tutorial's recipe.

pynet is used as its CVAE tutorial uses it: ``DataManager(..., labels=["label"],
stratify_label="label", number_of_folds=10, batch_size=64, test_size=0,
input_transforms=[flatten], add_input=True)`` with the tutorial's per-sample
``flatten`` and ``DeepLearningInterface(model=..., optimizer_name="Adam",
learning_rate=0.001, metrics=[...], loss=...)``. Its model and losses are the same
objects as every other contender's (``pynet_cvae.plugins.cvae``), which compute
what the tutorial's classes compute.

It is installed with ``--no-deps`` (its pins, e.g. ``scipy<1.6`` and
``Pillow==6.2.1``, cannot install on a current Python) plus the modules it imports;
see ``benchmarks/README.md``. One shim is needed, applied only in this process:

* ``import pynet`` imports every pynet model, among them subclasses of
  ``torchvision.models`` classes. The only torchvision for torch 2.13 on PyPI is
  the CUDA build, whose compiled extension cannot load beside the CPU build of
  torch, and whose ``_meta_registrations`` then fails on
  ``register_fake("torchvision::nms")`` ("operator torchvision::nms does not
  exist"). When (and only when) that happens, :func:`import_torchvision` declares
  the schemas of ``torchvision::nms`` and ``torchvision::qnms`` (no kernel: the
  benchmark never calls them) and imports torchvision again. torchvision lives in
  a folder of its own (``--pynet-extra-path``), put on ``sys.path`` in this
  process only, so that Lightning's torchmetrics does not see the broken build.

NumPy 2 brought ``np.bool`` back, so pynet's ``mask.astype(np.bool)`` works as it is.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Dict, Optional

import numpy as np
import torch

import recipe

#: Keeps the shim's operator library alive (torch drops its schemas with it).
_TORCHVISION_SCHEMAS: Optional[torch.library.Library] = None


def flatten(array: np.ndarray) -> np.ndarray:
    """The tutorial's per-sample input transform: an image to a vector."""
    return array.reshape(-1)


def import_torchvision() -> None:
    """Import torchvision, declaring its NMS operators when its extension cannot load."""
    global _TORCHVISION_SCHEMAS
    try:
        importlib.import_module("torchvision")
        return
    except ModuleNotFoundError as error:
        if error.name != "torchvision":
            raise
        raise ModuleNotFoundError(
            "torchvision not found, which the original pynet imports: install it with "
            "'pip install --no-deps --target <venv>/pynet-extras torchvision' and give "
            "that folder as --pynet-extra-path (see benchmarks/README.md)",
            name="torchvision") from None
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
    for module in [name for name in sys.modules
                   if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[module]
    _TORCHVISION_SCHEMAS = torch.library.Library("torchvision", "DEF")
    for operator in ("nms", "qnms"):
        _TORCHVISION_SCHEMAS.define(
            f"{operator}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    importlib.import_module("torchvision")


def import_pynet(extra_path: Optional[str]):
    """Import pynet's interface and data manager (after the torchvision shim)."""
    if extra_path:
        sys.path.insert(0, extra_path)
    import_torchvision()
    from pynet.datasets import DataManager
    from pynet.interfaces import DeepLearningInterface

    return DataManager, DeepLearningInterface


class OriginalPynet:
    """pynet's DeepLearningInterface and DataManager, as its CVAE tutorial writes them.

    Parameters
    ----------
    options : dict
        The worker's options; ``pynet_extra_path`` is the folder holding torchvision.
    with_validation : bool
        Run the tutorial's validation pass after each epoch.
    """

    def __init__(self, options: Dict[str, Any], with_validation: bool) -> None:
        if options["device"] not in ("cpu", "cuda"):
            raise ValueError(f"device {options['device']!r} not available with pynet: "
                             "expected 'cpu' or 'cuda' (its use_cuda=True means the "
                             "default CUDA device)")
        DataManager, DeepLearningInterface = import_pynet(options.get("pynet_extra_path"))
        files = options["files"]
        self.manager = DataManager(
            input_path=files.input_path, metadata_path=files.metadata_path,
            labels=["label"], stratify_label="label",
            number_of_folds=recipe.NUMBER_OF_FOLDS, batch_size=recipe.BATCH_SIZE,
            test_size=0, input_transforms=[flatten], add_input=True, sample_size=1)
        self.interface = DeepLearningInterface(
            model=recipe.build_model(), optimizer_name="Adam",
            learning_rate=recipe.LEARNING_RATE,
            metrics=recipe.build_metrics() if options["metrics"] else None,
            loss=recipe.build_loss(), use_cuda=options["device"].startswith("cuda"))
        self.with_validation = with_validation
        self.samples_per_epoch = len(self.manager["train"][0])

    def run(self, epochs: int, pacer: Any) -> None:
        self.interface.add_observer("before_epoch", pacer.epoch_start)
        self.interface.training(manager=self.manager, nb_epochs=epochs, checkpointdir=None,
                                fold_index=0, with_validation=self.with_validation)
