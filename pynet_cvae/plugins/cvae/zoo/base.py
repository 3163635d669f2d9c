"""What every model of the zoo shares: a typed config and the generation interface.

A zoo model is built from its family's config dataclass, from keyword arguments
naming the config's fields, or both (the keywords override the config)::

    ConditionalCVAE(ConditionalConfig(input_dim=784, encoder="Conv2dTrunk"))
    ConditionalCVAE(input_dim=784, encoder="Conv2dTrunk")

so ``Networks.get(name)(**kwargs)`` rebuilds it from ``model_config.json``
(:meth:`ZooModel.config_dict`). Its networks come from registered names in the config
or from modules given to the constructor (injection).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn

from ..generation import GenerativeMixin

__all__ = ["ZooModel", "make_config", "check_positive", "check_weight", "image_shape_of"]


def check_positive(name: str, value: Any) -> None:
    """Refuse anything but an integer >= 1, naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_weight(name: str, value: Any, positive: bool = False) -> None:
    """Refuse anything but a finite number >= 0 (> 0 with ``positive``), naming
    ``name``."""
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def image_shape_of(input_dim: int, image_shape: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """The image shape holding ``input_dim`` values (by default a square image).

    Parameters
    ----------
    input_dim : int
        The size of a flattened image.
    image_shape : sequence of int, optional
        ``(height, width)`` or ``(depth, height, width)``.
    """
    if image_shape is None:
        side = math.isqrt(input_dim)
        if side * side != input_dim:
            raise ValueError(f"cannot infer the image shape of input_dim {input_dim}: give "
                             "image_shape")
        return side, side
    shape = tuple(int(side) for side in image_shape)
    if len(shape) not in (2, 3) or math.prod(shape) != input_dim:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold input_dim "
                         f"{input_dim} pixels: expected (height, width) or (depth, height, "
                         "width) whose product is input_dim")
    return shape


def make_config(config_class: type, config: Any, fields: Dict[str, Any]) -> Any:
    """A config of ``config_class`` from a config (or a dict) and field overrides.

    Raises
    ------
    ValueError
        Naming an unknown field and the known ones.
    """
    known = [field.name for field in dataclasses.fields(config_class)]
    if isinstance(config, dict):
        fields = {**config, **fields}
        config = None
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(f"{config_class.__name__} has no field {unknown[0]!r}; its fields "
                         f"are {known}")
    if config is None:
        return config_class(**fields)
    if not isinstance(config, config_class):
        raise TypeError(f"expected a {config_class.__name__}, got {config!r}")
    return dataclasses.replace(config, **fields) if fields else config


class ZooModel(GenerativeMixin, nn.Module):
    """The base of the zoo's models (see the module documentation).

    A subclass sets ``config_class`` and builds its parts from ``self.config``; it
    defines ``objective_terms()`` (its objective, :attr:`objective`, reads as that
    list) and, when it needs observers during training (weight averages,
    schedules), ``training_observers()``.
    """

    config_class: type = type(None)

    def __init__(self, config: Any = None, **fields: Any) -> None:
        nn.Module.__init__(self)
        self.config = make_config(self.config_class, config, fields)

    def config_dict(self) -> Dict[str, Any]:
        """The config's fields as JSON values (the model's ``model_config.json`` kwargs)."""
        return _json_values(dataclasses.asdict(self.config))

    def training_observers(self) -> List[Tuple[str, Callable[..., Any]]]:
        """``(signal, observer)`` pairs that training this model needs (none by default)."""
        return []

    def extra_repr(self) -> str:
        return f"config={self.config!r}"


def _json_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_values(item) for item in value]
    return value
