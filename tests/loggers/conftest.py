"""A small real training for the logger tests: the tutorial's CVAE on 8 x 8 digits."""

import functools

import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plotting.values import images_from_flat
from pynet_cvae.seeding import seed_everything
from pynet_cvae.plugins.cvae import CVAE, ClassificationLoss, ConditionalSampler, DecodeLoss, VAELoss

IMAGE_SHAPE = (8, 8)
METRICS = ("loss", "ClassificationLoss", "VAELoss")

prepare_pred = functools.partial(images_from_flat, image_shape=IMAGE_SHAPE, zoom=1)


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """The digits' images and labels (written once per session)."""
    item = fetch_digits(str(tmp_path_factory.mktemp("digits")))
    images = np.load(item.input_path)
    labels = pd.read_csv(item.metadata_path, sep="\t")["label"].to_numpy()
    return images, labels


@pytest.fixture
def manager(digits):
    """160 training and 40 validation digits, flattened, inputs as targets."""
    images, labels = digits
    return DataManager.from_numpy(
        train_inputs=images[:160], train_labels=labels[:160],
        validation_inputs=images[160:200], validation_labels=labels[160:200],
        batch_size=32, input_transforms=[Flatten()], add_input=True)


def cvae_interface(*loggers, seed=0):
    """The tutorial's CVAE with its sampling observer, followed by ``loggers``."""
    seed_everything(seed)
    interface = DeepLearningInterface(
        model=CVAE(input_dim=64, hidden_dim=32, latent_dim=4, n_classes=10),
        optimizer_name="Adam", learning_rate=3e-3, loss=DecodeLoss(),
        metrics=[ClassificationLoss(), VAELoss()], progress=False)
    interface.add_observer("after_epoch", ConditionalSampler(image_shape=IMAGE_SHAPE, n_columns=4))
    for logger in loggers:
        interface.add_logger(logger)
    return interface


class Interrupt(Exception):
    """Stands for a run killed at the start of an epoch."""


def interrupt_before(epoch):
    """A ``before_epoch`` observer that stops the run when ``epoch`` starts."""
    def observer(signal):
        if signal.epoch == epoch:
            raise Interrupt(f"stopped before epoch {epoch}")
    return observer
