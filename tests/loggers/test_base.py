"""The logger interface: attaching, the per-step signal, checks, the main process only."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.loggers import (
    CSVLogger,
    MissingExtraError,
    TensorBoardLogger,
    attach_logger,
    describe_run,
    detach_logger,
    loggers_of,
    send_images,
)
from pynet_cvae.loggers.params import flatten_params
from pynet_cvae.loggers.csv import read_history_csv
from pynet_cvae.loggers.images import as_images, tile_images
from pynet_cvae.observable import SIGNALS, Observable

from ..test_distributed import LAUNCH_VARIABLES, REPOSITORY

STEPPED_SIGNALS = [*SIGNALS, "after_step"]


def linear_interface():
    return DeepLearningInterface(model=torch.nn.Linear(3, 2), optimizer_name="SGD",
                                 learning_rate=0.1, loss_name="MSELoss", momentum=0.5)


def test_add_logger_observes_the_training_signals_and_remove_logger_stops_it(tmp_path):
    interface = linear_interface()
    logger = interface.add_logger(CSVLogger(tmp_path / "history.csv"))
    assert interface.loggers == [logger]
    assert logger in interface.observers("after_epoch")
    for signal in ("before_fold", "before_epoch", "after_fold"):
        assert len(interface.observers(signal)) == 1
    with pytest.raises(ValueError, match="is attached already"):
        interface.add_logger(logger)
    interface.remove_logger(logger)
    assert interface.loggers == []
    assert all(not interface.observers(signal) for signal in SIGNALS)
    with pytest.raises(ValueError, match="is not attached"):
        interface.remove_logger(logger)
    with pytest.raises(TypeError, match="expected a pynet_cvae.loggers.Logger"):
        interface.add_logger(print)


def test_a_per_step_signal_is_logged_on_the_step_axis(tmp_path):
    emitter = Observable(STEPPED_SIGNALS)
    logger = attach_logger(emitter, CSVLogger(tmp_path / "history.csv"),
                           step_signal="after_step")
    emitter.notify_observers("before_fold", fold=0)
    for step in range(3):
        emitter.notify_observers("after_step", step=step, fold=0,
                                 loss=torch.tensor(1.0 / (step + 1)),
                                 values={"kl": step * 0.5, "note": "not a number"},
                                 epoch=0, batch_size=4, skipped=False)
    emitter.notify_observers("after_fold", fold=0, train_history=None,
                             validation_history=None)
    (steps,) = read_history_csv(str(tmp_path / "history_steps.csv"), axis="step")
    assert steps.steps == [(0, 0), (0, 1), (0, 2)]
    assert steps["loss"][1] == pytest.approx([1.0, 0.5, 1.0 / 3])
    assert steps["values.kl"][1] == [0.0, 0.5, 1.0]
    assert set(steps.metrics) == {"loss", "values.kl"}  # no text, no bookkeeping

    detach_logger(emitter, logger)
    assert not emitter.observers("after_step")
    with pytest.raises(ValueError, match="step_signal 'every_step' unknown"):
        attach_logger(emitter, logger, step_signal="every_step")
    with pytest.raises(ValueError, match="needs a signal that carries 'step'"):
        logger.after_step(type("Signal", (), {"signal": "after_step", "keys": ["loss"],
                                              "loss": 1.0})())


def test_a_plain_after_epoch_observer_logs_too(tmp_path, manager):
    from .conftest import cvae_interface

    interface = cvae_interface()
    logger = CSVLogger(tmp_path / "history.csv")
    interface.add_observer("after_epoch", logger)
    train, _ = interface.training(manager, nb_epochs=2, fold_index=0)
    read = {history.name: history for history in read_history_csv(str(tmp_path /
                                                                        "history.csv"))}
    assert read["train"]["loss"][1] == pytest.approx(train["loss"][1], rel=1e-6)


def test_bad_values_are_clear_errors(tmp_path):
    logger = CSVLogger(tmp_path / "history.csv")
    with pytest.raises(TypeError, match="scalar 'loss' must be a number"):
        logger.log_scalars({"loss": "low"}, step=0)
    with pytest.raises(ValueError, match="axis 'batch' unknown; expected one of"):
        logger.log_scalars({"loss": 1.0}, step=0, axis="batch")
    with pytest.raises(ValueError, match="step must be an integer >= 0, got -1"):
        logger.log_scalars({"loss": 1.0}, step=-1)
    with pytest.raises(ValueError, match="fold must be an integer >= 0, got 0.5"):
        logger.log_scalars({"loss": 1.0}, step=0, fold=0.5)
    with pytest.raises(ValueError, match=r"images must be H x W, .* got shape \(2, 5, 4, 4\)"):
        logger.log_images("grid", np.zeros((2, 5, 4, 4)), step=0)
    with pytest.raises(FileNotFoundError, match="no file at"):
        logger.log_artifact(str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="max_images must be an integer >= 1"):
        TensorBoardLogger(tmp_path / "tb", max_images=0)


def test_images_are_normalised_and_tiled():
    gray = as_images(np.full((4, 4), 255.0))
    assert gray.shape == (1, 1, 4, 4) and gray.max() == 1.0
    batch = as_images(torch.tensor([[[0.5, np.nan], [2.0, -1.0]]]))
    assert batch.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(batch[0, 0], [[0.5 / 255, 0.0], [2.0 / 255, 0.0]])
    grid = tile_images(as_images(np.zeros((5, 3, 2, 2))), nrow=2, padding=1)
    assert grid.shape == (3 * 3 + 1, 2 * 3 + 1, 3) and grid.dtype == np.uint8
    assert grid[1, 1].tolist() == [0, 0, 0] and grid[0, 0].tolist() == [255, 255, 255]


def test_the_run_description_and_flat_params():
    interface = linear_interface()
    assert describe_run(interface) == {
        "model": "Linear", "parameters": 8, "optimizer": "SGD", "optimizer.lr": 0.1,
        "optimizer.momentum": 0.5, "optimizer.dampening": 0, "optimizer.weight_decay": 0,
        "loss": "MSELoss", "metrics": "none", "device": "cpu", "precision": "fp32"}
    assert describe_run(None) == {}
    assert flatten_params({"a": {"b": np.int64(3), "c": [1, 2]}, "d": None,
                           "e": np.bool_(True), "f": np.float32(0.5)}) == {
        "a.b": 3, "a.c": "[1, 2]", "d": "None", "e": True, "f": 0.5}


def test_send_images_reaches_every_attached_logger(tmp_path):
    emitter = Observable(SIGNALS)
    assert loggers_of(emitter) == []
    send_images(emitter, "grid", np.zeros((2, 2)), step=0)  # no logger: nothing to do
    first = attach_logger(emitter, TensorBoardLogger(tmp_path / "a"))
    second = attach_logger(emitter, TensorBoardLogger(tmp_path / "b"))
    send_images(emitter, "grid", np.ones((3, 4, 4)), step=2)
    for logger in (first, second):
        logger.close()
        assert any(name.startswith("events.out.tfevents")
                   for name in os.listdir(logger.fold_dir(0)))


@pytest.mark.parametrize("module, extra, logger", [
    ("torch.utils.tensorboard", "tensorboard", "TensorBoardLogger"),
    ("mlflow", "mlflow", "MLflowLogger")])
def test_a_missing_extra_names_the_install_command(monkeypatch, tmp_path, module, extra,
                                                   logger):
    import pynet_cvae.loggers as loggers

    monkeypatch.setitem(sys.modules, module, None)  # what Python does when it is absent
    with pytest.raises(MissingExtraError,
                       match=rf"{logger} needs the optional dependency '{extra}'.*"
                             rf"pip install 'pynet-cvae\[{extra}\]'"):
        getattr(loggers, logger)(tmp_path / "logs")
    assert issubclass(MissingExtraError, ImportError)


def test_only_the_main_process_writes(monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "1")  # as torchrun sets it, before the group exists
    with CSVLogger(tmp_path / "history.csv") as logger:
        logger.log_scalars({"loss": 1.0}, step=0)
        logger.log_scalars({"loss": 1.0}, step=0, axis="step")
    with TensorBoardLogger(tmp_path / "tb") as logger:
        logger.log_images("grid", np.zeros((2, 2)), step=0)
        logger.log_hyperparameters({"lr": 0.1})
    assert os.listdir(tmp_path) == []


@pytest.mark.subprocess
@pytest.mark.slow
def test_two_torchrun_processes_write_one_set_of_logs(tmp_path):
    environment = {key: value for key, value in os.environ.items()
                   if key not in LAUNCH_VARIABLES}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "tests.loggers.logging_worker", str(tmp_path)]
    completed = subprocess.run(command, cwd=REPOSITORY, env=environment, text=True,
                               capture_output=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tensorboard = tmp_path / "tensorboard"
    assert sorted(os.listdir(tensorboard)) == ["fold0", "fold3"]
    for run in ("fold0", "fold0/train", "fold0/validation", "fold3/train"):
        files = [name for name in os.listdir(tensorboard / run)
                 if name.startswith("events.out.tfevents")]
        assert len(files) == 1, (run, files)
    accumulator = EventAccumulator(str(tensorboard / "fold3" / "train"))
    accumulator.Reload()
    assert [(event.step, event.value) for event in accumulator.Scalars("rank")] == [(0, 0.0)]
    tables = {history.name: history for history in read_history_csv(str(tmp_path /
                                                                          "history.csv"))}
    assert tables["train"].steps == [(0, 0), (0, 1), (3, 0)]
    assert tables["train"]["rank"] == ([(3, 0)], [0.0])


@pytest.mark.subprocess
def test_a_training_without_loggers_imports_none_of_their_libraries():
    code = ("import sys, pynet_cvae.interfaces, pynet_cvae.plugins.cvae\n"
            "print(sorted(name for name in ('mlflow', 'tensorboard', 'visdom', "
            "'pynet_cvae.loggers', 'pynet_cvae.plotting') if name in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, text=True,
                               capture_output=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
