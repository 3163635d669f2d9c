"""Trained models on disk: the configuration beside the checkpoints, and loading both.

``pynet-cvae train`` writes ``model_config.json`` beside its checkpoints (the
network and its resolved arguments, whatever the recipe)::

    {"network": "ConditionalCVAE", "kwargs": {"input_dim": 784, ...},
     "image_shape": [28, 28], "dataset": "fashion-mnist", "datasetdir": "/data/fashion"}

so that ``pynet-cvae sample`` and ``pynet-cvae evaluate`` rebuild the model from a
checkpoint alone. Checkpoints are read with
:func:`pynet_cvae.checkpoint.load_checkpoint` (``weights_only=True``).
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any, Dict, Optional, Tuple

import torch

from .checkpoint import load_checkpoint
from .jsonio import write_json
from .registry import Networks

CONFIG_FILE = "model_config.json"


def save_model_config(directory: str, network: str, kwargs: Dict[str, Any],
                      **extra: Any) -> str:
    """Write ``model_config.json`` in ``directory`` (atomically); return its path.

    Parameters
    ----------
    directory : str
        The checkpoint directory.
    network : str
        The registered network's name (``"CVAE"``, ``"ConditionalCVAE"``).
    kwargs : dict
        The network's constructor arguments (JSON values).
    **extra
        More entries, e.g. ``image_shape``, ``dataset``, ``datasetdir``.

    Returns
    -------
    str
        The path of ``model_config.json``.
    """
    if not Networks.contains(network):
        raise ValueError(f"network {network!r} is not registered: expected one of "
                         f"{sorted(Networks.get_registry())}")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CONFIG_FILE)
    write_json(path, {"network": network, "kwargs": kwargs, **extra}, indent=2)
    return path


def find_model_config(checkpoint_path: str) -> str:
    """The ``model_config.json`` beside a checkpoint or in its parent directory.

    Parameters
    ----------
    checkpoint_path : str
        The checkpoint.

    Returns
    -------
    str
        The configuration's path.

    Raises
    ------
    FileNotFoundError
        If neither holds one.
    """
    directory = os.path.dirname(os.path.abspath(checkpoint_path))
    candidates = [os.path.join(directory, CONFIG_FILE),
                  os.path.join(os.path.dirname(directory), CONFIG_FILE)]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"no {CONFIG_FILE} beside checkpoint {checkpoint_path!r} (looked at "
        f"{candidates}); pass the configuration file written by pynet-cvae train")


def read_model_config(path: str) -> Dict[str, Any]:
    """Read and check a ``model_config.json``.

    Parameters
    ----------
    path : str
        The file.

    Returns
    -------
    dict
        The configuration, with at least ``network`` and ``kwargs``.
    """
    with open(path, encoding="utf-8") as stream:
        try:
            config = json.load(stream)
        except json.JSONDecodeError as error:
            raise ValueError(f"model configuration {path!r} is not valid JSON: {error}") \
                from None
    if not isinstance(config, dict) or not isinstance(config.get("network"), str) \
            or not isinstance(config.get("kwargs"), dict):
        raise ValueError(f"model configuration {path!r} needs a 'network' name and a "
                         f"'kwargs' object, got {config!r}"[:300])
    return config


def load_trained_model(checkpoint_path: str, config_path: Optional[str] = None,
                       map_location: Any = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild a trained model from its checkpoint and configuration.

    Parameters
    ----------
    checkpoint_path : str
        A checkpoint of ``pynet-cvae train`` (or a bare state dict).
    config_path : str, optional
        Its ``model_config.json``; by default found with :func:`find_model_config`.
    map_location : str or torch.device, default "cpu"
        Where the weights are loaded.

    Returns
    -------
    model, config
        The model in evaluation mode, and the configuration dict.
    """
    config = read_model_config(config_path or find_model_config(checkpoint_path))
    if not Networks.contains(config["network"]):
        raise ValueError(f"network {config['network']!r} of the configuration is not "
                         f"registered: expected one of {sorted(Networks.get_registry())}")
    model = _build(config, config_path or find_model_config(checkpoint_path))
    state = load_checkpoint(checkpoint_path, map_location=map_location)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"the weights in {checkpoint_path!r} do not fit the configured "
                         f"{config['network']}: {error}"[:600]) from None
    model.to(map_location).eval()
    return model, config


#: Arguments of the conditional CVAE before the model zoo: their runs do not load.
_FORMER_ARGUMENTS = ("architecture", "shared_trunk")


def _build(config: Dict[str, Any], path: str) -> torch.nn.Module:
    """The configured network; a configuration of an earlier version is one clear error."""
    network, kwargs = config["network"], config["kwargs"]
    former = sorted(set(_FORMER_ARGUMENTS) & set(kwargs))
    if former:
        raise ValueError(
            f"{path} was written by an earlier pynet-cvae, before its conditional models "
            f"became the model zoo ({network} no longer takes {former}, and its old weights "
            "do not fit the new one): train the run again with pynet-cvae train")
    return _build_network(config, path)


def _build_network(config: Dict[str, Any], path: str) -> torch.nn.Module:
    """The configured network, or a ValueError naming the arguments it refuses."""
    network = Networks.get(config["network"])
    kwargs = config["kwargs"]
    try:
        accepted = inspect.signature(network).parameters
    except (TypeError, ValueError):  # no signature to read: let the constructor say
        accepted = None
    if accepted is not None and not any(parameter.kind is parameter.VAR_KEYWORD
                                        for parameter in accepted.values()):
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ValueError(
                f"model configuration {path!r} gives {config['network']} the argument(s) "
                f"{unknown}, which it does not take: expected some of {sorted(accepted)}")
    try:
        return network(**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model configuration {path!r} does not build a "
                         f"{config['network']}: {error}") from None
