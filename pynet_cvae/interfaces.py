"""DeepLearningInterface: pynet's training object, built on :mod:`pynet_cvae.training`."""

from __future__ import annotations

import logging
import os
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .distributed import join_process_group, local_rank, wrap_model
from .distributed import wanted as wanted_distributed
from .precision import MixedPrecision
from .registry import Losses, Metrics, Networks, resolve
from .seeding import seed_everything
from .training import TrainingLoop

if TYPE_CHECKING:  # the loggers import the plotting package: only when one is added
    from .loggers.base import Logger

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
        is given. ``"Adam"`` and ``"AdamW"`` use torch's fused implementation
        (``fused=True``: the same update rule in one kernel per step, results equal
        up to float rounding, about 2.5x faster on the tutorial's CVAE on a CPU)
        where torch has one for the parameters' device, unless ``fused`` or
        ``foreach`` is given.
    learning_rate : float, default 1e-3
        The optimizer's learning rate.
    loss_name : str, default "NLLLoss"
        A registered loss or a :mod:`torch.nn` loss class name. Ignored when
        ``loss`` is given.
    metrics : list of callable or str, optional
        Callables ``metric(prediction, *targets)`` or registered metric names; each
        is reported under its function or class name. A metric whose name is also
        an extra value the loss returns (``(value, {name: ...})``) is not computed:
        the loss's value is reported under that name (see
        :meth:`~pynet_cvae.steps.BatchSteps.compute_metrics`).
    use_cuda : bool, default False
        Train on the default CUDA device (an error if none is available); the same
        as ``device="cuda"``.
    pretrained : str, optional
        A checkpoint (or a saved state dict) whose weights are loaded into the model.
    resume : bool, default False
        With ``pretrained`` (a checkpoint, or a folder of checkpoints whose last good
        one is used): also restore the optimizer, the scheduler, the histories, the
        random states and the observers' states, and continue training after the
        checkpoint's epoch. ``training(..., resume=True)`` does the same from its
        ``checkpointdir``.
    add_labels : bool, default False
        Call the model as ``model(inputs, labels)``.
    loss : callable, optional
        The loss ``loss(prediction, *targets)``; if it has a ``layer_outputs``
        attribute, the model's extra outputs are set there before each call.
    optimizer : torch.optim.Optimizer, optional
        A ready optimizer (overrides ``optimizer_name``).
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"`` (CUDA, else MPS,
        else the CPU); overrides ``use_cuda``. The model, the batches, the loss and
        the metrics' sums live there. In a distributed run, ``"cuda"`` and
        ``"auto"`` mean ``cuda:LOCAL_RANK``.
    precision : {"fp32", "bf16", "fp16"}, default "fp32"
        Run the model's forward under bfloat16 or float16 autocast (float16 with a
        gradient scaler); see :mod:`pynet_cvae.precision`.
    compile : bool or dict, default False
        Compile the model's forward with :func:`torch.compile` (a dict: its keyword
        arguments, e.g. ``{"mode": "max-autotune"}``), in place, so that
        ``interface.model`` and its checkpoints keep their keys. The first batches
        are slow (compilation); it pays off for large models on a GPU.
    num_threads : int, optional
        Set torch's number of CPU threads (:func:`torch.set_num_threads`, for the
        whole process). By default the environment variable
        ``PYNET_CVAE_NUM_THREADS`` when set, else torch's setting is left alone
        (torch uses one thread per physical core, or ``OMP_NUM_THREADS``).
    distributed : bool, optional
        Train data-parallel over the processes started by ``torchrun``
        (:mod:`pynet_cvae.distributed`). By default (None) whenever the
        environment says ``WORLD_SIZE`` > 1; False never; True requires it.
    model_kwargs : dict or NetParameters, optional
        Arguments of a network given by name.
    progress : bool, optional
        Show a progress bar per epoch; by default only when the output (standard
        error) is a terminal. The bar only counts the batches: showing it or not
        changes nothing in the training. In a distributed run, rank 0 shows it.
    validation_predictions : "batch", "all" or int, default "batch"
        What the ``after_epoch`` signal's ``val_pred`` holds: the predictions of the
        first validation batch (memory bounded by the batch size), of every
        validation sample, or of the first N samples.
    seed : int, optional
        Seed Python, NumPy and torch (:func:`pynet_cvae.seeding.seed_everything`)
        before the model is built by name and the optimizer created.
    **optimizer_kwargs
        Extra arguments of the optimizer (e.g. ``momentum=0.9``).

    Attributes
    ----------
    checkpoint : dict or None
        The checkpoint read for ``pretrained`` (None without one), as in pynet.
    resume : bool
        The ``resume`` argument.

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
                 progress: Optional[bool] = None, seed: Optional[int] = None,
                 precision: str = "fp32", compile: Union[bool, Dict[str, Any]] = False,
                 num_threads: Optional[int] = None, distributed: Optional[bool] = None,
                 validation_predictions: Union[str, int] = "batch",
                 **optimizer_kwargs: Any) -> None:
        super().__init__()
        set_num_threads(num_threads)
        if seed is not None:
            seed_everything(seed)
        parallel = wanted_distributed(distributed)
        self.device = resolve_device(device, use_cuda,
                                     local_rank=local_rank() if parallel else None)
        self.precision = MixedPrecision(precision, self.device)
        self.model = build_model(model, model_kwargs).to(self.device)
        compile_model(self.model, compile)
        if parallel:
            self.distributed = join_process_group(self.device)
            self.parallel_model = wrap_model(self.model, self.device)
        self.optimizer = optimizer if optimizer is not None else build_optimizer(
            optimizer_name, self.model.parameters(), learning_rate, optimizer_kwargs)
        self.loss = loss if loss is not None else build_loss(loss_name)
        if not callable(self.loss):
            raise TypeError(f"loss must be callable, got {self.loss!r}")
        self.metrics = build_metrics(metrics)
        self.add_labels = add_labels
        self.progress = progress
        self.validation_predictions = check_validation_predictions(validation_predictions)
        self.loggers: List[Logger] = []
        self.resume = resume
        self.checkpoint: Optional[Dict[str, Any]] = None
        if resume and pretrained is None:
            raise ValueError("resume=True needs pretrained=<checkpoint path> to resume from")
        if pretrained is not None:
            self.load_pretrained(pretrained, resume=resume)

    def train(self, loader: Iterable) -> Tuple[float, Dict[str, float]]:
        """Train one epoch on ``loader`` (pynet's name for :meth:`train_epoch`).

        Returns
        -------
        loss : float
            The mean training loss.
        values : dict
            The mean of each metric and extra loss value.
        """
        return self.train_epoch(loader)

    def test(self, loader: Iterable, with_logit: bool = False,
             logit_function: str = "softmax", predict: bool = False,
             concat_layer_outputs: Optional[Sequence[str]] = None,
             is_validation: bool = False) -> Tuple[np.ndarray, float, Dict[str, float]]:
        """Evaluate on ``loader`` (pynet's name; see :meth:`testing` for the arguments).

        ``is_validation`` is accepted for pynet's signature: the loss is computed on
        every batch either way.

        Returns
        -------
        y_pred : numpy.ndarray
            The predictions.
        loss : float
            The mean loss.
        values : dict
            The mean of each metric and extra loss value.
        """
        y_pred, _, _, loss, values = self.evaluate(
            loader, with_logit=with_logit, logit_function=logit_function, predict=predict,
            concat_layer_outputs=concat_layer_outputs)
        return y_pred, loss, values

    def load_pretrained(self, path: str, resume: bool = False) -> None:
        """Load the weights of checkpoint ``path``; with ``resume``, the run state too.

        Parameters
        ----------
        path : str
            A checkpoint file, or with ``resume`` a checkpoint folder (its last good
            checkpoint is used).
        resume : bool, default False
            Also restore the optimizer now, and the scheduler, histories, random
            states and observer states when :meth:`training` starts.

        Raises
        ------
        FileNotFoundError
            If the file (or, for a folder, any checkpoint in it) is missing.
        pynet_cvae.checkpoint.CorruptCheckpointError
            If the file is truncated or corrupted.
        pynet_cvae.checkpoint.UnsafeCheckpointError
            If the file would run code when unpickled; nothing in it is run.
        ValueError
            If the weights do not fit the model, or ``resume`` and the file holds
            only weights.
        """
        if resume and os.path.isdir(path):
            if self.resume_from(path) is None:
                raise FileNotFoundError(f"no checkpoint to resume from in {path!r}")
            self.checkpoint = self._resume_state
            return
        checkpoint = load_checkpoint(path, map_location=self.device)
        self.checkpoint = checkpoint
        if resume:
            self.load_run_state(path, checkpoint)
        else:
            self.load_weights(checkpoint["model"], path)

    def add_logger(self, logger: Logger, step_signal: Optional[str] = None) -> Logger:
        """Let ``logger`` follow the training (see :mod:`pynet_cvae.loggers`).

        Parameters
        ----------
        logger : pynet_cvae.loggers.Logger
            E.g. ``TensorBoardLogger("runs/tensorboard")``; several may be added.
        step_signal : str, optional
            A per-step signal whose values the logger writes on the step axis.

        Returns
        -------
        pynet_cvae.loggers.Logger
            ``logger``, now in :attr:`loggers`.
        """
        from .loggers.attach import attach_logger

        return attach_logger(self, logger, step_signal=step_signal)

    def remove_logger(self, logger: Logger) -> None:
        """Stop ``logger`` following the training (it is not closed).

        Parameters
        ----------
        logger : pynet_cvae.loggers.Logger
            A logger given to :meth:`add_logger`.
        """
        from .loggers.attach import detach_logger

        detach_logger(self, logger)


def check_validation_predictions(value: Union[str, int]) -> Union[str, int]:
    """Check the ``validation_predictions`` argument (see :class:`DeepLearningInterface`).

    Raises
    ------
    ValueError
        Unless ``value`` is "batch", "all" or an integer >= 0.
    """
    if value in ("batch", "all") and isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"validation_predictions must be 'batch', 'all' or an integer "
                         f">= 0, got {value!r}")
    return value


class NetParameters(dict):
    """The arguments of a network built by name, set at creation or as attributes.

    pynet's parameter holder; give it as ``model_kwargs``.

    Examples
    --------
    >>> parameters = NetParameters(in_features=4)
    >>> parameters.out_features = 2
    >>> torch.nn.Linear(**parameters)
    Linear(in_features=4, out_features=2, bias=True)
    """

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    @property
    def net_kwargs(self) -> Dict[str, Any]:
        """The arguments, as a dict (pynet's attribute)."""
        return dict(self)


def resolve_device(device: Union[str, torch.device, None], use_cuda: bool = False,
                   local_rank: Optional[int] = None) -> torch.device:
    """Turn the ``device``/``use_cuda`` arguments into a :class:`torch.device`.

    Parameters
    ----------
    device : str, torch.device or None
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` or None
        (``use_cuda`` decides).
    use_cuda : bool, default False
        With ``device=None``: CUDA rather than the CPU.
    local_rank : int, optional
        In a distributed run, the process's rank on its machine: a CUDA device
        without an index becomes ``cuda:local_rank``.

    Raises
    ------
    ValueError
        If the device is unknown or not available here.
    """
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
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda" and device.index is not None \
            and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} asked for but this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
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
    parameters = list(parameters)
    if name in FUSED_OPTIMIZERS and not {"fused", "foreach"} & set(options):
        fused = _fused_optimizer(optimizer_class, parameters, learning_rate, options)
        if fused is not None:
            return fused
    try:
        return optimizer_class(parameters, lr=learning_rate, **options)
    except TypeError as error:
        raise TypeError(f"cannot build optimizer {name} with {options}: {error}") from None


FUSED_OPTIMIZERS = ("Adam", "AdamW")
"""The optimizers built with ``fused=True`` by default, where torch supports it."""


def _fused_optimizer(optimizer_class: type, parameters: list, learning_rate: float,
                     options: Dict[str, Any]) -> Optional[torch.optim.Optimizer]:
    """The fused variant, or None where torch has none for these parameters."""
    supported = ("cpu", "cuda", "mps", "xpu")
    tensors = []
    for item in parameters:
        group = item.get("params") if isinstance(item, dict) else [item]
        if isinstance(group, torch.Tensor):
            group = [group]
        if not isinstance(group, (list, tuple)):
            return None  # an iterator in a parameter group: leave it to torch
        tensors.extend(group)
    if not tensors or any(not isinstance(tensor, torch.Tensor)
                          or tensor.device.type not in supported
                          or not torch.is_floating_point(tensor) for tensor in tensors):
        return None
    try:
        return optimizer_class(parameters, lr=learning_rate, fused=True, **options)
    except (RuntimeError, ValueError, TypeError):
        return None


def set_num_threads(num_threads: Optional[int]) -> None:
    """Apply ``num_threads`` (or ``PYNET_CVAE_NUM_THREADS``) to torch; None: leave it.

    Raises
    ------
    ValueError
        If the number is not an integer >= 1.
    """
    source = "num_threads"
    if num_threads is None:
        num_threads = os.environ.get(NUM_THREADS_VARIABLE) or None
        source = f"environment variable {NUM_THREADS_VARIABLE}"
        if num_threads is None:
            return
        try:
            num_threads = int(num_threads)
        except ValueError:
            raise ValueError(f"{source} must be an integer >= 1, got {num_threads!r}") \
                from None
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"{source} must be an integer >= 1, got {num_threads!r}")
    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)


NUM_THREADS_VARIABLE = "PYNET_CVAE_NUM_THREADS"
"""The environment variable giving the default of ``num_threads``."""


def compile_model(model: torch.nn.Module, options: Union[bool, Dict[str, Any]]) -> None:
    """Compile ``model``'s forward in place with :func:`torch.compile` (False: no)."""
    if options is False or options is None:
        return
    if options is True:
        options = {}
    if not isinstance(options, dict):
        raise ValueError(f"compile must be True, False or a dict of torch.compile "
                         f"arguments, got {options!r}")
    model.compile(**options)


def build_loss(name: str) -> Callable:
    """Instantiate the registered or :mod:`torch.nn` loss called ``name``."""
    return _instantiate(resolve(Losses, name, _torch_nn_class))


def build_metrics(metrics: Optional[Iterable[Union[Callable, str]]]) -> Dict[str, Callable]:
    """Resolve metric names and name each metric.

    A metric given by name is reported under that name (``"accuracy"``,
    ``"binary_precision"``...); a callable under its function or class name.
    """
    named: Dict[str, Callable] = {}
    for metric in metrics or []:
        name = metric if isinstance(metric, str) else None
        if isinstance(metric, str):
            metric = _instantiate(resolve(Metrics, metric, _torch_nn_class))
        if not callable(metric):
            raise TypeError(f"a metric must be callable or a registered name, got {metric!r}")
        name = name or metric_name(metric)
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
