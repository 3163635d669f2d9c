"""Loggers: where a run's curves, images and settings are kept and looked at.

Every logger shares one small interface (:class:`Logger`: scalars per epoch and per
step on an explicit axis, images, text, hyper-parameters, files) and is an
observer of the training signals; ``interface.add_logger(logger)`` attaches it
(:func:`attach_logger`). Several loggers may follow one run.

- :class:`TensorBoardLogger` writes event files for ``tensorboard --logdir``
  (extra ``tensorboard``);
- :class:`MLflowLogger` tracks each fold as an MLflow run, locally by default
  (extra ``mlflow``);
- :class:`VisdomLogger` sends the run to a :class:`~pynet_cvae.plotting.Board`;
- :class:`CSVLogger` keeps the history table, rewritten after every epoch.

Only the main process of a distributed run writes. An optional dependency that
is missing is a :class:`MissingExtraError` naming the extra that installs it
(``pip install 'pynet-cvae[tensorboard]'``).
"""

from pynet_cvae.loggers.attach import attach_logger, detach_logger, loggers_of, send_images
from pynet_cvae.loggers.base import AXES, Logger, MissingExtraError
from pynet_cvae.loggers.csv import CSVLogger
from pynet_cvae.loggers.mlflow import MLflowLogger
from pynet_cvae.loggers.params import describe_run
from pynet_cvae.loggers.tensorboard import TensorBoardLogger
from pynet_cvae.loggers.visdom import VisdomLogger

__all__ = [
    "AXES",
    "CSVLogger",
    "Logger",
    "MLflowLogger",
    "MissingExtraError",
    "TensorBoardLogger",
    "VisdomLogger",
    "attach_logger",
    "describe_run",
    "detach_logger",
    "loggers_of",
    "send_images",
]
