"""The built-in stateful observers."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.observable import SignalObject
from pynet_cvae.observers import EarlyStopping
from pynet_cvae.registry import Observers


class Emitter:
    stop_training = False


def feed(stopper, values, fold=0, emitter=None):
    emitter = emitter or Emitter()
    for epoch, value in enumerate(values):
        stopper(SignalObject(emitter, "after_epoch", epoch=epoch, fold=fold, val_loss=value))
        if emitter.stop_training:
            return epoch
    return None


def test_stops_after_patience_epochs_without_improvement():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert feed(stopper, [1.0, 0.8, 0.75, 0.72, 0.5]) == 3
    assert (stopper.best, stopper.wait, stopper.stopped_epoch) == (0.8, 2, 3)


def test_mode_max_and_nan_never_improves():
    stopper = EarlyStopping(monitor="val_loss", patience=1, mode="max")
    assert feed(stopper, [0.1, 0.2, float("nan")]) == 2


def test_a_new_fold_starts_afresh():
    stopper = EarlyStopping(patience=1)
    assert feed(stopper, [1.0, 2.0], fold=0) == 1
    assert feed(stopper, [3.0], fold=1) is None and stopper.best == 3.0


def test_state_round_trip():
    stopper = EarlyStopping(patience=3)
    feed(stopper, [1.0, 2.0])
    restored = EarlyStopping(patience=3)
    restored.load_state_dict(stopper.state_dict())
    assert restored.state_dict() == stopper.state_dict()
    assert feed(restored, [2.0, 2.0]) == feed(stopper, [2.0, 2.0]) == 1
    with pytest.raises(ValueError, match="watches 'loss' \\(min\\) but the saved state "
                                         "watched 'val_loss' \\(min\\)"):
        EarlyStopping(monitor="loss").load_state_dict(stopper.state_dict())


def test_a_missing_monitored_value_is_a_clear_error():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    manager = DataManager.from_numpy(train_inputs=x, train_labels=(x[:, 0] > 0).astype(int))
    interface = DeepLearningInterface(model=torch.nn.Linear(3, 2), progress=False,
                                      loss_name="CrossEntropyLoss")
    interface.add_observer("after_epoch", EarlyStopping(monitor="val_loss"))
    with pytest.raises(ValueError, match="EarlyStopping monitors 'val_loss' but the "
                                         "after_epoch signal carries \\['epoch', 'fold', "
                                         "'scheduler', 'loss'\\]; train with validation"):
        interface.training(manager, nb_epochs=1)


@pytest.mark.parametrize("options, message", [
    ({"patience": 0}, "patience must be an integer >= 1, got 0"),
    ({"min_delta": -1}, "min_delta must be a number >= 0, got -1"),
    ({"mode": "lowest"}, "mode 'lowest' unknown; expected 'min' or 'max'"),
    ({"monitor": ""}, "monitor must be the name of a signal value, got ''"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**options)


def test_registered_as_an_observer():
    assert Observers.get("EarlyStopping") is EarlyStopping
