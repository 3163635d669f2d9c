import pytest

from pynet_cvae.observable import SIGNALS, Observable, SignalObject


def test_observer_receives_a_signal_object_with_every_value():
    emitter = Observable(["after_epoch"])
    received = []
    emitter.add_observer("after_epoch", received.append)
    emitter.notify_observers("after_epoch", epoch=3, loss=0.5)
    (signal,) = received
    assert isinstance(signal, SignalObject)
    assert signal.object is emitter
    assert signal.signal == "after_epoch"
    assert signal.keys == ["epoch", "loss"]
    assert (signal.epoch, signal.loss) == (3, 0.5)


def test_notify_returns_the_non_none_returns_in_order():
    emitter = Observable(["regularizer"])
    emitter.add_observer("regularizer", lambda signal: 1)
    emitter.add_observer("regularizer", lambda signal: None)
    emitter.add_observer("regularizer", lambda signal: 2)
    assert emitter.notify_observers("regularizer") == [1, 2]


def test_unknown_signal_is_a_clear_error_everywhere():
    emitter = Observable(["after_epoch"])
    for call in (lambda: emitter.add_observer("after_epok", print),
                 lambda: emitter.remove_observer("after_epok", print),
                 lambda: emitter.notify_observers("after_epok")):
        with pytest.raises(ValueError, match="after_epok.*allowed signals.*after_epoch"):
            call()


def test_remove_observer_stops_the_calls():
    emitter = Observable(["done"])
    calls = []
    callback = calls.append
    emitter.add_observer("done", callback)
    emitter.remove_observer("done", callback)
    emitter.notify_observers("done")
    assert calls == []
    with pytest.raises(ValueError, match="is not an observer of signal 'done'"):
        emitter.remove_observer("done", callback)


def test_a_callback_must_be_callable():
    with pytest.raises(TypeError, match="must be callable"):
        Observable(["done"]).add_observer("done", 42)


def test_nested_notifications_are_delivered():
    emitter = Observable(["outer", "inner"])
    seen = []
    emitter.add_observer("inner", lambda signal: seen.append(("inner", signal.value)))
    emitter.add_observer(
        "outer", lambda signal: signal.object.notify_observers("inner", value=signal.value))
    emitter.notify_observers("outer", value=7)
    assert seen == [("inner", 7)]


def test_the_training_signals_are_listed_with_their_values():
    assert {"before_epoch", "after_epoch", "regularizer"} <= set(SIGNALS)
    assert "layer_outputs" in SIGNALS["regularizer"]
    assert {"epoch", "fold", "loss", "val_loss", "val_pred"} <= set(SIGNALS["after_epoch"])


class Counter:
    def __init__(self):
        self.count = 0

    def __call__(self, signal):
        self.count += 1

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]


def test_observer_states_are_saved_and_restored_by_signal_and_position():
    emitter = Observable(["after_epoch", "before_epoch"])
    first, second = Counter(), Counter()
    emitter.add_observer("after_epoch", print)  # stateless: not saved
    emitter.add_observer("after_epoch", first)
    emitter.add_observer("before_epoch", second)
    for _ in range(3):
        emitter.notify_observers("after_epoch")
    states = emitter.observer_states()
    assert states == {
        "after_epoch[1]": {"type": "tests.test_observable.Counter", "state": {"count": 3}},
        "before_epoch[0]": {"type": "tests.test_observable.Counter", "state": {"count": 0}}}
    restored = Observable(["after_epoch", "before_epoch"])
    restored.add_observer("after_epoch", print)
    restored.add_observer("after_epoch", Counter())
    restored.add_observer("before_epoch", Counter())
    restored.load_observer_states(states)
    assert restored.observer_states() == states


def test_missing_or_extra_observer_states_are_warnings(caplog):
    emitter = Observable(["after_epoch"])
    emitter.add_observer("after_epoch", Counter())
    with caplog.at_level("WARNING", logger="pynet_cvae"):
        emitter.load_observer_states({"before_epoch[0]": {"type": "x.Y", "state": {}}})
    text = caplog.text
    assert "no saved state for observer after_epoch[0]" in text
    assert "holds the state of observer before_epoch[0] (x.Y) but none is attached" in text


def test_an_observer_added_twice_is_called_once():
    emitter = Observable(["done"])
    calls = []
    emitter.add_observer("done", calls.append)
    emitter.add_observer(signal="done", observer=calls.append)  # pynet's keyword names
    emitter.notify_observers("done")
    assert len(calls) == 1 and len(emitter.observers("done")) == 1


def test_every_filters_by_the_signal_counter_and_unwraps_for_removal():
    emitter = Observable(["after_step", "after_epoch", "done"])
    seen = {"steps": [], "epochs": [], "done": []}
    step_observer = lambda signal: seen["steps"].append(signal.step)  # noqa: E731
    emitter.add_observer("after_step", step_observer, every=3)
    emitter.add_observer("after_epoch", lambda signal: seen["epochs"].append(signal.epoch),
                         every=2)
    emitter.add_observer("done", lambda signal: seen["done"].append(1), every=2)
    for step in range(7):
        emitter.notify_observers("after_step", step=step)
    for epoch in range(5):
        emitter.notify_observers("after_epoch", epoch=epoch)
    for _ in range(5):
        emitter.notify_observers("done")
    assert seen == {"steps": [2, 5], "epochs": [1, 3], "done": [1, 1]}
    assert emitter.observers("after_step") == [step_observer]
    emitter.remove_observer("after_step", step_observer)
    assert not emitter.has_observers("after_step")
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        emitter.add_observer("done", print, every=0)


def test_the_step_signals_are_in_the_table():
    assert SIGNALS["before_step"] == ("step", "epoch", "fold")
    assert set(SIGNALS["after_step"]) >= {"step", "loss", "values", "batch_size"}


def test_training_emits_the_step_pair_around_each_optimizer_step():
    import torch

    from pynet_cvae.datasets import DataManager
    from pynet_cvae.interfaces import DeepLearningInterface

    torch.manual_seed(0)
    x = torch.rand(24, 3)
    manager = DataManager.from_numpy(train_inputs=x.numpy(), train_outputs=x.numpy(),
                                     batch_size=8)
    interface = DeepLearningInterface(model=torch.nn.Linear(3, 3), loss_name="MSELoss",
                                      progress=False)
    events = []
    interface.add_observer("before_step", lambda signal: events.append(
        ("before", signal.step, signal.epoch)))
    interface.add_observer("after_step", lambda signal: events.append(
        ("after", signal.step, signal.batch_size, float(signal.loss) > 0)))
    every = []
    interface.add_observer("after_step", lambda signal: every.append(signal.step), every=2)
    interface.training(manager, nb_epochs=2, with_validation=False)
    assert events[:2] == [("before", 0, 0), ("after", 0, 8, True)]
    assert [event[1] for event in events if event[0] == "after"] == [0, 1, 2, 3, 4, 5]
    assert every == [1, 3, 5]
