"""The per-batch path: no host synchronisation, metric values reused from the loss,
bounded bookkeeping."""

import sys

import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.numerics import NonFiniteGuard, NonFiniteLossError
from pynet_cvae.outputs import RunningMeans
from pynet_cvae.plugins.cvae import CVAE, ClassificationLoss, DecodeLoss, VAELoss


@pytest.fixture
def manager():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:32],
                                  validation_labels=y[:32], batch_size=16)


class CountingMetric:
    """A metric that counts its calls; named ``name``."""

    def __init__(self, name):
        self.__name__, self.calls = name, 0

    def __call__(self, prediction, labels):
        self.calls += 1
        return torch.nn.functional.cross_entropy(prediction, labels)


def loss_with_terms(prediction, labels):
    loss = torch.nn.functional.cross_entropy(prediction, labels)
    return loss, {"cross_entropy": loss, "double": 2 * loss}


def test_a_metric_the_loss_reports_is_not_computed_again(manager):
    reported, other = CountingMetric("double"), CountingMetric("other")
    interface = DeepLearningInterface(model=torch.nn.Linear(6, 2), loss=loss_with_terms,
                                      metrics=[reported, other], progress=False)
    history, validation = interface.training(manager, nb_epochs=2)
    assert reported.calls == 0 and other.calls == 2 * (4 + 2)  # 4 + 2 batches per epoch
    assert history["double"][1] == pytest.approx(2 * np.array(history["loss"][1]))
    assert validation["double"][1] == pytest.approx(2 * np.array(validation["loss"][1]))
    assert history["other"][1] == pytest.approx(history["loss"][1], rel=0.05)


def _cvae_run(return_terms):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(48, 20)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int64")
    images = DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x,
                                    validation_labels=y, batch_size=16, add_input=True)
    torch.manual_seed(0)
    interface = DeepLearningInterface(
        model=CVAE(input_dim=20, hidden_dim=8, latent_dim=2, n_classes=2),
        loss=DecodeLoss(return_terms=return_terms), progress=False,
        metrics=[ClassificationLoss(), VAELoss()])
    return interface.training(images, nb_epochs=2)


def test_decode_loss_terms_stand_for_the_tutorial_metrics():
    computed, computed_validation = _cvae_run(return_terms=False)
    reused, reused_validation = _cvae_run(return_terms=True)
    for name in ("loss", "VAELoss", "ClassificationLoss"):
        assert reused[name][1] == pytest.approx(computed[name][1], rel=1e-5)
        assert reused_validation[name][1] == pytest.approx(computed_validation[name][1],
                                                           rel=1e-5)


def test_decode_loss_returns_a_tensor_by_default():
    loss = DecodeLoss()
    loss.layer_outputs = {"z_mu": torch.zeros(2, 3), "z_var": torch.zeros(2, 3),
                          "logits": torch.zeros(2, 4)}
    value = loss(torch.full((2, 5), 0.5), torch.full((2, 5), 0.5), torch.tensor([0, 1]))
    assert isinstance(value, torch.Tensor) and value.dim() == 0


HOST_CONVERSIONS = ("item", "tolist", "numpy", "__float__", "__int__", "__bool__")


def test_the_training_steps_convert_no_tensor_to_a_host_value(manager, monkeypatch):
    """No .item(), float(), bool()... on a tensor in pynet_cvae's per-batch code (on a
    GPU each would wait for the device)."""
    conversions = []

    def watch(name):
        original = getattr(torch.Tensor, name)

        def converted(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("pynet_cvae"):
                conversions.append((name, caller, sys._getframe(1).f_code.co_name))
            return original(tensor, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, converted)

    interface = DeepLearningInterface(model=torch.nn.Linear(6, 2), progress=False,
                                      loss=loss_with_terms, metrics=[CountingMetric("m")])
    loader = manager.get_dataloader(train=True).train
    batches = list(loader)
    for name in HOST_CONVERSIONS:
        watch(name)
    means, guard = RunningMeans(), NonFiniteGuard("raise")
    for batch in batches:
        step = interface.train_step(batch)
        guard.record(step.loss, step.skipped)
        means.add({"loss": step.loss, **step.values}, step.batch_size)
    assert conversions == []
    means.means()  # the epoch's end reads the sums: that is where the host waits
    assert conversions


def test_the_non_finite_guard_keeps_a_bounded_number_of_losses():
    guard = NonFiniteGuard("raise")
    for batch in range(3 * NonFiniteGuard.CHUNK + 5):
        value = float("inf") if batch in (700, 701) else 1.0
        guard.record(torch.tensor(value), skipped=False)
        assert len(guard._pending) < NonFiniteGuard.CHUNK
    with pytest.raises(NonFiniteLossError, match="non-finite loss \\(inf\\) at fold 1, epoch "
                                                 "2, batch 700 \\(of 773\\)") as error:
        guard.check(fold=1, epoch=2, last_checkpoint=None)
    assert error.value.batch == 700


def test_every_process_stops_when_another_saw_a_non_finite_loss():
    guard = NonFiniteGuard("raise")
    guard.record(torch.tensor(1.0), skipped=False)
    guard.check(0, 0, None)  # finite: nothing
    with pytest.raises(NonFiniteLossError, match="non-finite loss on another process at "
                                                 "fold 0, epoch 3"):
        guard.check(0, 3, None, elsewhere=True)


def test_running_means_sum_in_float32_and_mix_numbers_and_tensors():
    means = RunningMeans()
    means.add({"half": torch.tensor(1.0009765625, dtype=torch.float16), "number": 2.0}, 3)
    means.add({"half": torch.tensor(3.0, dtype=torch.float16), "number": torch.tensor(4.0)},
              1)
    result = means.means()
    assert result["half"] == pytest.approx((3 * 1.0009765625 + 3.0) / 4, rel=1e-6)
    assert result["number"] == pytest.approx((3 * 2.0 + 4.0) / 4)
