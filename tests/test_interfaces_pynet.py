"""DeepLearningInterface as pynet code drives it: pynet's methods, signals and returns."""

import json
import os

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.datasets import DataManager
from pynet_cvae.history import History
from pynet_cvae.interfaces import DeepLearningInterface, NetParameters
from pynet_cvae.registry import Networks


@pytest.fixture
def manager():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:16],
                                  validation_labels=y[:16], test_inputs=x[:20],
                                  test_labels=y[:20], batch_size=16)


def interface_of(**options):
    torch.manual_seed(0)
    arguments = dict(model=torch.nn.Linear(6, 2), optimizer_name="SGD", momentum=0.9,
                     learning_rate=0.1, loss_name="CrossEntropyLoss", progress=False)
    arguments.update(options)
    return DeepLearningInterface(**arguments)


def test_metrics_by_pynets_names_are_reported_under_those_names(manager):
    interface = interface_of(metrics=["accuracy"])
    train, validation = interface.training(manager, nb_epochs=4)
    steps, accuracy = train["accuracy"]
    assert steps == [(0, epoch) for epoch in range(4)]
    assert accuracy[-1] > 0.8 and 0 <= validation["accuracy"][1][-1] <= 1


def test_binary_metrics_of_one_logit_per_sample():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    manager = DataManager.from_numpy(train_inputs=x, train_outputs=y, batch_size=16)
    names = ["binary_accuracy", "binary_precision", "sk_accuracy", "f1_score"]
    interface = interface_of(model=torch.nn.Linear(6, 1), loss_name="BCEWithLogitsLoss",
                             metrics=names)
    assert list(interface.metrics) == names  # two SKMetrics objects, two names
    train, _ = interface.training(manager, nb_epochs=5, with_validation=False)
    assert train["binary_accuracy"][1][-1] == pytest.approx(train["sk_accuracy"][1][-1])
    assert train["binary_accuracy"][1][-1] > 0.8


def test_before_and_after_epoch_always_carry_the_scheduler(manager):
    seen = []
    interface = interface_of()
    for signal in ("before_epoch", "after_epoch"):
        interface.add_observer(signal, lambda s: seen.append((s.signal, s.keys[:3],
                                                              s.scheduler)))
    interface.training(manager, nb_epochs=1)
    assert seen == [("before_epoch", ["epoch", "fold", "scheduler"], None),
                    ("after_epoch", ["epoch", "fold", "scheduler"], None)]
    seen.clear()
    scheduler = torch.optim.lr_scheduler.StepLR(interface.optimizer, step_size=1)
    interface.training(manager, nb_epochs=1, scheduler=scheduler)
    assert [item[2] for item in seen] == [scheduler, scheduler]


def test_an_observer_added_twice_is_called_once(manager):
    calls = []

    def count(signal):
        calls.append(signal.epoch)

    interface = interface_of()
    interface.add_observer("after_epoch", count)
    interface.add_observer(signal="after_epoch", observer=count)
    interface.training(manager, nb_epochs=2)
    assert calls == [0, 1]


def test_without_validation_the_second_history_is_empty(manager):
    train, validation = interface_of().training(manager, nb_epochs=2, with_validation=False)
    assert isinstance(validation, History) and len(validation) == 0
    assert validation.name == "validation" and len(train) == 2


def test_training_accepts_add_labels(manager):
    class Conditional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(7, 2)

        def forward(self, x, labels):
            return self.linear(torch.cat([x, labels[:, None].float()], dim=1))

    interface = interface_of(model=Conditional())
    train, _ = interface.training(manager, nb_epochs=1, add_labels=True)
    assert interface.add_labels is True and len(train) == 1


@pytest.mark.parametrize("wrap", [lambda y: [y], lambda y: (y,), lambda y: [y, {"y": y}],
                                  lambda y: (y, None)])
def test_models_and_losses_may_return_pynets_lists_and_tuples(manager, wrap):
    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(6, 2)

        def forward(self, x):
            return wrap(self.linear(x))

    cross_entropy = torch.nn.CrossEntropyLoss()

    def loss(prediction, labels):
        return wrap(cross_entropy(prediction, labels))

    train, _ = interface_of(model=Wrapped(), loss=loss).training(manager, nb_epochs=1)
    assert np.isfinite(train["loss"][1][0])


def test_pynets_train_and_test_methods(manager):
    interface = interface_of(metrics=["accuracy"])
    loaders = manager.get_dataloader(train=True, validation=True)
    loss, values = interface.train(loaders.train)
    assert isinstance(loss, float) and set(values) == {"accuracy"}
    y_pred, test_loss, test_values = interface.test(loaders.validation, with_logit=True,
                                                    predict=True, is_validation=True)
    assert y_pred.shape == (16,) and set(np.unique(y_pred)) <= {0, 1}
    assert isinstance(test_loss, float) and set(test_values) == {"accuracy"}
    y_pred, X, y_true, _, _ = interface.testing(manager, with_logit=True, predict=True)
    assert y_pred.shape == y_true.shape == (20,) and X.shape == (20, 6)


def test_checkpoints_write_pynets_per_epoch_json_histories(manager, tmp_path):
    interface = interface_of()
    interface.training(manager, nb_epochs=3, checkpointdir=str(tmp_path))
    for name in ("train", "validation"):
        for epoch in range(3):
            saved = History.load(str(tmp_path / f"{name}_0_epoch_{epoch}.json"))
            assert saved.steps == [(0, step) for step in range(epoch + 1)]
        # pynet's script loads the .pkl name: the JSON beside it is read
        assert History.load(file_name=str(tmp_path / f"{name}_0_epoch_2.pkl")).name == name
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".pkl")]
    assert json.loads((tmp_path / "train_0_epoch_1.json").read_text())["times"][0] > 0


def test_pretrained_keeps_the_checkpoint_and_resume_flag(manager, tmp_path):
    interface = interface_of()
    interface.training(manager, nb_epochs=2, checkpointdir=str(tmp_path))
    path = str(tmp_path / "model_0_epoch_1.pth")
    loaded = interface_of(pretrained=path)
    assert loaded.resume is False and loaded.checkpoint["epoch"] == 1
    torch.testing.assert_close(loaded.checkpoint["model"], load_checkpoint(path)["model"])
    assert interface_of().checkpoint is None
    resumed = interface_of(pretrained=str(tmp_path), resume=True)
    assert resumed.resume is True and resumed.checkpoint["epoch"] == 1


def test_net_parameters_build_a_registered_network():
    @Networks.register(name="PynetStyleNet")
    class PynetStyleNet(torch.nn.Linear):
        pass

    try:
        parameters = NetParameters(in_features=6)
        parameters.out_features = 2
        interface = interface_of(model="PynetStyleNet", model_kwargs=parameters)
        assert interface.model.out_features == 2
        assert parameters.net_kwargs == {"in_features": 6, "out_features": 2}
    finally:
        Networks.unregister("PynetStyleNet")
