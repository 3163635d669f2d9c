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
