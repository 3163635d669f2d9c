"""TensorBoardLogger: a real training's event files, read back with TensorBoard."""

import os

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2  # noqa: E402

from pynet_cvae.loggers import TensorBoardLogger  # noqa: E402

from .conftest import METRICS, Interrupt, cvae_interface, interrupt_before, prepare_pred  # noqa: E402

EVERYTHING = {"scalars": 0, "images": 0, "tensors": 0}


def events(folder):
    accumulator = EventAccumulator(str(folder), size_guidance=EVERYTHING)
    accumulator.Reload()
    return accumulator


def scalar_series(folder, tag):
    return [(event.step, event.value) for event in events(folder).Scalars(tag)]


def hyperparameters(folder):
    content = events(folder).PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    values = {}
    for name, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    end = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_end_info"]).session_end_info
    return values, end.status


def test_a_run_holds_every_scalar_of_every_epoch_the_images_and_the_hyperparameters(
        tmp_path, manager):
    logger = TensorBoardLogger(tmp_path / "tb", prepare_pred=prepare_pred,
                               hyperparameters={"data": {"batch_size": 32}, "epochs": 3})
    interface = cvae_interface(logger)
    train, validation = interface.training(manager, nb_epochs=3, fold_index=0)
    logger.log_scalars({"test_loss": 0.5}, step=3)  # after the training: the same fold
    logger.close()

    fold = tmp_path / "tb" / "fold0"
    assert os.listdir(tmp_path / "tb") == ["fold0"]
    assert scalar_series(fold / "train", "test_loss") == [(3, 0.5)]
    assert logger.fold_dir(0) == str(fold)
    for metric in METRICS:
        steps, values = train[metric]
        assert scalar_series(fold / "train", metric) == [
            (epoch, pytest.approx(value, rel=1e-6)) for (_, epoch), value in zip(steps, values)]
        steps, values = validation[metric]
        assert scalar_series(fold / "validation", metric) == [
            (epoch, pytest.approx(value, rel=1e-6)) for (_, epoch), value in zip(steps, values)]
    assert scalar_series(fold / "train", "lr") == [(epoch, pytest.approx(3e-3))
                                                   for epoch in range(3)]
    assert "lr" not in events(fold / "validation").Tags()["scalars"]

    images = events(fold)
    assert set(images.Tags()["images"]) == {"sampling", "val_pred"}
    sampling = images.Images("sampling")
    assert [image.step for image in sampling] == [0, 1, 2]
    # 10 classes x 4 latent vectors of 8 x 8 pixels, 1 pixel apart, magnified 5 times
    assert (sampling[0].height, sampling[0].width) == (5 * (10 * 9 + 1), 5 * (4 * 9 + 1))
    predictions = images.Images("val_pred")
    assert [image.step for image in predictions] == [0, 1, 2]
    assert all(image.encoded_image_string.startswith(b"\x89PNG") for image in predictions)

    params, status = hyperparameters(fold)
    assert params["model"] == "CVAE" and params["optimizer"] == "Adam"
    assert params["optimizer.lr"] == pytest.approx(3e-3)
    assert params["loss"] == "DecodeLoss"
    assert params["metrics"] == "ClassificationLoss, VAELoss"
    assert params["parameters"] == sum(p.numel() for p in interface.model.parameters())
    assert params["data.batch_size"] == 32 and params["epochs"] == 3
    assert status == api_pb2.Status.Value("STATUS_SUCCESS")
    config = images.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| optimizer.lr | 0.003 |" in config and "| data.batch_size | 32 |" in config


def test_a_second_run_in_the_same_logdir_is_kept_beside_the_first(tmp_path, manager):
    for _ in range(2):
        logger = TensorBoardLogger(tmp_path / "tb")
        cvae_interface(logger).training(manager, nb_epochs=1, fold_index=0)
    assert logger.fold_dir(0) == str(tmp_path / "tb" / "fold0-2")
    assert sorted(os.listdir(tmp_path / "tb")) == ["fold0", "fold0-2"]
    for name in ("fold0", "fold0-2"):
        assert [step for step, _ in scalar_series(tmp_path / "tb" / name / "train",
                                                  "loss")] == [0]


def test_a_resumed_run_shows_the_curves_of_an_uninterrupted_one(tmp_path, manager):
    uninterrupted = cvae_interface(TensorBoardLogger(tmp_path / "straight"), seed=3)
    uninterrupted.training(manager, nb_epochs=4, fold_index=0,
                           checkpointdir=str(tmp_path / "straight-checkpoints"))

    checkpoints = str(tmp_path / "checkpoints")
    with TensorBoardLogger(tmp_path / "tb") as killed:
        first = cvae_interface(killed, seed=3)
        first.add_observer("before_epoch", interrupt_before(3))
        with pytest.raises(Interrupt):  # epochs 0-2 logged, the checkpoint is epoch 1
            first.training(manager, nb_epochs=4, fold_index=0, checkpointdir=checkpoints,
                           save_after_epochs=2)
    resumed = cvae_interface(TensorBoardLogger(tmp_path / "tb"), seed=3)
    resumed.training(manager, nb_epochs=4, fold_index=0, checkpointdir=checkpoints,
                     resume=True)

    assert os.listdir(tmp_path / "tb") == ["fold0"]
    for run in ("train", "validation"):
        expected = scalar_series(tmp_path / "straight" / "fold0" / run, "loss")
        got = scalar_series(tmp_path / "tb" / "fold0" / run, "loss")
        assert [step for step, _ in got] == [0, 1, 2, 3]  # epoch 2 once, not twice
        np.testing.assert_allclose([value for _, value in got],
                                   [value for _, value in expected], rtol=1e-5)
    assert [image.step for image in events(tmp_path / "tb" / "fold0").Images("sampling")] \
        == [0, 1, 2, 3]


def test_per_step_scalars_have_their_own_axis(tmp_path):
    with TensorBoardLogger(tmp_path / "tb") as logger:
        for step in range(5):
            logger.log_scalars({"loss": 1.0 / (step + 1)}, step=step * 10, axis="step")
        logger.log_scalars({"loss": 0.3, "val_loss": 0.4}, step=0)
    steps = tmp_path / "tb" / "fold0" / "steps"
    assert scalar_series(steps, "step/loss") == [
        (step * 10, pytest.approx(1.0 / (step + 1))) for step in range(5)]
    assert scalar_series(tmp_path / "tb" / "fold0" / "train", "loss") == [
        (0, pytest.approx(0.3))]


def test_a_logdir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file; expected a folder"):
        TensorBoardLogger(path)
