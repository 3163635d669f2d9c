"""Fixtures of the CVAE plugin's tests: the embedded digits, their judge, a trained model."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import ConditionalCVAE
from pynet_cvae.plugins.cvae.judge import load_or_train_judge

from ...threads import torch_threads


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """The prepared digits (8 x 8 images, label and split columns)."""
    return fetch_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="session")
def digits_judge(digits):
    """The digits' judge, trained once and cached beside the data."""
    with torch_threads(1):
        return load_or_train_judge(digits.input_path, digits.metadata_path, min_steps=300)


@pytest.fixture(scope="session")
def trained_conditional(digits):
    """A ConditionalCVAE trained for a few epochs on the digits' training split."""
    torch.manual_seed(0)
    manager = DataManager(
        input_path=digits.input_path, metadata_path=digits.metadata_path, labels=["label"],
        projection_labels={"split": "train"}, number_of_folds=1, batch_size=64,
        test_size=0, input_transforms=[Flatten()], add_input=True)
    model = ConditionalCVAE(input_dim=64, hidden_dim=64, latent_dim=8, n_classes=10,
                            consistency_samples=16)
    interface = DeepLearningInterface(
        model=model, learning_rate=3e-3, add_labels=True, progress=False,
        loss=model.objective)
    with torch_threads(1):
        interface.training(manager, nb_epochs=5, fold_index=0, with_validation=False)
    return model.eval()


def digit_images(digits, split="test", count=None):
    """Flattened float32 images of a split and their labels."""
    import pandas as pd

    metadata = pd.read_csv(digits.metadata_path, sep="\t")
    rows = np.flatnonzero(metadata["split"].to_numpy() == split)[:count]
    images = np.load(digits.input_path)[rows].reshape(len(rows), -1)
    return torch.from_numpy(images), torch.from_numpy(metadata["label"].to_numpy()[rows])
