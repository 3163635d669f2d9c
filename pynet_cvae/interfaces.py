"""DeepLearningInterface: pynet's training object, built on :mod:`pynet_cvae.training`."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, Iterable, Optional, Union

import torch

from .checkpoint import load_checkpoint
from .registry import Losses, Metrics, Networks, resolve
from .training import INITIAL_STATE_FILE, TrainingLoop

logger = logging.getLogger("pynet_cvae")


class DeepLearningInterface(TrainingLoop):
    """Train, validate and test a PyTorch model.

    Parameters
    ----------
    model : torch.nn.Module or str
        The network, or the name of a registered network (see
        :class:`~pynet_cvae.registry.Networks`) built with ``model_kwargs``.
    optimizer_name : str, default "Adam"
        A :mod:`torch.optim` class name, built on the model's parameters with
        ``lr=learning_rate`` and ``optimizer_kwargs``. Ignored when ``optimizer``
        is given.
    learning_rate : float, default 1e-3
        The optimizer's learning rate.
    loss_name : str, default "NLLLoss"
        A registered loss or a :mod:`torch.nn` loss class name. Ignored when
        ``loss`` is given.
    metrics : list of callable or str, optional
        Callables ``metric(prediction, *targets)`` or registered metric names; each
        is reported under its function or class name.
    use_cuda : bool, default False
        Train on the default CUDA device (an error if none is available).
    pretrained : str, optional
        A checkpoint (or a saved state dict) whose weights are loaded into the model.
    resume : bool, default False
        With ``pretrained``: also restore the optimizer, the scheduler and the
        histories, and continue training after the checkpoint's epoch.
    add_labels : bool, default False
        Call the model as ``model(inputs, labels)``.
    loss : callable, optional
        The loss ``loss(prediction, *targets)``; if it has a ``layer_outputs``
        attribute, the model's extra outputs are set there before each call.
    optimizer : torch.optim.Optimizer, optional
        A ready optimizer (overrides ``optimizer_name``).
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"`` (the first
        available accelerator); overrides ``use_cuda``.
    model_kwargs : dict, optional
        Arguments of a network given by name.
    progress : bool, optional
        Show a progress bar per epoch; by default only when the output is a terminal.
    **optimizer_kwargs
        Extra arguments of the optimizer (e.g. ``momentum=0.9``).

    Examples
    --------
    >>> import torch
    >>> interface = DeepLearningInterface(
    ...     model=torch.nn.Linear(4, 3), optimizer_name="SGD", learning_rate=0.1,
    ...     loss_name="CrossEntropyLoss", momentum=0.9)
    >>> type(interface.optimizer).__name__, interface.optimizer.defaults["momentum"]
    ('SGD', 0.9)
    """

    def __init__(self, model: Union[torch.nn.Module, str], optimizer_name: str = "Adam",
                 learning_rate: float = 1e-3, loss_name: str = "NLLLoss",
                 metrics: Optional[Iterable[Union[Callable, str]]] = None,
                 use_cuda: bool = False, pretrained: Optional[str] = None,
                 resume: bool = False, add_labels: bool = False,
                 loss: Optional[Callable] = None,
                 optimizer: Optional[torch.optim.Optimizer] = None,
                 device: Union[str, torch.device, None] = None,
                 model_kwargs: Optional[Dict[str, Any]] = None,
                 progress: Optional[bool] = None, **optimizer_kwargs: Any) -> None:
        super().__init__()
        self.device = resolve_device(device, use_cuda)
        self.model = build_model(model, model_kwargs).to(self.device)
        self.optimizer = optimizer if optimizer is not None else build_optimizer(
            optimizer_name, self.model.parameters(), learning_rate, optimizer_kwargs)
        self.loss = loss if loss is not None else build_loss(loss_name)
        if not callable(self.loss):
            raise TypeError(f"loss must be callable, got {self.loss!r}")
        self.metrics = build_metrics(metrics)
        self.add_labels = add_labels
        self.progress = progress
        if resume and pretrained is None:
            raise ValueError("resume=True needs pretrained=<checkpoint path> to resume from")
        if pretrained is not None:
            self.load_pretrained(pretrained, resume=resume)

    def load_pretrained(self, path: str, resume: bool = False) -> None:
        """Load the weights of checkpoint ``path``; with ``resume``, the run state too.

        Raises
        ------
        FileNotFoundError, pynet_cvae.checkpoint.CheckpointError
            If the file is missing, corrupted or unsafe to load.
        ValueError
            If ``resume`` and the file holds only weights.
        """
        checkpoint = load_checkpoint(path, map_location=self.device)
        try:
            self.model.load_state_dict(checkpoint["model"])
        except RuntimeError as error:
            raise ValueError(
                f"the weights in {path!r} do not fit the model: {error}") from None
        if not resume:
            return
        missing = [key for key in ("optimizer", "fold", "epoch") if checkpoint.get(key) is None]
        if missing:
            raise ValueError(
                f"cannot resume from {path!r}: it holds no {missing} (only weights); "
                "use pretrained= without resume=True")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        initial_path = os.path.join(os.path.dirname(os.path.abspath(path)), INITIAL_STATE_FILE)
        checkpoint["initial"] = (load_checkpoint(initial_path, map_location=self.device)
                                 if os.path.isfile(initial_path) else None)
        self._resume_state = checkpoint
        logger.info("resuming from %s (fold %s, epoch %s)", path, checkpoint["fold"],
                    checkpoint["epoch"])


def resolve_device(device: Union[str, torch.device, None], use_cuda: bool = False
                   ) -> torch.device:
    """Turn the ``device``/``use_cuda`` arguments into a :class:`torch.device`."""
    if device is None:
        device = "cuda" if use_cuda else "cpu"
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device {device!r} unknown; expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} asked for but CUDA is not available here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for but MPS is not available here")
    return device


def build_model(model: Union[torch.nn.Module, str], model_kwargs: Optional[Dict[str, Any]]
                ) -> torch.nn.Module:
    """Return ``model``, building it first when it is a registered network's name."""
    if isinstance(model, str):
        model = resolve(Networks, model, _torch_nn_class)(**(model_kwargs or {}))
    elif model_kwargs:
        raise ValueError("model_kwargs is only used when model is given by name")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a network name, got {model!r}")
    return model


def build_optimizer(name: str, parameters: Iterable, learning_rate: float,
                    options: Dict[str, Any]) -> torch.optim.Optimizer:
    """Build the :mod:`torch.optim` optimizer called ``name``."""
    optimizer_class = getattr(torch.optim, name, None) if isinstance(name, str) else None
    if not (isinstance(optimizer_class, type)
            and issubclass(optimizer_class, torch.optim.Optimizer)):
        known = sorted(attribute for attribute in dir(torch.optim)
                       if isinstance(getattr(torch.optim, attribute), type)
                       and issubclass(getattr(torch.optim, attribute), torch.optim.Optimizer)
                       and attribute != "Optimizer")
        raise ValueError(f"optimizer_name {name!r} is not a torch.optim optimizer; "
                         f"expected one of {known}")
    try:
        return optimizer_class(parameters, lr=learning_rate, **options)
    except TypeError as error:
        raise TypeError(f"cannot build optimizer {name} with {options}: {error}") from None


def build_loss(name: str) -> Callable:
    """Instantiate the registered or :mod:`torch.nn` loss called ``name``."""
    return _instantiate(resolve(Losses, name, _torch_nn_class))


def build_metrics(metrics: Optional[Iterable[Union[Callable, str]]]) -> Dict[str, Callable]:
    """Name each metric (function name or class name) and resolve metric names."""
    named: Dict[str, Callable] = {}
    for metric in metrics or []:
        if isinstance(metric, str):
            metric = _instantiate(resolve(Metrics, metric, _torch_nn_class))
        if not callable(metric):
            raise TypeError(f"a metric must be callable or a registered name, got {metric!r}")
        name = metric_name(metric)
        if name in named:
            raise ValueError(f"two metrics are named {name!r}; metric names must be unique")
        if name == "loss":
            raise ValueError("a metric cannot be named 'loss': the loss is reported as 'loss'")
        named[name] = metric
    return named


def metric_name(metric: Callable) -> str:
    """A function's ``__name__``, or an object's class name."""
    name = getattr(metric, "__name__", None)
    return name if isinstance(name, str) else type(metric).__name__


def _torch_nn_class(name: str) -> Optional[type]:
    candidate = getattr(torch.nn, name, None)
    if isinstance(candidate, type) and issubclass(candidate, torch.nn.Module):
        return candidate
    return None


def _instantiate(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj
