"""What the loggers write besides the scalars: the run's description and settings.

:func:`describe_run` reads a training interface into hyper-parameters,
:func:`flatten_params` flattens nested settings into the flat, typed values the
backends take, and :func:`split_of` tells a validation scalar (``val_m``) from a
training one.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Mapping

import numpy as np
import torch

Params = Dict[str, Any]


def describe_run(emitter: Any) -> Params:
    """What an interface says about its run, as hyper-parameters.

    Parameters
    ----------
    emitter : object or None
        A training interface (its ``model``, ``optimizer``, ``loss``, ``metrics``,
        ``device`` and ``precision`` are read where present).

    Returns
    -------
    dict
        ``model``, ``parameters`` (trainable), ``optimizer``, ``optimizer.<setting>``
        for its numeric settings, ``loss``, ``metrics``, ``device``, ``precision``.
    """
    description: Params = {}
    model = getattr(emitter, "model", None)
    if isinstance(model, torch.nn.Module):
        description["model"] = type(model).__name__
        description["parameters"] = sum(parameter.numel() for parameter in
                                         model.parameters() if parameter.requires_grad)
    optimizer = getattr(emitter, "optimizer", None)
    if isinstance(optimizer, torch.optim.Optimizer):
        description["optimizer"] = type(optimizer).__name__
        for key, value in optimizer.defaults.items():
            if _is_number(value) or (isinstance(value, tuple) and value
                                     and all(_is_number(item) for item in value)):
                description[f"optimizer.{key}"] = value
    loss = getattr(emitter, "loss", None)
    if loss is not None:
        description["loss"] = _callable_name(loss)
    metrics = getattr(emitter, "metrics", None)
    if isinstance(metrics, Mapping):
        description["metrics"] = ", ".join(map(str, metrics)) or "none"
    if getattr(emitter, "device", None) is not None:
        description["device"] = str(emitter.device)
    precision = getattr(getattr(emitter, "precision", None), "name", None)
    if precision is not None:
        description["precision"] = precision
    return description


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> Params:
    """Flatten nested settings into ``{"a.b": value}`` of numbers, booleans and strings.

    Parameters
    ----------
    params : mapping
        The settings.
    prefix : str, default ""
        Put before every key (with a dot).

    Returns
    -------
    dict
        Flat settings; values that are not numbers, booleans or strings (None,
        lists, tuples, objects) become their text.
    """
    return {name: _param_value(value)
            for name, value in flatten_mapping(params, prefix).items()}


def flatten_mapping(values: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Flatten nested mappings into ``{"a.b": value}``, the values as they are.

    Parameters
    ----------
    values : mapping
        Values by name, some of them mappings.
    prefix : str, default ""
        Put before every key (with a dot).

    Returns
    -------
    dict
        One entry per value that is not a mapping.
    """
    flat: Dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_mapping(value, name))
        else:
            flat[name] = value
    return flat


def split_of(name: str) -> tuple:
    """``("validation", "m")`` for ``"val_m"``, else ``("train", name)``.

    Parameters
    ----------
    name : str
        A scalar's name.

    Returns
    -------
    tuple of str
        The split and the metric.
    """
    if name.startswith("val_") and len(name) > len("val_"):
        return "validation", name[len("val_"):]
    return "train", name


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _callable_name(value: Any) -> str:
    return getattr(value, "__name__", None) or type(value).__name__


def _param_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value if isinstance(value, str) else str(value)
