"""pynet_cvae.utils: pynet's helpers, as pynet scripts call them."""

import logging

import numpy as np
import pytest
import torch

from pynet_cvae import utils
from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.interfaces import DeepLearningInterface


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.norm = torch.nn.BatchNorm2d(3)
        self.fc = torch.nn.Linear(12, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))


@pytest.fixture
def logger():
    """The pynet_cvae logger, restored after the test."""
    log = logging.getLogger("pynet_cvae")
    handlers, level = list(log.handlers), log.level
    yield log
    for handler in list(log.handlers):
        if handler not in handlers:
            log.removeHandler(handler)
            handler.close()
    log.setLevel(level)


def test_setup_logging_configures_only_the_package_logger(logger, tmp_path, capsys):
    root = list(logging.getLogger().handlers)
    utils.setup_logging(level="info")
    utils.setup_logging(level="debug", logfile=str(tmp_path / "run.log"))
    added = [handler for handler in logger.handlers if getattr(
        handler, "_pynet_cvae_setup_logging", False)]
    assert len(added) == 2 and logger.level == logging.DEBUG  # the first call's replaced
    assert logging.getLogger().handlers == root
    logger.debug("hello %s", "there")
    assert "DEBUG - hello there" in capsys.readouterr().err
    assert "hello there" in (tmp_path / "run.log").read_text()
    with pytest.raises(ValueError, match="level 'verbose' unknown: expected one of"):
        utils.setup_logging(level="verbose")


def test_checkpoint_is_a_file_pretrained_reads(tmp_path):
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = utils.checkpoint(model, epoch=3, fold=1, outdir=str(tmp_path), optimizer=optimizer,
                            note="best")
    assert path.endswith("model_1_epoch_3.pth")
    saved = load_checkpoint(path)
    assert (saved["fold"], saved["epoch"], saved["note"]) == (1, 3, "best")
    interface = DeepLearningInterface(model=Net(), pretrained=path, loss_name="MSELoss")
    torch.testing.assert_close(interface.model.state_dict(), model.state_dict())


def test_named_layers_and_layer_at():
    torch.manual_seed(0)
    model = Net()
    assert list(utils.get_named_layers(model)) == ["conv-1.3", "norm-3", "fc-12"]
    assert list(utils.get_named_layers(model, resume=True)) == ["conv", "norm", "fc"]
    x = torch.rand(2, 1, 4, 4)
    data, weight = utils.layer_at(model, "conv-1.3", x)
    np.testing.assert_allclose(data, model.conv(x).detach().numpy(), rtol=1e-6)
    assert weight.shape == (3, 1, 3, 3)
    assert utils.layer_at(model, "fc", x)[0].shape == (2, 2)
    with pytest.raises(KeyError, match="no layer 'fc2' in Net; named layers:"):
        utils.layer_at(model, "fc2", x)


def test_freeze_and_reset_weights():
    torch.manual_seed(0)
    model = Net()
    utils.freeze_layers(model, ["conv"])
    assert not model.conv.weight.requires_grad and model.fc.weight.requires_grad
    with pytest.raises(KeyError, match="no layer 'head'"):
        utils.freeze_layers(model, ["head"])
    before = model.fc.weight.detach().clone()
    utils.reset_weights(model)
    assert not torch.equal(before, model.fc.weight)
    other = Net()
    utils.reset_weights(model, {"model": other.state_dict()})
    torch.testing.assert_close(model.state_dict(), other.state_dict())


def test_test_model_runs_forward_and_backward():
    model = Net()
    output = utils.test_model(model, (2, 1, 4, 4))
    assert output.shape == (2, 2) and model.fc.weight.grad is not None


@pytest.mark.parametrize("activation, name", [(None, "none"), ("elu", "elu"),
                                              (torch.nn.ReLU, "relu"),
                                              (torch.nn.LeakyReLU(0.2), "leaky_relu"),
                                              (torch.nn.Tanh, "tanh")])
def test_activation_names(activation, name):
    assert utils.get_activation_name(activation) == name


def test_init_weight_sets_the_bias_to_zero():
    layer = torch.nn.Linear(50, 40)
    utils.init_weight(layer, torch.nn.ReLU)
    assert layer.bias.abs().max() == 0
    assert layer.weight.std().item() == pytest.approx((2 / 50) ** 0.5, rel=0.2)  # He
    with pytest.raises(ValueError, match="activation .* unknown"):
        utils.init_weight(layer, torch.nn.GELU)
