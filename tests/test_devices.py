"""Devices, CPU threads and the optimizer implementation the interface picks."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import NUM_THREADS_VARIABLE, DeepLearningInterface, resolve_device

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
MPS_AVAILABLE = torch.backends.mps.is_available()


@pytest.fixture
def manager():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:16],
                                  validation_labels=y[:16], test_inputs=x[:16],
                                  test_labels=y[:16], batch_size=16)


@pytest.fixture
def threads():
    """Restore torch's thread count after the test."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def _expected_auto():
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("mps" if MPS_AVAILABLE else "cpu")


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto") == _expected_auto()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_a_clear_error(device):
    with pytest.raises(ValueError, match=f"device '{device}' asked for but CUDA is not "
                                         "available here"):
        DeepLearningInterface(model=torch.nn.Linear(2, 2), device=device)
    with pytest.raises(ValueError, match="CUDA is not available"):
        DeepLearningInterface(model=torch.nn.Linear(2, 2), use_cuda=True)


@pytest.mark.skipif(MPS_AVAILABLE, reason="checks the error without MPS")
def test_mps_without_mps_is_a_clear_error():
    with pytest.raises(ValueError, match="device 'mps' asked for but MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("device", ["tpu", "cuda:x", 3.5])
def test_an_unknown_device_is_a_clear_error(device):
    with pytest.raises(ValueError, match="unknown; expected 'cpu', 'cuda', 'cuda:N', 'mps' "
                                         "or 'auto'"):
        resolve_device(device)


class DeviceProbe:
    """A metric noting the device of everything it receives."""

    __name__ = "probe"

    def __init__(self):
        self.devices = set()

    def __call__(self, prediction, labels):
        self.devices.update({prediction.device, labels.device})
        return (prediction.argmax(dim=1) == labels).float().mean()


def _everything_on(device, manager):
    probe = DeviceProbe()
    interface = DeepLearningInterface(model=torch.nn.Linear(6, 2), device=device,
                                      loss_name="CrossEntropyLoss", metrics=[probe],
                                      progress=False)
    step = interface.train_step(next(iter(manager.get_dataloader(train=True).train)))
    assert step.loss.device == interface.device and step.values["probe"].device == \
        interface.device
    history, validation = interface.training(manager, nb_epochs=1)
    y_pred, _, _, _, values = interface.testing(manager)
    assert {parameter.device for parameter in interface.model.parameters()} == \
        {interface.device}
    assert probe.devices == {interface.device}
    assert isinstance(y_pred, np.ndarray) and 0 <= values["probe"] <= 1
    assert np.isfinite(validation["probe"][1]).all()


def test_the_model_batches_and_metrics_follow_the_device_cpu(manager):
    _everything_on("cpu", manager)


@CUDA
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto"])
def test_the_model_batches_and_metrics_follow_the_device_cuda(manager, device):
    _everything_on(device, manager)


def test_num_threads_sets_torch_threads(threads, monkeypatch):
    monkeypatch.delenv(NUM_THREADS_VARIABLE, raising=False)
    DeepLearningInterface(model=torch.nn.Linear(2, 2), num_threads=1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    DeepLearningInterface(model=torch.nn.Linear(2, 2))  # by default: left alone
    assert torch.get_num_threads() == 2
    monkeypatch.setenv(NUM_THREADS_VARIABLE, "1")
    DeepLearningInterface(model=torch.nn.Linear(2, 2))
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value", [0, -2, True, 1.5, "2"])
def test_a_bad_thread_count_is_a_clear_error(threads, value):
    with pytest.raises(ValueError, match=f"num_threads must be an integer >= 1, got "
                                         f"{value!r}"):
        DeepLearningInterface(model=torch.nn.Linear(2, 2), num_threads=value)


def test_a_bad_thread_variable_is_a_clear_error(threads, monkeypatch):
    monkeypatch.setenv(NUM_THREADS_VARIABLE, "many")
    with pytest.raises(ValueError, match=f"environment variable {NUM_THREADS_VARIABLE} "
                                         "must be an integer >= 1, got 'many'"):
        DeepLearningInterface(model=torch.nn.Linear(2, 2))


def _adam_run(manager, **options):
    torch.manual_seed(0)
    interface = DeepLearningInterface(model=torch.nn.Linear(6, 2), progress=False,
                                      loss_name="CrossEntropyLoss", **options)
    interface.training(manager, nb_epochs=3, with_validation=False)
    return interface


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_by_name_is_fused_and_steps_as_torchs_default(manager, name):
    fused = _adam_run(manager, optimizer_name=name)
    default = _adam_run(manager, optimizer_name=name, fused=False)
    assert fused.optimizer.defaults["fused"] is True
    assert not default.optimizer.defaults["fused"]
    torch.testing.assert_close(fused.model.weight, default.model.weight, rtol=1e-5,
                               atol=1e-6)


def test_the_user_choice_of_implementation_is_kept(manager):
    assert not _adam_run(manager, foreach=True).optimizer.defaults["fused"]
    assert not _adam_run(manager, optimizer_name="SGD").optimizer.defaults.get("fused")
    optimizer = torch.optim.Adam(torch.nn.Linear(6, 2).parameters())
    given = DeepLearningInterface(model=torch.nn.Linear(6, 2), optimizer=optimizer)
    assert given.optimizer is optimizer
