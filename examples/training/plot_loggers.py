"""
Loggers: following a run in TensorBoard, MLflow and a CSV table
================================================================

A *logger* keeps what a training shows: the scalars of every epoch (and of every
step), the pictures observers make, the run's settings and its files. Every logger
of :mod:`pynet_cvae.loggers` shares one interface and follows a training once
attached with ``interface.add_logger(logger)``; several may follow one run.

This example trains the tutorial's CVAE on the digits with three loggers, then
reads back what each one wrote, with the libraries a researcher would open them
with: TensorBoard's event reader, MLflow's client, a CSV reader.

TensorBoard and MLflow are optional dependencies: ``pip install
'pynet-cvae[tensorboard]'`` and ``pip install 'pynet-cvae[mlflow]'``.
"""

# %%
# A CVAE and its data
# -------------------
#
# The tutorial's CVAE, its loss and metrics, and the sampling observer, which
# draws one row of images per class after every epoch and hands the grid to the
# interface's loggers.

import functools
import io
import os
import tempfile

import matplotlib.pyplot as plt
import pandas as pd

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.loggers import CSVLogger, MLflowLogger, TensorBoardLogger
from pynet_cvae.plotting.values import images_from_flat
from pynet_cvae.plugins.cvae import (CVAE, ClassificationLoss, ConditionalSampler,
                                     DecodeLoss, VAELoss)
from pynet_cvae.seeding import seed_everything

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "10"))
IMAGE_SHAPE = (8, 8)

seed_everything(0)
data = fetch_digits()
manager = DataManager(
    input_path=data.input_path, metadata_path=data.metadata_path, labels=["label"],
    stratify_label="label", number_of_folds=5, test_size=0, batch_size=64,
    input_transforms=[Flatten()], add_input=True, seed=0)
interface = DeepLearningInterface(
    model=CVAE(input_dim=64, hidden_dim=128, latent_dim=8, n_classes=10),
    optimizer_name="Adam", learning_rate=3e-3, loss=DecodeLoss(),
    metrics=[ClassificationLoss(), VAELoss()], progress=False)
interface.add_observer("after_epoch", ConditionalSampler(image_shape=IMAGE_SHAPE))

# %%
# Three loggers
# -------------
#
# ``prepare_pred`` turns the validation predictions (flat reconstructions) into
# images, which the loggers keep as ``val_pred``; ``hyperparameters`` completes
# the description of the run that every logger writes when a fold starts (model,
# optimizer and its settings, loss, metrics, device).

runs = tempfile.mkdtemp(prefix="pynet_cvae_loggers_")
reconstructions = functools.partial(images_from_flat, image_shape=IMAGE_SHAPE, zoom=1)
settings = {"data": {"name": "digits", "batch_size": 64}, "epochs": NB_EPOCHS}

tensorboard = interface.add_logger(TensorBoardLogger(
    os.path.join(runs, "tensorboard"), prepare_pred=reconstructions,
    hyperparameters=settings))
mlflow_logger = interface.add_logger(MLflowLogger(
    save_dir=os.path.join(runs, "mlflow"), run_name="cvae-digits",
    prepare_pred=reconstructions, hyperparameters=settings))
table = interface.add_logger(CSVLogger(os.path.join(runs, "history.csv")))

train_history, validation_history = interface.training(
    manager, nb_epochs=NB_EPOCHS, fold_index=0,
    checkpointdir=os.path.join(runs, "checkpoints"), save_after_epochs=NB_EPOCHS)

# %%
# TensorBoard
# -----------
#
# ``tensorboard --logdir <runs>/tensorboard`` shows the run; here its event files
# are read with TensorBoard's own reader. Each fold has three runs: ``fold0``
# (hyper-parameters, images), ``fold0/train`` and ``fold0/validation``, so a
# metric's chart holds its training and validation curves together.

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_events(folder):
    events = EventAccumulator(folder, size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


fold = tensorboard.fold_dir(0)
figure, (curves, grid) = plt.subplots(1, 2, figsize=(11, 4),
                                      gridspec_kw={"width_ratios": [3, 2]})
for run in ("train", "validation"):
    points = read_events(os.path.join(fold, run)).Scalars("loss")
    curves.plot([point.step for point in points], [point.value for point in points],
                marker="o", label=f"fold0/{run}")
curves.set(xlabel="epoch", ylabel="loss", title="TensorBoard's 'loss' chart")
curves.legend()
last_grid = read_events(fold).Images("sampling")[-1]
grid.imshow(plt.imread(io.BytesIO(last_grid.encoded_image_string)), cmap="gray")
grid.set(title=f"TensorBoard image 'sampling', epoch {last_grid.step}")
grid.axis("off")
figure.tight_layout()

# %%
# MLflow
# ------
#
# Each fold is an MLflow run (tagged ``fold``) with the settings as params, every
# scalar as a metric by step (``loss``, ``val_loss``, ``lr``...), the images, the
# configuration as ``config.json`` and the fold's last checkpoint. The store is
# local unless a ``tracking_uri`` is given; ``mlflow ui --backend-store-uri
# sqlite:///<runs>/mlflow/mlflow.db`` opens it.

import mlflow

client = mlflow.MlflowClient(mlflow_logger.state_dict()["tracking_uri"])
run = client.get_run(mlflow_logger.run_ids[0])
print("params:", {key: run.data.params[key] for key in
                  ("model", "optimizer", "optimizer.lr", "data.batch_size", "epochs")})
print("artifacts:", [item.path for item in client.list_artifacts(run.info.run_id)])
print("checkpoints:", [item.path for item in
                       client.list_artifacts(run.info.run_id, "checkpoints")])

figure, axis = plt.subplots(figsize=(6, 4))
for key in ("ClassificationLoss", "val_ClassificationLoss"):
    history = client.get_metric_history(run.info.run_id, key)
    axis.plot([metric.step for metric in history], [metric.value for metric in history],
              marker="o", label=key)
axis.set(xlabel="step (epoch)", ylabel="cross-entropy", title="MLflow metrics by step")
axis.legend()
figure.tight_layout()

# %%
# The CSV table
# -------------
#
# The same table as ``pynet-cvae train``'s ``history.csv``, rewritten after every
# epoch, so that a run that stops keeps every finished epoch.

print(pd.read_csv(table.path).round(4).to_string(index=False))

# %%
# Per-step values
# ---------------
#
# Every logger also writes scalars on a ``"step"`` axis (``logger.log_scalars(values,
# step=global_step, axis="step")``), which TensorBoard shows as ``step/<name>`` in
# ``fold0/steps`` and MLflow as the metric ``step/<name>``. An observer of a
# per-step signal that carries ``step`` and the batch's values feeds them:
# ``interface.add_logger(logger, step_signal=NAME)`` attaches
# :meth:`~pynet_cvae.loggers.Logger.after_step` to it.

for logger in (tensorboard, mlflow_logger, table):
    logger.close()
