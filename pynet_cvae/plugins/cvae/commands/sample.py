"""``pynet-cvae sample``: draw a grid of generated images from a trained model.

``pynet-cvae sample --checkpoint runs/cvae --out grid.png`` writes one row per class
and one column per latent vector z ~ N(0, temperature^2 I), the same vector down a
column. The model is rebuilt from the ``model_config.json`` that ``pynet-cvae
train`` writes beside its checkpoints; the weights are loaded with
``weights_only=True``.
"""

from __future__ import annotations

import argparse
import os
from typing import Optional

from ....commands.types import decay, non_negative_int, positive_float, positive_int, seed


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sample`` command."""
    sample = subparsers.add_parser(
        "sample", help="write a grid of generated images (rows: classes)",
        description="Generate images of each class from a trained model and write them "
                    "as a PNG grid: one row per class, one latent vector per column.")
    add_checkpoint_arguments(sample)
    sample.add_argument("--out", required=True, help="the PNG file to write")
    sample.add_argument("--columns", type=positive_int, default=8,
                        help="latent vectors, i.e. images per class (default 8)")
    sample.add_argument("--classes", type=non_negative_int, nargs="+", default=None,
                        help="the classes, one row each (default: all)")
    sample.add_argument("--covariate", default=None,
                        help="the covariate along the rows (default: the condition's "
                             "first): every class of a categorical one, --rows values "
                             "(mean +/- 2 std) of a continuous one")
    sample.add_argument("--rows", type=positive_int, default=None,
                        help="rows along a continuous covariate (default 8)")
    sample.add_argument("--temperature", type=positive_float, default=1.0,
                        help="standard deviation of the latent draws (default 1)")
    sample.add_argument("--seed", type=seed, default=0, help="seed of the latent draws")
    sample.add_argument("--scale", type=positive_int, default=4,
                        help="pixels per image pixel in the PNG (default 4)")
    add_acceptance_argument(sample)
    sample.set_defaults(run=run)


def add_acceptance_argument(parser: argparse.ArgumentParser) -> None:
    """``--acceptance-threshold``, shared with ``pynet-cvae evaluate``."""
    parser.add_argument("--acceptance-threshold", type=decay, default=0.0, metavar="P",
                        help="keep a generated image only when the model's classifier "
                             "gives its class a probability of at least P, drawing again "
                             "for the others (rejection sampling; default 0: off)")


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` and ``--config``, shared with ``pynet-cvae evaluate``."""
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint file, or a run (or checkpoints) directory whose "
                             "latest checkpoint is used")
    parser.add_argument("--config", default=None,
                        help="the model_config.json (default: beside the checkpoint)")


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or the latest checkpoint of a run or checkpoints directory.

    Parameters
    ----------
    path : str
        A file, a run directory or its ``checkpoints/`` folder.

    Returns
    -------
    str
        The checkpoint file.
    """
    from ....checkpoint import latest_checkpoint

    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        for directory in (path, os.path.join(path, "checkpoints")):
            found = latest_checkpoint(directory)
            if found is not None:
                return found
        raise FileNotFoundError(f"no model_<fold>_epoch_<epoch>.pth checkpoint in {path!r} "
                                "or its checkpoints/ folder")
    raise FileNotFoundError(f"no checkpoint file or directory at {path!r}")


def check_generative(model: object, network: str) -> None:
    """Refuse a model without the generation interface (``condition`` and ``sample``),
    naming its network."""
    if not (hasattr(model, "condition") and callable(getattr(model, "sample", None))):
        raise ValueError(f"network {network} has no generation interface (a condition and "
                         "a sample method, see pynet_cvae.plugins.cvae.GenerativeMixin): "
                         "it cannot generate images")


def run(arguments: argparse.Namespace) -> int:
    """Write the grid; print its path."""
    path = write_grid(arguments.checkpoint, arguments.out, arguments.config,
                      columns=arguments.columns, classes=arguments.classes,
                      temperature=arguments.temperature, seed=arguments.seed,
                      scale=arguments.scale, covariate=arguments.covariate,
                      rows=arguments.rows,
                      acceptance_threshold=arguments.acceptance_threshold)
    print(f"wrote {path} (rows: conditions, columns: latent vectors)")
    return 0


def write_grid(checkpoint: str, out: str, config: Optional[str] = None, columns: int = 8,
               classes: Optional[list] = None, temperature: float = 1.0, seed: int = 0,
               scale: int = 4, covariate: Optional[str] = None,
               rows: Optional[int] = None, acceptance_threshold: float = 0.0) -> str:
    """Load a trained model and write its sample grid.

    Parameters
    ----------
    checkpoint : str
        A checkpoint, or a run directory (see :func:`resolve_checkpoint`).
    out : str
        The PNG file.
    config : str, optional
        The ``model_config.json`` (default: beside the checkpoint).
    columns : int, default 8
        Latent vectors (images per class).
    classes : list of int, optional
        The classes, one row each (default: all).
    temperature : float, default 1.0
        The standard deviation of the latent draws.
    seed : int, default 0
        Their seed.
    scale : int, default 4
        PNG pixels per image pixel.
    covariate : str, optional
        The covariate along the rows (default: the condition's first).
    rows : int, optional
        The rows along a continuous covariate (default 8).
    acceptance_threshold : float, default 0.0
        Rejection sampling with the model's classifier (see
        :meth:`~pynet_cvae.plugins.cvae.GenerativeMixin.sample`; 0: off).

    Returns
    -------
    str
        ``out``.
    """
    from ....trained import load_trained_model
    from ..generation import write_sample_grid

    model, settings = load_trained_model(resolve_checkpoint(checkpoint), config)
    check_generative(model, settings["network"])
    image_shape = settings.get("image_shape")
    return write_sample_grid(model, out, n_columns=columns, temperature=temperature,
                             seed=seed, labels=classes, scale=scale, covariate=covariate,
                             rows=rows, acceptance_threshold=acceptance_threshold,
                             image_shape=None if image_shape is None else tuple(image_shape))
