"""pynet's helpers: logging set-up, checkpoints, named layers, weights.

The functions of pynet's ``pynet.utils`` that scripts call, with pynet's names and
arguments, plus the registries pynet kept there (:class:`Networks`,
:class:`Regularizers`, :class:`Losses`, :class:`Metrics`, :func:`get_tools`).
Unlike pynet, nothing here prints, and :func:`setup_logging` configures the
``pynet_cvae`` logger only (never the root logger, never the warnings filters).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .checkpoint import checkpoint_path, save_checkpoint
from .registry import Losses, Metrics, Networks, Regularizers, get_tools

__all__ = ["LEVELS", "ALLOWED_LAYERS", "setup_logging", "checkpoint", "get_named_layers",
           "layer_at", "freeze_layers", "reset_weights", "test_model", "init_weight",
           "get_activation_name", "get_tools", "Networks", "Regularizers", "Losses",
           "Metrics"]

logger = logging.getLogger("pynet_cvae")

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}
"""The level names :func:`setup_logging` takes."""

ALLOWED_LAYERS = (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.ConvTranspose2d,
                  torch.nn.ConvTranspose3d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d,
                  torch.nn.Linear)
"""The layer types :func:`get_named_layers` lists by default (pynet's)."""

_FORMAT = "[%(asctime)s] {%(pathname)s:%(lineno)d} %(levelname)s - %(message)s"
_SETUP_MARK = "_pynet_cvae_setup_logging"


def setup_logging(level: str = "info", logfile: Optional[str] = None) -> logging.Logger:
    """Send the ``pynet_cvae`` logger's messages of ``level`` and above to the terminal.

    Calling it again replaces the handlers an earlier call added (and only those).

    Parameters
    ----------
    level : {"debug", "info", "warning", "error", "critical"}, default "info"
        The lowest level shown.
    logfile : str, optional
        Also append the messages to this file.

    Returns
    -------
    logging.Logger
        The ``pynet_cvae`` logger.

    Raises
    ------
    ValueError
        If ``level`` is not one of :data:`LEVELS`.
    """
    if level not in LEVELS:
        raise ValueError(f"level {level!r} unknown: expected one of {list(LEVELS)}")
    for handler in [handler for handler in logger.handlers if getattr(handler, _SETUP_MARK,
                                                                      False)]:
        logger.removeHandler(handler)
        handler.close()
    handlers: List[logging.Handler] = [logging.StreamHandler()]
    if logfile is not None:
        handlers.append(logging.FileHandler(logfile, mode="a"))
    formatter = logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S")
    for handler in handlers:
        handler.setLevel(LEVELS[level])
        handler.setFormatter(formatter)
        setattr(handler, _SETUP_MARK, True)
        logger.addHandler(handler)
    logger.setLevel(LEVELS[level])
    return logger


def checkpoint(model: torch.nn.Module, epoch: int, fold: int, outdir: str,
               optimizer: Optional[torch.optim.Optimizer] = None, scheduler: Any = None,
               **kwargs: Any) -> str:
    """Save the weights (and optimizer and scheduler states) as
    ``<outdir>/model_<fold>_epoch_<epoch>.pth``, atomically, with its SHA-256.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    epoch, fold : int
        The epoch and fold the file is named after.
    outdir : str
        The folder (created if needed).
    optimizer, scheduler : optional
        Saved through their ``state_dict()``.
    **kwargs
        Other entries: tensors, numbers, strings, None and lists/dicts of them.

    Returns
    -------
    str
        The file written; ``pretrained=`` of the training interface reads it.
    """
    if optimizer is not None:
        kwargs["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        kwargs["scheduler"] = scheduler.state_dict()
    return save_checkpoint(checkpoint_path(outdir, fold, epoch), fold=int(fold),
                           epoch=int(epoch), model=model.state_dict(), **kwargs)


def _layer_name(name: str, module: torch.nn.Module) -> str:
    """pynet's name of a layer: its path, then its sizes (``conv1-3.6``)."""
    if hasattr(module, "in_channels") and hasattr(module, "out_channels"):
        return f"{name}-{module.in_channels}.{module.out_channels}"
    if hasattr(module, "num_features"):
        return f"{name}-{module.num_features}"
    if hasattr(module, "in_features"):
        return f"{name}-{module.in_features}"
    raise ValueError(f"layer {name!r} of type {type(module).__name__} has no channel or "
                     "feature size to name it by: pass resume=True to use its path alone")


def get_named_layers(model: torch.nn.Module,
                     allowed_layers: Sequence[type] = ALLOWED_LAYERS,
                     resume: bool = False) -> Dict[str, torch.nn.Module]:
    """The model's layers of the allowed types, by name.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    allowed_layers : sequence of type
        The layer types to list.
    resume : bool, default False
        Name each layer by its path in the model (``"encoder.0"``); by default the
        path is followed by the layer's sizes (``"encoder.0-784"``), as pynet does.

    Returns
    -------
    dict
        ``{name: module}``, in the model's order (an ``ops.`` prefix is dropped).
    """
    allowed = tuple(allowed_layers)
    layers = {}
    for name, module in model.named_modules():
        if isinstance(module, allowed):
            name = name.replace("ops.", "")
            layers[name if resume else _layer_name(name, module)] = module
    return layers


def _find_layer(model: torch.nn.Module, layer_name: str,
                allowed_layers: Sequence[type]) -> torch.nn.Module:
    layers = get_named_layers(model, allowed_layers)
    if layer_name in layers:
        return layers[layer_name]
    modules = dict(model.named_modules())
    if layer_name in modules and layer_name:
        return modules[layer_name]
    raise KeyError(f"no layer {layer_name!r} in {type(model).__name__}; named layers: "
                   f"{sorted(layers)}")


def _to_numpy(data: Any) -> Union[np.ndarray, List[np.ndarray]]:
    if isinstance(data, (list, tuple)):
        return [item.detach().cpu().numpy() for item in data]
    return data.detach().cpu().numpy()


def layer_at(model: torch.nn.Module, layer_name: str, x: torch.Tensor,
             allowed_layers: Sequence[type] = ALLOWED_LAYERS
             ) -> Tuple[Union[np.ndarray, List[np.ndarray]], Optional[np.ndarray]]:
    """Run the model on ``x`` and return what a layer outputs, and its weight.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    layer_name : str
        A name of :func:`get_named_layers` (``"fc1-400"``) or a module path
        (``"fc1"``).
    x : torch.Tensor
        The input batch.
    allowed_layers : sequence of type
        The layer types names are looked up among.

    Returns
    -------
    layer_data : numpy.ndarray or list of numpy.ndarray
        The layer's output (one array per output for a layer returning several).
    weight : numpy.ndarray or None
        The layer's ``weight``, when it has one.

    Raises
    ------
    KeyError
        If no layer has that name; the message lists the named layers.
    """
    layer = _find_layer(model, layer_name, allowed_layers)
    seen: List[Any] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: seen.append(output))
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    if not seen:
        raise ValueError(f"layer {layer_name!r} was not called by the model's forward")
    weight = getattr(layer, "weight", None)
    return _to_numpy(seen[-1]), None if weight is None else _to_numpy(weight)


def freeze_layers(model: torch.nn.Module, layer_names: Sequence[str]) -> None:
    """Stop training the parameters of the layers at these module paths (``"fc1"``).

    Raises
    ------
    KeyError
        If a name is not a module path of the model.
    """
    modules = get_named_layers(model, (torch.nn.Module,), resume=True)
    for name in layer_names:
        if name not in modules:
            raise KeyError(f"no layer {name!r} in {type(model).__name__}; layers: "
                           f"{sorted(key for key in modules if key)}")
        for parameter in modules[name].parameters():
            parameter.requires_grad = False


def reset_weights(model: torch.nn.Module, checkpoint: Any = None) -> None:
    """Draw new initial weights for every layer, or load those of ``checkpoint``.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    checkpoint : dict or torch.nn.Module, optional
        A checkpoint dict with a ``"model"`` entry, a state dict, or a model whose
        weights are copied.
    """
    if checkpoint is None:
        for module in model.modules():
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
    elif hasattr(checkpoint, "state_dict"):
        model.load_state_dict(checkpoint.state_dict())
    elif isinstance(checkpoint, dict) and "model" in checkpoint:
        model.load_state_dict(checkpoint["model"])
    else:
        model.load_state_dict(checkpoint)


def test_model(model: torch.nn.Module, shape: Sequence[int]) -> torch.Tensor:
    """Run the model forward and backward on a random batch of ``shape``.

    Returns
    -------
    torch.Tensor
        The model's output; its parameters then hold the gradients of its sum.
    """
    inputs = torch.rand(*shape)
    output = model(inputs)
    output.sum().backward()
    return output


test_model.__test__ = False  # a helper, not a test, for pytest


_ACTIVATION_NAMES = ((torch.nn.LeakyReLU, "leaky_relu"), (torch.nn.ReLU, "relu"),
                     (torch.nn.Tanh, "tanh"), (torch.nn.Sigmoid, "sigmoid"),
                     (torch.nn.Softmax, "sigmoid"))


def get_activation_name(activation: Any) -> str:
    """The name of an activation: None is ``"none"``, a string itself, a class of
    :mod:`torch.nn` (or one of its instances) ``"relu"``, ``"leaky_relu"``,
    ``"tanh"`` or ``"sigmoid"``.

    Raises
    ------
    ValueError
        If the activation is of another type.
    """
    if activation is None:
        return "none"
    if isinstance(activation, str):
        return activation
    for kind, name in _ACTIVATION_NAMES:
        if activation is kind or isinstance(activation, kind) or (
                isinstance(activation, type) and issubclass(activation, kind)):
            return name
    raise ValueError(f"activation {activation!r} unknown: expected None, a name, or one of "
                     f"{[kind.__name__ for kind, _ in _ACTIVATION_NAMES]}")


def init_weight(module: torch.nn.Module, act_func: Any = None) -> None:
    """Initialise a convolution's or linear layer's weights for the activation after it.

    Kaiming (He) normal for ReLU, Kaiming uniform for leaky ReLU, Xavier (Glorot)
    uniform with the activation's gain for sigmoid and tanh, Xavier uniform
    otherwise; the bias is set to 0. Other modules are left alone.
    """
    if not isinstance(module, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)):
        return
    name = get_activation_name(act_func)
    if name == "relu":
        torch.nn.init.kaiming_normal_(module.weight, mode="fan_in")
    elif name == "leaky_relu":
        slope = getattr(act_func, "negative_slope", 0.01)
        torch.nn.init.kaiming_uniform_(module.weight, a=slope, nonlinearity="leaky_relu")
    elif name in ("sigmoid", "tanh"):
        torch.nn.init.xavier_uniform_(module.weight,
                                      gain=torch.nn.init.calculate_gain(name))
    else:
        torch.nn.init.xavier_uniform_(module.weight)
    if module.bias is not None:
        torch.nn.init.constant_(module.bias, 0)
