import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import (
    DecodeLoss, KLWarmup, SemiSupervisedCVAE, TemperatureSchedule)


def test_kl_warmup_rises_linearly_to_one():
    warmup = KLWarmup(epochs=3)
    assert [warmup.weight(epoch) for epoch in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert KLWarmup(epochs=0).weight(0) == 1.0
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got -1"):
        KLWarmup(epochs=-1)


def test_temperature_anneals_geometrically():
    schedule = TemperatureSchedule(start=1.0, end=0.25, epochs=2)
    assert [schedule.temperature(epoch) for epoch in range(4)] == pytest.approx(
        [1.0, 0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        TemperatureSchedule(start=0.0)


def test_schedules_set_the_loss_and_model_before_each_epoch():
    torch.manual_seed(0)
    images = np.random.default_rng(0).random((40, 16)).astype(np.float32)
    labels = np.where(np.arange(40) % 2, -1, np.arange(40) % 4)
    manager = DataManager.from_numpy(train_inputs=images, train_labels=labels,
                                     missing_label=-1, batch_size=20, add_input=True)
    model = SemiSupervisedCVAE(input_dim=16, hidden_dim=8, latent_dim=2, n_classes=4,
                               image_shape=(4, 4), unlabelled="sample", kl_weight=4.0)
    interface = DeepLearningInterface(model=model, loss=model.objective,
                                      add_labels=True, progress=False)
    seen = []
    interface.add_observer("before_epoch", KLWarmup(epochs=2))
    interface.add_observer("before_epoch", TemperatureSchedule(2.0, 0.5, epochs=2))
    interface.add_observer("before_epoch", lambda signal: seen.append(
        (signal.object.loss["kl"].effective_weight, signal.object.model.temperature)))
    interface.training(manager, nb_epochs=3, with_validation=False)
    # the warm-up scales the model's own weight (a beta of 4): 4/3, 8/3, then 4
    assert seen == [(pytest.approx(4 / 3), 2.0), (pytest.approx(8 / 3), 1.0), (4.0, 0.5)]
    assert model.objective["kl"].weight == 4.0


def test_schedules_name_what_they_need():
    class Signal:
        epoch = 0

        class object:
            loss = DecodeLoss()
            model = torch.nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="a KL term .* kl_weight attribute; got DecodeLoss"):
        KLWarmup(2)(Signal())
    with pytest.raises(AttributeError, match="temperature attribute .* got Linear"):
        TemperatureSchedule()(Signal())
