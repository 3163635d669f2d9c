"""Data-parallel training: sharded epochs, one-process groups in-process, torchrun runs."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist

from pynet_cvae.datasets.arrays import ArrayDataset
from pynet_cvae.datasets.loading import BatchLoader
from pynet_cvae.distributed import (DistributedContext, batch_draw, batch_noise_like,
                                    shard_training_loader, shared_draws, sharded_steps)
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.numerics import NonFiniteLossError

from . import distributed_worker as worker
from .servers import free_port
from .terminals import run_in_terminal

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _positions(loader, epoch):
    loader.set_epoch(epoch)
    return [batch.inputs[:, 0].long().tolist() for batch in loader]


@pytest.mark.parametrize("rows, batch_size, drop_last", [(40, 4, False), (37, 4, False),
                                                         (37, 4, True), (5, 4, False)])
@pytest.mark.parametrize("sampler", ["random", None])
def test_the_shards_of_each_batch_make_the_batch_of_one_process(rows, batch_size, drop_last,
                                                                sampler):
    dataset = ArrayDataset(np.arange(rows, dtype=np.float32)[:, None])
    whole = BatchLoader(dataset, batch_size=2 * batch_size, sampler=sampler, seed=3,
                        drop_last=drop_last)
    shards = []
    for rank in (0, 1):
        shard = BatchLoader(dataset, batch_size=batch_size, sampler=sampler, seed=3,
                            drop_last=drop_last)
        shard.shard(rank, 2)
        shards.append(shard)
    for epoch in (0, 1):
        expected = _positions(whole, epoch)
        first, second = (_positions(shard, epoch) for shard in shards)
        assert len(first) == len(second) == len(shards[0]) == len(shards[1])
        # every process runs as many batches, of equal sizes
        assert [len(batch) for batch in first] == [len(batch) for batch in second]
        union = [sorted(a + b) for a, b in zip(first, second)]
        expected = [sorted(batch) for batch in expected]
        if drop_last or rows % 2 == 0:
            assert union == expected
        else:  # the first sample of the epoch is repeated to fill the last batch
            assert union[:-1] == expected[:-1] and len(union) == len(expected)
            assert len(union[-1]) == len(expected[-1]) + 1
            assert set(expected[-1]) <= set(union[-1])
            assert sorted(set(sum(union, []))) == list(range(rows))


def test_a_bad_shard_is_a_clear_error():
    loader = BatchLoader(ArrayDataset(np.zeros((4, 1), dtype=np.float32)), batch_size=2)
    with pytest.raises(ValueError, match="rank 2 out of range: expected an int in \\[0, 1\\]"):
        loader.shard(2, 2)
    with pytest.raises(ValueError, match="cannot be split between 2 processes"):
        shard_training_loader([[1, 2]], DistributedContext(0, 2, 0))


def test_distributed_true_without_a_launcher_names_the_missing_variables(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="distributed=True but the environment variables "
                                         "\\['RANK', 'WORLD_SIZE'.*torchrun"):
        worker.make_interface(distributed=True)
    interface = worker.make_interface()  # by default: one plain process
    assert interface.distributed is None and interface.parallel_model is None


@pytest.fixture
def group_of_one(monkeypatch):
    """The environment torchrun gives a single process (a real gloo group of one)."""
    environment = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_a_group_of_one_process_trains_as_a_plain_process(group_of_one, tmp_path):
    manager = worker.make_manager(batch_size=16)
    plain = worker.make_interface(distributed=False)
    expected, _ = plain.training(manager, nb_epochs=2)
    parallel = worker.make_interface(distributed=True)
    assert isinstance(parallel.parallel_model, torch.nn.parallel.DistributedDataParallel)
    assert parallel.distributed == DistributedContext(0, 1, 0)
    history, validation = parallel.training(manager, nb_epochs=2,
                                            checkpointdir=str(tmp_path))
    assert history["loss"][1] == pytest.approx(expected["loss"][1], rel=1e-6)
    assert history["accuracy"][1] == pytest.approx(expected["accuracy"][1])
    for name, value in plain.model.state_dict().items():  # the same keys: no "module."
        torch.testing.assert_close(parallel.model.state_dict()[name], value)
    assert (tmp_path / "model_0_epoch_1.pth").exists()


def _torchrun(tmp_path, name, *arguments, processes=2):
    outdir = tmp_path / name
    environment = {key: value for key, value in os.environ.items()
                   if key not in LAUNCH_VARIABLES}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", "-m", "tests.distributed_worker",
               str(outdir), *arguments]
    completed = subprocess.run(command, cwd=REPOSITORY, env=environment, text=True,
                               capture_output=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return [torch.load(outdir / f"rank{rank}.pt", weights_only=True)
            for rank in range(processes)]


def _assert_same_run(result, history, validation, model):
    assert result["train"]["steps"] == [list(step) for step in history.steps]
    for name in ("loss", "accuracy"):
        assert result["train"]["values"][name] == pytest.approx(history[name][1], rel=1e-5)
        assert result["validation"]["values"][name] == pytest.approx(validation[name][1],
                                                                     rel=1e-5)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(result["weights"][name], value, rtol=1e-5, atol=1e-6)


@pytest.mark.subprocess
@pytest.mark.slow
def test_two_torchrun_processes_match_one_process_with_the_global_batch_and_resume(
        tmp_path):
    def one_process(epochs):
        interface = worker.make_interface()
        history, validation = interface.training(worker.make_manager(batch_size=16),
                                                 nb_epochs=epochs)
        return history, validation, interface.model

    checkpoints = str(tmp_path / "checkpoints")
    first = _torchrun(tmp_path, "first", "--batch-size", "8", "--epochs", "2",
                      "--checkpoints", checkpoints)
    _assert_same_run(first[0], *one_process(2))
    for result in first:
        assert result["world_size"] == 2 and result["wrapped"]
        assert result["batches"] == 2 * worker.N_TRAIN // 16  # half of each global batch
    # every process notified its observers, rank 0 alone the rank-zero-only one; both
    # got the same averaged values
    assert first[0]["signals"] == ["before_epoch", "after_epoch", "once"] * 2
    assert first[1]["signals"] == ["before_epoch", "after_epoch"] * 2
    assert first[1]["train"] == first[0]["train"]
    assert sorted(os.listdir(checkpoints)) == [
        "initial_state.pth", "initial_state.pth.sha256", "model_0_epoch_0.pth",
        "model_0_epoch_0.pth.sha256", "model_0_epoch_1.pth", "model_0_epoch_1.pth.sha256",
        "train.json", "train_0_epoch_0.json", "train_0_epoch_1.json", "validation.json",
        "validation_0_epoch_0.json", "validation_0_epoch_1.json"]

    resumed = _torchrun(tmp_path, "resumed", "--batch-size", "8", "--epochs", "3",
                        "--checkpoints", checkpoints, "--resume")
    reference = one_process(3)
    for result in resumed:
        _assert_same_run(result, *reference)
    assert resumed[0]["batches"] == worker.N_TRAIN // 16  # only the third epoch ran
    assert (tmp_path / "checkpoints" / "model_0_epoch_2.pth").exists()


class PoisonedLoss:
    """Cross-entropy, NaN on the calls listed."""

    def __init__(self, bad_calls):
        self.bad_calls, self.calls = set(bad_calls), 0

    def __call__(self, prediction, labels):
        loss = torch.nn.functional.cross_entropy(prediction, labels)
        self.calls += 1
        return loss * float("nan") if self.calls - 1 in self.bad_calls else loss


def _poisoned_interface(bad_calls):
    torch.manual_seed(0)
    return DeepLearningInterface(model=torch.nn.Linear(worker.N_FEATURES, worker.N_CLASSES),
                                 loss=PoisonedLoss(bad_calls), distributed=True,
                                 progress=False)


def test_non_finite_losses_in_a_distributed_run(group_of_one):
    manager = worker.make_manager(batch_size=16)
    interface = _poisoned_interface({1, 8})
    history, _ = interface.training(manager, nb_epochs=2, with_validation=False,
                                    on_nonfinite="skip")
    assert history["nonfinite_batches"][1] == [1, 1]
    assert all(torch.isfinite(parameter).all() for parameter in interface.model.parameters())
    with pytest.raises(NonFiniteLossError, match="batch 2 \\(of 6\\)"):
        _poisoned_interface({2}).training(manager, nb_epochs=1, with_validation=False)


# ---------------------------------------------------------------- pynet-cvae train
# The command's defaults (conditional recipe, progress bar in a terminal) with its KL
# warm-up and early stopping (which ends the fold after epoch 7), on 106 training
# digits (an even number: no sample is repeated to even out the processes' shares).
TRAIN_DEFAULTS = ["--sample-size", "0.1", "--folds", "4", "--epochs", "12",
                  "--kl-warmup", "3", "--early-stopping", "1"]


def _train_in_terminal(tmp_path, name, processes, batch_size, settings=TRAIN_DEFAULTS):
    """Run the train command through tests.train_worker in a terminal; return what it
    printed and each process's records."""
    records = tmp_path / name / "records"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={processes}"] if processes > 1 else [sys.executable]
    command = launcher + ["-m", "tests.train_worker", str(records), "--", "train",
                          "--output", str(tmp_path / name / "run"), "--batch-size",
                          str(batch_size), *settings]
    environment = {key: value for key, value in os.environ.items()
                   if key not in LAUNCH_VARIABLES}
    environment["OMP_NUM_THREADS"] = "1"
    status, shown = run_in_terminal(command, cwd=REPOSITORY, env=environment)
    assert status == 0, shown[-4000:]
    return shown, [torch.load(records / f"rank{rank}.pt", weights_only=True)
                   for rank in range(processes)]


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_train_command_under_torchrun_with_its_defaults_equals_one_process(tmp_path):
    shown, (first, second) = _train_in_terminal(tmp_path, "two", processes=2, batch_size=8)
    _, (alone,) = _train_in_terminal(tmp_path, "one", processes=1, batch_size=16)
    assert "it/s" in shown and shown.count("Trained on digits") == 1  # rank 0's bar, summary
    assert "stopped early" in shown
    samples = first["train_samples"]
    assert samples == 106 and second["train_samples"] == alone["train_samples"] == samples
    epochs = [record["epoch"] for record in alone["epochs"]]
    assert 1 < len(epochs) < 12  # early stopping ended the fold, on every process alike
    assert [record["epoch"] for record in first["epochs"]] == epochs
    assert [record["epoch"] for record in second["epochs"]] == epochs
    for mine, theirs, reference in zip(first["epochs"], second["epochs"], alone["epochs"]):
        epoch = reference["epoch"]
        # the ranks' rows are disjoint and cover the training set
        assert len(reference["rows"]) == len(set(reference["rows"])) == samples
        assert not set(mine["rows"]) & set(theirs["rows"]), epoch
        assert sorted(mine["rows"] + theirs["rows"]) == sorted(reference["rows"]), epoch
        # the schedules set the same values everywhere
        assert mine["kl_weight"] == theirs["kl_weight"] == reference["kl_weight"] == \
            min(1.0, (epoch + 1) / 4)
        assert mine["val_loss"] == theirs["val_loss"]
        assert mine["val_loss"] == pytest.approx(reference["val_loss"], rel=1e-5)
        for name, value in reference["weights"].items():
            assert torch.equal(mine["weights"][name], theirs["weights"][name]), (epoch, name)
            # float tolerance: the two runs sum the same gradients in another order
            torch.testing.assert_close(mine["weights"][name], value, rtol=1e-4, atol=1e-4)


# The semi-supervised recipe (30 labelled digits among 130) with its Gumbel temperature
# annealed, the KL warm-up and early stopping; each process takes 2 labelled images of
# each mini-batch of 8, the one process 4 of 16.
SEMI_SUPERVISED = ["--recipe", "semi-supervised", "--labelled-per-class", "3",
                   "--sample-size", "0.1", "--epochs", "12", "--kl-warmup", "3",
                   "--temperature-end", "0.3", "--temperature-epochs", "4",
                   "--early-stopping", "1"]


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_semi_supervised_recipe_under_torchrun_equals_one_process(tmp_path):
    shown, (first, second) = _train_in_terminal(
        tmp_path, "two", processes=2, batch_size=8,
        settings=SEMI_SUPERVISED + ["--labelled-per-batch", "2"])
    _, (alone,) = _train_in_terminal(tmp_path, "one", processes=1, batch_size=16,
                                     settings=SEMI_SUPERVISED + ["--labelled-per-batch", "4"])
    assert "it/s" in shown and "stopped early" in shown
    epochs = [record["epoch"] for record in alone["epochs"]]
    assert 1 < len(epochs) < 12
    assert [record["epoch"] for record in first["epochs"]] == epochs
    for mine, theirs, reference in zip(first["epochs"], second["epochs"], alone["epochs"]):
        epoch = reference["epoch"]
        # the same images (labelled ones several times an epoch), shared between ranks
        assert sorted(mine["rows"] + theirs["rows"]) == sorted(reference["rows"]), epoch
        assert len(mine["rows"]) == len(theirs["rows"])
        expected = 1.0 * (0.3 / 1.0) ** (min(epoch, 4) / 4)  # geometric, 1.0 -> 0.3
        assert mine["temperature"] == theirs["temperature"] == reference["temperature"]
        assert mine["temperature"] == pytest.approx(expected)
        assert mine["kl_weight"] == theirs["kl_weight"] == reference["kl_weight"]
        assert mine["val_loss"] == theirs["val_loss"]
        assert mine["val_loss"] == pytest.approx(reference["val_loss"], rel=1e-5)
        for name, value in reference["weights"].items():
            assert torch.equal(mine["weights"][name], theirs["weights"][name]), (epoch, name)
            # float tolerance: the gradients are summed in another order, and Adam's
            # normalised step can turn the rounding of a near-zero gradient into ~1e-4
            torch.testing.assert_close(mine["weights"][name], value, rtol=1e-4, atol=5e-4)


# The benchmark's chosen semi-supervised recipe with the deeper classifier: FixMatch's
# pseudo-labels on augmented views, a classifier of its own (group-normalised, with
# dropout) evaluated with the moving average of its weights, the cosine schedule, and
# the consistency term, whose prior draws are the same on every process.
CHOSEN_SEMI_SUPERVISED = [
    "--recipe", "semi-supervised", "--labelled-per-class", "3", "--sample-size", "0.1",
    "--epochs", "4", "--model.unlabelled", "sample", "--model.pseudo_labels",
    "--model.augment_flip", "--model.classifier_trunk", "Conv2dGroupNormTrunk",
    "--model.classifier_average", "0.99", "--model.elbo_trains_classifier", "false",
    "--lr-schedule", "cosine"]


@pytest.mark.subprocess
@pytest.mark.slow
def test_pseudo_labels_and_dropout_under_torchrun_equal_one_process(tmp_path):
    _, (first, second) = _train_in_terminal(
        tmp_path, "two", processes=2, batch_size=8,
        settings=CHOSEN_SEMI_SUPERVISED + ["--labelled-per-batch", "2"])
    _, (alone,) = _train_in_terminal(
        tmp_path, "one", processes=1, batch_size=16,
        settings=CHOSEN_SEMI_SUPERVISED + ["--labelled-per-batch", "4"])
    assert [record["epoch"] for record in alone["epochs"]] == [0, 1, 2, 3]
    for mine, theirs, reference in zip(first["epochs"], second["epochs"], alone["epochs"]):
        epoch = reference["epoch"]
        assert mine["val_loss"] == theirs["val_loss"]
        assert mine["val_loss"] == pytest.approx(reference["val_loss"], rel=1e-5)
        assert "classifier_average.1_weight" in reference["weights"]
        for name, value in reference["weights"].items():
            assert torch.equal(mine["weights"][name], theirs["weights"][name]), (epoch, name)
            # each image's shifts, cut-out square, contrast and dropout mask are those
            # of the one-process run: only float rounding remains
            torch.testing.assert_close(mine["weights"][name], value, rtol=1e-4, atol=5e-4)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_each_process_draws_its_rows_of_the_global_batch_noise(distribution):
    def draws(context):
        torch.manual_seed(3)
        with sharded_steps(context):
            return batch_noise_like(torch.zeros(4, 3), distribution), torch.rand(1)

    torch.manual_seed(3)
    whole = batch_noise_like(torch.zeros(8, 3), distribution)
    after = torch.rand(1)
    shares = [draws(DistributedContext(rank, 2, rank)) for rank in (0, 1)]
    torch.testing.assert_close(torch.cat([noise for noise, _ in shares]), whole,
                               rtol=0, atol=0)
    for _, next_draw in shares:  # every process's generator moves on as one process's
        assert torch.equal(next_draw, after)


def test_each_process_augments_its_images_as_the_one_process_run():
    from pynet_cvae.plugins.cvae.augmentation import strong_view

    images = torch.rand(8, 36)
    torch.manual_seed(5)
    whole = strong_view(images, (6, 6), flip=True)
    shares = []
    for rank in (0, 1):
        torch.manual_seed(5)
        with sharded_steps(DistributedContext(rank, 2, rank)):
            shares.append(strong_view(images[4 * rank:4 * rank + 4], (6, 6), flip=True))
    assert torch.equal(torch.cat(shares), whole)


def test_shared_draws_are_the_one_process_draws_on_every_process():
    torch.manual_seed(3)
    alone = batch_draw(lambda count: torch.randint(0, 9, (2, count)), 4, dim=1)
    for rank in (0, 1):
        torch.manual_seed(3)
        with sharded_steps(DistributedContext(rank, 2, rank)):
            with shared_draws():
                shared = batch_draw(lambda count: torch.randint(0, 9, (2, count)), 4, dim=1)
            torch.manual_seed(3)
            mine = batch_draw(lambda count: torch.randint(0, 9, (2, count)), 4, dim=1)
        assert torch.equal(shared, alone)
        torch.manual_seed(3)
        assert torch.equal(mine, torch.randint(0, 9, (2, 8))[:, 4 * rank:4 * rank + 4])


def test_an_unknown_noise_distribution_is_named():
    with pytest.raises(ValueError, match="distribution must be one of.*got 'gumbel'"):
        batch_noise_like(torch.zeros(2), "gumbel")
