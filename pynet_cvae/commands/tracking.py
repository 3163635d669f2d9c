"""``pynet-cvae train --logger``: where a run's curves, images and settings are tracked.

``--logger tensorboard`` writes TensorBoard event files under the run folder,
``<output>/tensorboard`` (``tensorboard --logdir <output>/tensorboard`` shows them);
``--logger mlflow`` tracks the run in a local MLflow store, ``<output>/mlruns`` (a
SQLite database and the artifacts: ``mlflow ui --backend-store-uri
sqlite:///<output>/mlruns/mlflow.db``). Several may be given (``--logger tensorboard
--logger mlflow``, or ``logger: [tensorboard, mlflow]`` in a ``--config`` file); each
holds the run's configuration as hyper-parameters, the scalars of every epoch, the
sample grids and the validation reconstructions (see :mod:`pynet_cvae.loggers`).

Only the process that writes the run (rank 0 under ``torchrun``) creates them. A
logger whose package is missing stops the command before the run starts, with one
line naming the extra that installs it. The loggers may change on ``--resume``: a
resumed MLflow logger goes on in the run of the checkpoint.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Dict, List, Mapping, Sequence, Tuple

#: The loggers ``--logger`` knows, in the order they are attached. MLflow's logger
#: keeps a state in the checkpoints, found again by its position among the observers:
#: first, it stays where it was when ``--resume`` adds or drops the other.
LOGGERS: Tuple[str, ...] = ("mlflow", "tensorboard")

#: The folder of each logger in the run folder.
FOLDERS: Dict[str, str] = {"mlflow": "mlruns", "tensorboard": "tensorboard"}


def check_logger_names(names: Sequence[str]) -> List[str]:
    """The loggers of ``--logger``, each once, in attaching order.

    Parameters
    ----------
    names : sequence of str
        The names given.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        Naming an unknown logger and the known ones.
    """
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        raise ValueError(f"--logger {unknown[0]!r} is not a logger: expected some of "
                         f"{list(LOGGERS)} (several: --logger tensorboard --logger mlflow)")
    return [name for name in LOGGERS if name in names]


def make_loggers(names: Sequence[str], output: str, image_shape: Sequence[int],
                 hyperparameters: Mapping[str, Any]) -> List[Any]:
    """Build the loggers of ``--logger``, writing under the run folder.

    Parameters
    ----------
    names : sequence of str
        The loggers (:data:`LOGGERS`).
    output : str
        The run folder.
    image_shape : sequence of int
        The shape of an image, to show the validation reconstructions.
    hyperparameters : mapping
        The run's configuration (``run.json``).

    Returns
    -------
    list of pynet_cvae.loggers.Logger
        In the order of :data:`LOGGERS`.

    Raises
    ------
    pynet_cvae.extras.MissingExtraError
        If a logger's package is not installed.
    """
    from ..plotting.values import images_from_flat

    prepare_pred = functools.partial(images_from_flat, image_shape=tuple(image_shape))
    loggers = []
    for name in check_logger_names(names):
        folder = os.path.join(output, FOLDERS[name])
        if name == "tensorboard":
            from ..loggers.tensorboard import TensorBoardLogger

            loggers.append(TensorBoardLogger(folder, prepare_pred=prepare_pred,
                                             hyperparameters=hyperparameters))
        else:
            from ..loggers.mlflow import MLflowLogger

            run_name = os.path.basename(os.path.abspath(output))
            loggers.append(MLflowLogger(save_dir=folder, run_name=run_name,
                                        prepare_pred=prepare_pred,
                                        hyperparameters=hyperparameters))
    return loggers


def logger_lines(names: Sequence[str], output: str) -> List[str]:
    """The summary's lines: where each logger wrote, and how to look at it.

    Parameters
    ----------
    names : sequence of str
        The loggers.
    output : str
        The run folder.

    Returns
    -------
    list of str
    """
    lines = []
    for name in check_logger_names(names):
        folder = os.path.join(output, FOLDERS[name])
        if name == "tensorboard":
            how = f"tensorboard --logdir {folder}"
        else:
            how = ("mlflow ui --backend-store-uri "
                   f"sqlite:///{os.path.abspath(os.path.join(folder, 'mlflow.db'))}")
        lines.append(f"  {name + ':':<18}{folder} ({how})")
    return lines
