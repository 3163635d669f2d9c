import pytest
import torch

from pynet_cvae.averaging import AveragedWeights, WeightAverage
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.registry import Observers


class AveragedNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)
        self.average = AveragedWeights(self.layer)

    def forward(self, x):
        return self.layer(x) if self.training else self.average(x)


def test_the_average_is_a_buffer_copy_called_like_the_module():
    net = AveragedNet()
    assert sorted(net.state_dict()) == ["average.bias", "average.weight", "layer.bias",
                                        "layer.weight"]
    assert len(list(net.parameters())) == 2  # no second set of parameters to train
    x = torch.rand(4, 3)
    assert torch.equal(net.average(x), net.layer(x))
    with torch.no_grad():
        net.layer.weight.add_(1.0)
    net.average.update(decay=0.75)
    assert torch.allclose(net.average.weight, net.layer.weight - 0.75)


def test_weight_average_follows_each_optimizer_step_of_a_training_run():
    torch.manual_seed(0)
    net = AveragedNet()
    x = torch.rand(32, 3)
    manager = DataManager.from_numpy(train_inputs=x.numpy(), train_outputs=x[:, :2].numpy(),
                                     batch_size=8)
    interface = DeepLearningInterface(model=net, loss_name="MSELoss", optimizer_name="SGD",
                                      learning_rate=0.1, progress=False)
    weights = []
    interface.add_observer("after_step", lambda signal: weights.append(
        net.layer.weight.detach().clone()))
    interface.add_observer("after_step", WeightAverage(decay=0.5))
    initial = net.average.weight.clone()
    interface.training(manager, nb_epochs=2, with_validation=False)
    assert len(weights) == 8
    expected = initial
    for weight in weights:
        expected = 0.5 * expected + 0.5 * weight
    assert torch.allclose(net.average.weight, expected)
    assert Observers.get("WeightAverage") is WeightAverage


def test_weight_average_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\), got 1"):
        WeightAverage(decay=1)

    class Emitter:
        model = torch.nn.Linear(2, 2)

    class Signal:
        object = Emitter()
        skipped = False

    with pytest.raises(ValueError, match="found no AveragedWeights in the model Linear"):
        WeightAverage()(Signal())


def test_batch_norm_statistics_are_the_live_ones_not_averaged():
    torch.manual_seed(0)
    layers = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    average = AveragedWeights(layers)
    assert sorted(average.state_dict()) == ["0_bias", "0_weight", "1_bias", "1_weight"]
    x = 3.0 + torch.rand(32, 3)
    layers(x)  # training mode: the live statistics move away from mean 0, variance 1
    with torch.no_grad():
        layers[0].weight.add_(1.0)
    average.update(decay=0.5)
    layers.eval()
    averaged = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).eval()
    averaged.load_state_dict({**layers.state_dict(), **average.averages()})
    assert torch.allclose(average(x), averaged(x))
    assert not torch.allclose(average(x), layers(x))
