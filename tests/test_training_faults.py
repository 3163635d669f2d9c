"""Numerical faults: non-finite losses stop (or skip) clearly; gradients can be clipped."""

import json

import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.numerics import NonFiniteLossError

BATCHES_PER_EPOCH = 6


@pytest.fixture
def manager():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, batch_size=16, sampler=None)


class PoisonedLoss:
    """Cross-entropy that returns ``value`` on the training calls listed in ``bad_calls``."""

    def __init__(self, bad_calls, value=float("nan")):
        self.bad_calls, self.value, self.calls = set(bad_calls), value, 0

    def __call__(self, prediction, labels):
        loss = torch.nn.functional.cross_entropy(prediction, labels)
        bad = self.calls in self.bad_calls
        self.calls += 1
        return loss * self.value if bad else loss


def make_interface(loss, **kwargs):
    torch.manual_seed(0)
    return DeepLearningInterface(model=torch.nn.Linear(6, 2), optimizer_name="SGD",
                                 learning_rate=0.1, loss=loss, progress=False, **kwargs)


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan"), (float("inf"), "inf"),
                                          (-float("inf"), "-inf")])
def test_a_non_finite_loss_stops_training_naming_fold_epoch_and_batch(
        manager, tmp_path, value, shown):
    interface = make_interface(PoisonedLoss({BATCHES_PER_EPOCH + 3}, value))
    with pytest.raises(NonFiniteLossError) as error:
        interface.training(manager, nb_epochs=3, checkpointdir=str(tmp_path),
                           with_validation=False)
    message = str(error.value)
    assert f"non-finite loss ({shown}) at fold 0, epoch 1, batch 3 (of 6)" in message
    assert "model_0_epoch_0.pth" in message and "on_nonfinite='skip'" in message
    assert (error.value.fold, error.value.epoch, error.value.batch) == (0, 1, 3)
    assert isinstance(error.value, FloatingPointError) and isinstance(error.value, RuntimeError)
    # nothing of the bad epoch was saved
    assert not (tmp_path / "model_0_epoch_1.pth").exists()
    assert (tmp_path / "model_0_epoch_0.pth").exists()
    assert json.loads((tmp_path / "train.json").read_text())["steps"] == [[0, 0]]


def test_without_checkpoints_the_error_says_so(manager):
    with pytest.raises(NonFiniteLossError, match="batch 0 .*no checkpoint of this run"):
        make_interface(PoisonedLoss({0})).training(manager, nb_epochs=1,
                                                   with_validation=False)


def test_skip_counts_the_skipped_batches_in_the_history(manager):
    interface = make_interface(PoisonedLoss({BATCHES_PER_EPOCH + 1, BATCHES_PER_EPOCH + 4}))
    train, _ = interface.training(manager, nb_epochs=3, with_validation=False,
                                  on_nonfinite="skip")
    assert train["nonfinite_batches"][1] == [0, 2, 0]
    assert all(np.isfinite(train["loss"][1]))
    assert torch.isfinite(interface.model.weight).all()


def test_a_skipped_batch_makes_no_optimizer_step_and_an_epoch_of_them_is_refused():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 6)).astype("float32")
    one_batch = DataManager.from_numpy(train_inputs=x, train_labels=(x[:, 0] > 0).astype(int),
                                       batch_size=16)
    interface = make_interface(PoisonedLoss({0}), momentum=0.9)
    before = interface.model.weight.detach().clone()
    with pytest.raises(NonFiniteLossError,
                       match="every one of the 1 training batches had a non-finite loss or "
                             "value and was left out .* at fold 0, epoch 0: training stopped"
                       ) as error:
        interface.training(one_batch, nb_epochs=1, with_validation=False,
                           on_nonfinite="skip")
    assert (error.value.split, error.value.epoch) == ("training", 0)
    assert torch.equal(interface.model.weight, before)
    assert interface.optimizer.state_dict()["state"] == {}


def test_skip_refuses_six_epochs_of_nothing(manager, tmp_path):
    interface = make_interface(lambda prediction, labels: prediction.sum() * float("nan"))
    with pytest.raises(NonFiniteLossError, match="every one of the 6 training batches"):
        interface.training(manager, nb_epochs=6, with_validation=False,
                           on_nonfinite="skip", checkpointdir=str(tmp_path))
    assert not (tmp_path / "model_0_epoch_0.pth").exists()


def validated_manager(n=64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:32],
                                  validation_labels=y[:32], batch_size=16)


class InfiniteWhenEvaluating(torch.nn.Module):
    """A classifier whose loss is infinite in evaluation mode only."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)

    def forward(self, x):
        logits = self.linear(x)
        return logits if self.training else logits * float("inf")


def test_an_infinite_validation_loss_stops_training_before_the_epoch_is_saved(tmp_path):
    interface = DeepLearningInterface(model=InfiniteWhenEvaluating(), optimizer_name="SGD",
                                      learning_rate=0.1, loss_name="CrossEntropyLoss",
                                      progress=False)
    with pytest.raises(NonFiniteLossError,
                       match=r"non-finite validation loss \((inf|nan)\) at fold 0, epoch 0: "
                             "training stopped before logging") as error:
        interface.training(validated_manager(), nb_epochs=3, checkpointdir=str(tmp_path))
    assert (error.value.split, error.value.name) == ("validation", "loss")
    assert not (tmp_path / "model_0_epoch_0.pth").exists()


def nan_on_some_batches(bad_batches):
    """A metric that is NaN on the listed calls, the accuracy otherwise."""
    calls = []

    def metric(prediction, labels):
        calls.append(None)
        accuracy = (prediction.argmax(1) == labels).float().mean()
        return accuracy * float("nan") if len(calls) - 1 in bad_batches else accuracy
    metric.__name__ = "accuracy"
    return metric


def test_a_metric_returning_nan_is_detected_like_a_loss(manager):
    interface = make_interface(torch.nn.functional.cross_entropy,
                               metrics=[nan_on_some_batches({2})])
    with pytest.raises(NonFiniteLossError,
                       match=r"non-finite training value 'accuracy' \(nan\) at fold 0, "
                             "epoch 0") as error:
        interface.training(manager, nb_epochs=2, with_validation=False)
    assert (error.value.split, error.value.name) == ("training", "accuracy")


def test_skip_leaves_non_finite_validation_batches_out_of_the_means():
    # validation batches: 2 per epoch; the metric is NaN on the 2nd call (training
    # calls come first: 4 training batches, then 2 validation ones)
    interface = make_interface(torch.nn.functional.cross_entropy,
                               metrics=[nan_on_some_batches({5})])
    train, validation = interface.training(validated_manager(), nb_epochs=2,
                                           on_nonfinite="skip")
    assert validation["nonfinite_batches"][1] == [1, 0]
    assert all(np.isfinite(validation["accuracy"][1]))
    assert train["nonfinite_batches"][1] == [0, 0]


def test_clip_grad_norm_bounds_each_step():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 6)).astype("float32")
    one_batch = DataManager.from_numpy(train_inputs=x, train_labels=(x[:, 0] > 0).astype(int),
                                       batch_size=32)

    def huge_loss(prediction, labels):
        return 1e4 * torch.nn.functional.cross_entropy(prediction, labels)

    def step_size(**options):
        interface = make_interface(huge_loss)
        before = [parameter.detach().clone() for parameter in interface.model.parameters()]
        interface.training(one_batch, nb_epochs=1, with_validation=False, **options)
        changes = [(parameter.detach() - old).reshape(-1)
                   for parameter, old in zip(interface.model.parameters(), before)]
        return float(torch.cat(changes).norm())

    assert step_size() > 100
    assert step_size(clip_grad_norm=0.5) == pytest.approx(0.1 * 0.5, rel=1e-4)


@pytest.mark.parametrize("options, message", [
    ({"on_nonfinite": "ignore"}, "on_nonfinite 'ignore' unknown; expected one of "
                                 "\\['raise', 'skip'\\]"),
    ({"clip_grad_norm": 0}, "clip_grad_norm must be a finite number > 0 or None, got 0"),
    ({"clip_grad_norm": float("inf")}, "clip_grad_norm must be .*got inf"),
    ({"clip_grad_norm": "1"}, "clip_grad_norm must be .*got '1'"),
])
def test_bad_fault_options_are_clear_errors(manager, options, message):
    with pytest.raises(ValueError, match=message):
        make_interface(PoisonedLoss(set())).training(manager, nb_epochs=1, **options)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_default_batch_path_makes_no_host_synchronisation(manager):
    interface = DeepLearningInterface(model=torch.nn.Linear(6, 2), optimizer_name="Adam",
                                      loss_name="CrossEntropyLoss", device="cuda",
                                      progress=False)
    interface.clip_grad_norm = 1.0  # clipping needs no synchronisation either
    batches = [interface.move_batch(batch) for batch in manager.get_dataloader(train=True).train]
    interface.train_step(batches[0])  # warm up (lazy optimizer state)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        steps = [interface.train_step(batch) for batch in batches]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(step.loss.is_cuda for step in steps)
