"""Training recipes: what ``pynet-cvae train`` trains, as typed configs in a registry.

A recipe says how to train a family of models on a data set: which registered
network (``network``), with which loss, metrics and observers, and the defaults of
the run's settings. Its options are a dataclass (:attr:`Recipe.options_class`) whose
fields, with their docstrings, become the command line's flags, like the fields of
the network's config (``--model.<field>``) and the run's common settings
(:class:`~pynet_cvae.commands.settings.TrainSettings`). A recipe is registered by
name::

    @Recipes.register(name="my-recipe")
    class MyRecipe(Recipe):
        network = "MyNet"
        options_class = MyOptions
        defaults = {"learning_rate": 1e-3, "model.hidden": 64}

        def build(self, options, model, context):
            ...
            return TrainingPlan(model=..., loss=..., ...)

The core registers one recipe, ``network`` (:class:`NetworkRecipe`): any registered
network, trained with a registered loss and metrics named with their arguments
(:class:`Component`); plugins register their own (the CVAE plugin's ``tutorial``,
``conditional``, ``semi-supervised``, ``prior``).
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .registry import Losses, Metrics, Networks, Recipes, resolve

__all__ = ["Component", "DataContext", "TrainingPlan", "Recipe", "NetworkRecipe",
           "NetworkOptions", "build_component", "network_config_class"]


@dataclass
class Component:
    """A registered object named with its arguments, e.g. a loss or a metric.

    Parameters
    ----------
    name : str
        The registered name (a loss, a metric; for losses also a :mod:`torch.nn`
        loss).
    args : dict
        The keyword arguments it is built with (a class), or none (a function).
    """

    name: str
    args: Dict[str, Any] = field(default_factory=dict)


def build_component(registry: type, component: Component,
                    fallback: Optional[Callable[[str], Any]] = None) -> Any:
    """Build a :class:`Component`: a class with its arguments, a function as it is.

    Parameters
    ----------
    registry : type
        The registry the name is in (:class:`~pynet_cvae.registry.Losses`, ...).
    component : Component or dict
        The name and arguments.
    fallback : callable, optional
        ``name -> object or None`` looked at when the registry lacks the name.

    Returns
    -------
    object
    """
    if isinstance(component, dict):
        component = Component(**component)
    found = resolve(registry, component.name, fallback)
    if inspect.isclass(found):
        try:
            return found(**component.args)
        except TypeError as error:
            raise ValueError(f"cannot build {registry.kind} {component.name} with "
                             f"{component.args}: {error}") from None
    if component.args:
        raise ValueError(f"{registry.kind} {component.name} is a function: it takes no "
                         f"arguments, got {component.args}")
    return found


def network_config_class(network: str) -> Optional[type]:
    """The config dataclass of a registered network (a zoo model's), or None.

    Parameters
    ----------
    network : str
        The registered network's name.
    """
    config_class = getattr(Networks.get(network), "config_class", None)
    return config_class if dataclasses.is_dataclass(config_class) else None


@dataclass
class DataContext:
    """What a recipe knows about the data when it builds a run.

    Parameters
    ----------
    input_path, metadata_path : str
        The fetched images (``.npy``, ``(N, ...)``) and their table (TSV).
    image_shape : tuple of int
        The shape of one image without its channel axis (``(H, W)`` or
        ``(D, H, W)``).
    output : str
        The run folder (a recipe may write prepared files there).
    seed : int
        The run's seed.
    batch_size : int
        The training batch size.
    folds : int
        The number of cross-validation folds.
    sample_size : float
        The fraction of the rows kept.
    """

    input_path: str
    metadata_path: str
    image_shape: Tuple[int, ...]
    output: str
    seed: int
    batch_size: int
    folds: int
    sample_size: float

    @property
    def input_dim(self) -> int:
        """The size of a flattened image."""
        size = 1
        for side in self.image_shape:
            size *= int(side)
        return size

    def metadata(self) -> Any:
        """The metadata table (a pandas DataFrame)."""
        import pandas as pd

        return pd.read_csv(self.metadata_path, sep="\t")

    def training_rows(self) -> Dict[str, Any]:
        """DataManager arguments keeping the data set's training split: its ``split``
        column's ``"train"`` rows when it has one, else every row."""
        columns = self.metadata().columns
        arguments: Dict[str, Any] = {"metadata_path": self.metadata_path,
                                     "sample_size": self.sample_size}
        if "split" in columns:
            arguments["projection_labels"] = {"split": "train"}
        return arguments


@dataclass
class TrainingPlan:
    """What a recipe builds: the parts of a run.

    Parameters
    ----------
    model : torch.nn.Module
    loss : callable
    metrics : list of callable
    network : str
        The registered network's name.
    model_config : dict
        The network's keyword arguments, resolved (the data's dimensions filled in):
        ``Networks.get(network)(**model_config)`` rebuilds the model.
    manager_arguments : dict
        The :class:`~pynet_cvae.datasets.DataManager` arguments choosing the rows,
        the labels and the transforms (``number_of_folds``, ``batch_size`` and
        ``seed`` are the run's).
    add_labels : bool, default True
        Whether the model is called as ``model(inputs, labels)``.
    observers : list of (str, callable)
        ``(signal, observer)`` pairs to attach.
    summary : dict
        Lines for the run's summary (e.g. ``{"labelled": 100}``).
    """

    model: torch.nn.Module
    loss: Callable[..., Any]
    metrics: List[Callable[..., Any]]
    network: str
    model_config: Dict[str, Any]
    manager_arguments: Dict[str, Any]
    add_labels: bool = True
    observers: List[Tuple[str, Callable[..., Any]]] = field(default_factory=list)
    summary: Dict[str, Any] = field(default_factory=dict)


class Recipe:
    """The base of recipes (see the module documentation).

    Attributes
    ----------
    network : str
        The registered network trained by default (``--network`` chooses another).
    options_class : type or None
        The dataclass of the recipe's own options (flags at the top level).
    defaults : dict
        Defaults of the run's settings and of the model's fields (``"model.<field>"``).
    derived : tuple of str
        Model fields the recipe sets from the data (no flag: they follow the data).
    """

    network: str = ""
    options_class: Optional[type] = None
    defaults: Dict[str, Any] = {}
    derived: Tuple[str, ...] = ()
    description: str = ""

    def model_defaults(self) -> Dict[str, Any]:
        """The recipe's defaults of the model's fields (its ``"model.<field>"`` keys)."""
        return {key[len("model."):]: value for key, value in self.defaults.items()
                if key.startswith("model.")}

    def build(self, options: Any, model: Dict[str, Any], context: DataContext,
              network: str) -> TrainingPlan:
        """Build the run's parts.

        Parameters
        ----------
        options : dataclass instance or None
            The recipe's options.
        model : dict
            The model's fields as given (without the derived ones).
        context : DataContext
            The data.
        network : str
            The registered network to train.

        Returns
        -------
        TrainingPlan
        """
        raise NotImplementedError


@dataclass
class NetworkOptions:
    """Any registered network, trained with a registered loss and metrics.

    Parameters
    ----------
    loss : Component, optional
        The loss (``{name, args}``): a registered loss or a :mod:`torch.nn` loss's
        name; by default the model's own ``objective``.
    metrics : list of Component
        The metrics (``[{name, args}, ...]``), registered by name.
    labels : list of str
        The metadata columns handed to the model and the loss as labels (empty:
        none).
    continuous_labels : bool, default False
        The labels are floats instead of class ids.
    add_labels : bool, default True
        Call the model as ``model(inputs, labels)``.
    autoencoder : bool, default True
        The input image is also the target (``add_input``).
    flatten : bool, default True
        Flatten each image into a vector before the model sees it.
    """

    loss: Optional[Component] = None
    metrics: List[Component] = field(default_factory=list)
    labels: List[str] = field(default_factory=lambda: ["label"])
    continuous_labels: bool = False
    add_labels: bool = True
    autoencoder: bool = True
    flatten: bool = True


@Recipes.register(name="network")
class NetworkRecipe(Recipe):
    """Any registered network, loss and metrics, named with their arguments."""

    network = ""
    options_class = NetworkOptions
    defaults = {"learning_rate": 1e-3}
    description = ("any registered network (--network NAME, its arguments as --model.*) "
                   "with a registered loss and metrics")

    def build(self, options: NetworkOptions, model: Dict[str, Any], context: DataContext,
              network: str) -> TrainingPlan:
        from .datasets.transforms import Flatten

        instance = Networks.get(network)(**model)
        if options.loss is not None:
            loss = build_component(Losses, options.loss, _torch_loss)
        elif getattr(instance, "objective", None) is not None:
            loss = instance.objective
        else:
            raise ValueError(f"network {network} has no objective: name its loss "
                             "(--loss.name NAME, or loss: {name: ...} in the config)")
        metrics = [build_component(Metrics, metric) for metric in options.metrics]
        arguments = {**context.training_rows(), "labels": list(options.labels) or None,
                     "continuous_labels": options.continuous_labels,
                     "add_input": options.autoencoder, "test_size": 0}
        if options.flatten:
            arguments["input_transforms"] = [Flatten()]
        return TrainingPlan(
            model=instance, loss=loss, metrics=metrics, network=network,
            model_config=dict(model), manager_arguments=arguments,
            add_labels=options.add_labels and bool(options.labels))


def _torch_loss(name: str) -> Any:
    return getattr(torch.nn, name, None) if name[:1].isupper() else None


def recipe_names() -> Sequence[str]:
    """The registered recipes' names, sorted."""
    return sorted(Recipes.get_registry())
