"""Determinism: the same seed gives the same run; random states round-trip."""

import random

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import check_plain_data, load_checkpoint, save_checkpoint
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.seeding import rng_state, seed_everything, set_rng_state


def run(seed):
    """A run with dropout, shuffling and an observer drawing from NumPy."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5)).astype("float32")
    manager = DataManager.from_numpy(train_inputs=x, train_labels=(x[:, 0] > 0).astype(int),
                                     validation_inputs=x[:20],
                                     validation_labels=(x[:20, 0] > 0).astype(int),
                                     batch_size=8)
    seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Dropout(0.5),
                                torch.nn.Linear(16, 2))
    interface = DeepLearningInterface(model=model, optimizer_name="Adam",
                                      loss_name="CrossEntropyLoss", progress=False)
    noise = []
    interface.add_observer("after_epoch", lambda signal: noise.append(np.random.rand()))
    train, validation = interface.training(manager, nb_epochs=3, seed=seed)
    return train.to_dict(), validation.to_dict(), noise, interface.model.state_dict()


def test_two_runs_with_the_same_seed_are_identical():
    first, second = run(7), run(7)
    assert first[:3] == second[:3]
    assert all(torch.equal(first[3][name], second[3][name]) for name in first[3])
    assert run(8)[0] != first[0]


def test_the_interface_seed_fixes_a_model_built_by_name():
    def weights():
        interface = DeepLearningInterface(model="Linear", seed=3, loss_name="MSELoss",
                                          model_kwargs={"in_features": 4, "out_features": 2})
        return interface.model.weight.detach().clone()

    assert torch.equal(weights(), weights())


def test_random_states_round_trip_through_a_checkpoint(tmp_path):
    seed_everything(1)
    random.random(), np.random.normal(), torch.randn(1)  # move every generator
    state = rng_state()
    check_plain_data(state)
    path = save_checkpoint(str(tmp_path / "rng.pth"), model={}, rng=state)
    expected = (random.random(), np.random.normal(), torch.randn(3))
    seed_everything(2)
    set_rng_state(load_checkpoint(path)["rng"])
    drawn = (random.random(), np.random.normal(), torch.randn(3))
    assert drawn[:2] == expected[:2] and torch.equal(drawn[2], expected[2])


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 1.5, "1", True])
def test_bad_seeds_are_clear_errors(seed):
    with pytest.raises(ValueError, match="seed must be an integer in \\[0, 4294967295\\]"):
        seed_everything(seed)


def test_a_foreign_random_state_is_a_clear_error():
    with pytest.raises(ValueError, match="not a random state saved by pynet_cvae"):
        set_rng_state({"python": 1})
