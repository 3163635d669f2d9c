"""``pynet-cvae normative cvae``: the conditional VAE of 3-D volumes as a normative model.

It trains :class:`~pynet_cvae.plugins.cvae.CVAENormativeModel` on the healthy 'train'
subjects, or takes a run of ``pynet-cvae train --recipe normative`` (``--checkpoint
RUN``), then goes through the study every normative model shares
(:func:`pynet_cvae.commands.normative.run_study`). Its counterfactual and harmonised
images are its reconstructions under the changed covariates (``keep_residual=False``).
"""

from __future__ import annotations

import argparse

from ....commands.normative import STUDY, add_study_arguments, run_study, spread_column
from ....commands.types import positive_float, positive_int
from ..recipes import NORMATIVE_EPOCHS

#: Subjects at a time when ``--batch-size`` is not given.
DEFAULT_BATCH_SIZE = 16


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``cvae`` sub-command of ``pynet-cvae normative``.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The sub-commands of ``pynet-cvae normative``.
    """
    cvae = commands.add_parser(
        "cvae", help="train (or load) and score the conditional VAE",
        description="Train the conditional VAE of 3-D volumes given the covariates "
                    "(or load a run of 'pynet-cvae train --recipe normative' with "
                    "--checkpoint) " + STUDY)
    add_study_arguments(cvae)
    cvae.add_argument("--checkpoint", default=None,
                      help="a run of 'pynet-cvae train --recipe normative' (or one of its "
                           "checkpoints): score with it instead of training")
    cvae.add_argument("--epochs", type=positive_int, default=NORMATIVE_EPOCHS,
                      help=f"training epochs (default {NORMATIVE_EPOCHS})")
    cvae.add_argument("--learning-rate", type=positive_float, default=2e-3,
                      help="Adam's learning rate (default 0.002)")
    cvae.add_argument("--latent-dim", type=positive_int, default=16,
                      help="the latent dimension (default 16)")
    cvae.add_argument("--threads", type=positive_int, default=None,
                      help="torch threads (default: torch's choice)")
    cvae.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N...")
    cvae.set_defaults(run=run_cvae)


def run_cvae(arguments: argparse.Namespace) -> int:
    """Train (or load) the CVAE, calibrate and score; write and print the results.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments of :func:`add_parser`'s sub-command.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    ValueError
        When the run of ``--checkpoint`` is conditioned on other covariates than
        ``--continuous`` and ``--categorical``.
    """
    from ..normative import CVAENormativeModel

    batch_size = arguments.batch_size or DEFAULT_BATCH_SIZE
    spread_by = spread_column(arguments)
    if arguments.checkpoint is not None:
        model = CVAENormativeModel.from_run(arguments.checkpoint, batch_size=batch_size,
                                            threads=arguments.threads,
                                            device=arguments.device, spread_by=spread_by)
        expected = sorted(list(arguments.continuous) + list(arguments.categorical))
        if sorted(model.kinds) != expected:
            raise ValueError(f"the run's condition is {list(model.kinds)}, not the "
                             f"covariates {expected} (--continuous, --categorical)")
    else:
        model = CVAENormativeModel(arguments.continuous, arguments.categorical,
                                   spread_by=spread_by, epochs=arguments.epochs,
                                   batch_size=batch_size,
                                   learning_rate=arguments.learning_rate,
                                   seed=arguments.seed, threads=arguments.threads,
                                   device=arguments.device, latent_dim=arguments.latent_dim,
                                   progress=False if arguments.quiet else None)
    return run_study(arguments, model, keep_residual=False, batch_size=batch_size)
