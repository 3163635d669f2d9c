"""The programs taken out of a generative model: its generator and its encoder.

Each is a :class:`torch.nn.Module` around the model, whose ``forward`` holds tensor
operations only (the condition encoded by
:meth:`~pynet_cvae.conditions.Condition.encode_unchecked`), so that it traces with
a free batch size; :func:`reference_outputs` computes what it should give through the
model's own generation interface.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..generation import square_image_shape

_EXAMPLE_BATCH = 3


class Program(nn.Module):
    """A program taken out of a generative model: shapes and the condition's form.

    Parameters
    ----------
    model : torch.nn.Module
        A model with the generation interface.
    image_shape : sequence of int, optional
        The images' shape (default: the model's, else a square image).
    """

    def __init__(self, model: nn.Module, image_shape: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        self.model = model
        shape = image_shape or getattr(model, "image_shape", None) \
            or square_image_shape(model.input_dim)
        self.image_shape = tuple(int(side) for side in shape)
        self.dtype = next(model.parameters()).dtype

    def _encoded(self, condition: torch.Tensor) -> torch.Tensor:
        return self.model.condition.encode_unchecked(condition).to(self.dtype)

    def argument_names(self) -> List[str]:
        """The names of ``forward``'s arguments, which are the inputs' names.

        Returns
        -------
        list of str
        """
        return [item["name"] for item in self.signature()[0]]

    def signature(self) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """The descriptions of the inputs and of the outputs.

        Returns
        -------
        inputs, outputs : list of dict
            ``{"name", "dtype", "shape"}`` (and a ``description``) each; ``"batch"``
            stands for the free batch size.
        """
        raise NotImplementedError

    def example_inputs(self, batch: int = _EXAMPLE_BATCH,
                       generator: Optional[torch.Generator] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Random inputs of the program.

        Parameters
        ----------
        batch : int, default 3
            Their batch size.
        generator : torch.Generator, optional
            Makes them reproducible.

        Returns
        -------
        tuple of torch.Tensor
            In the order of :meth:`argument_names`.
        """
        raise NotImplementedError

    def _tensor(self, name: str, *shape: int, **extra: str) -> Dict[str, Any]:
        """The description of a float tensor of ``(batch, *shape)``."""
        return {"name": name, "dtype": _dtype_name(self.dtype), "shape": ["batch", *shape],
                **extra}

    def condition_input(self) -> Dict[str, Any]:
        """The description of the ``condition`` input.

        Returns
        -------
        dict
        """
        condition = self.model.condition
        if condition.is_class_only:
            return {"name": "condition", "dtype": "int64", "shape": ["batch"],
                    "description": f"class ids in [0, {condition.n_classes})"}
        return self._tensor("condition", len(condition.covariates),
                            description=f"raw values of the covariates {condition.names} "
                                        "(class ids of the categorical ones)")

    def example_condition(self, batch: int, generator: Optional[torch.Generator] = None
                          ) -> torch.Tensor:
        """Random condition values in the form of the ``condition`` input.

        Parameters
        ----------
        batch : int
            Their number.
        generator : torch.Generator, optional
            Makes them reproducible.

        Returns
        -------
        torch.Tensor
            Class ids, and values within 2 standard deviations of the mean.
        """
        columns = []
        for covariate in self.model.condition.covariates:
            if covariate.kind == "categorical":
                columns.append(torch.randint(0, covariate.n_classes, (batch,),
                                             generator=generator).to(self.dtype))
            else:
                draws = torch.rand(batch, generator=generator, dtype=self.dtype) * 4 - 2
                columns.append(covariate.mean + covariate.std * draws)
        if self.model.condition.is_class_only:
            return columns[0].long()
        return torch.stack(columns, dim=1)


class Generator(Program):
    """``(condition, z) -> images`` of a generative model (see the module documentation).

    Parameters
    ----------
    model, image_shape
        As :class:`Program`.
    """

    def forward(self, condition: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Images from condition values and standard normal draws.

        Parameters
        ----------
        condition : torch.Tensor
            ``(batch,)`` class ids, or the ``(batch, covariates)`` table.
        z : torch.Tensor
            ``(batch, latent_dim)`` draws.

        Returns
        -------
        torch.Tensor
            ``(batch, *image_shape)`` images.
        """
        encoded = self._encoded(condition)
        prior_mu, prior_log_var = self.model.prior_parameters(encoded)
        latent = prior_mu + z.to(self.dtype) * torch.exp(prior_log_var / 2)
        return self.model.decode(latent, encoded).reshape(-1, *self.image_shape)

    def signature(self) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """The descriptions of the inputs (condition, z) and of the output (images).

        Returns
        -------
        inputs, outputs : list of dict
            See :meth:`Program.signature`.
        """
        latent = self._tensor("z", self.model.latent_dim,
                              description="standard normal draws (times a temperature)")
        return [self.condition_input(), latent], [self._tensor("images", *self.image_shape)]

    def example_inputs(self, batch: int = _EXAMPLE_BATCH,
                       generator: Optional[torch.Generator] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Random conditions (:meth:`example_condition`) and draws, as
        :meth:`Program.example_inputs`."""
        return (self.example_condition(batch, generator),
                torch.randn(batch, self.model.latent_dim, generator=generator,
                            dtype=self.dtype))


class LatentEncoder(Program):
    """``(images, condition) -> (z_mu, z_log_var)`` of a generative model.

    Parameters
    ----------
    model, image_shape
        As :class:`Program`.
    """

    def forward(self, images: torch.Tensor, condition: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """q(z|x, c) of images.

        Parameters
        ----------
        images : torch.Tensor
            ``(batch, *image_shape)`` images.
        condition : torch.Tensor
            ``(batch,)`` class ids, or the ``(batch, covariates)`` table.

        Returns
        -------
        z_mu, z_log_var : torch.Tensor
            ``(batch, latent_dim)`` each.
        """
        encoded = self._encoded(condition)
        flat = images.flatten(1).to(self.dtype)
        return self.model.encode_latent(flat, encoded)

    def signature(self) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """The descriptions of the inputs (images, condition) and of the outputs (z_mu,
        z_log_var).

        Returns
        -------
        inputs, outputs : list of dict
            See :meth:`Program.signature`.
        """
        return ([self._tensor("images", *self.image_shape), self.condition_input()],
                [self._tensor(name, self.model.latent_dim) for name in ("z_mu", "z_log_var")])

    def example_inputs(self, batch: int = _EXAMPLE_BATCH,
                       generator: Optional[torch.Generator] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Random images in [0, 1] and conditions, as :meth:`Program.example_inputs`."""
        return (torch.rand(batch, *self.image_shape, generator=generator, dtype=self.dtype),
                self.example_condition(batch, generator))


#: The programs by name.
PROGRAMS = {"generator": Generator, "encoder": LatentEncoder}

def reference_outputs(program: "Program", *inputs: torch.Tensor) -> List[torch.Tensor]:
    """What the model's generation interface gives for a program's inputs.

    Parameters
    ----------
    program : Generator or LatentEncoder
        The program.
    *inputs : torch.Tensor
        Its inputs.

    Returns
    -------
    list of torch.Tensor
        The program's outputs, computed by ``model.sample`` (one condition and one
        draw at a time) or ``model.encode``.
    """
    model = program.model
    if isinstance(program, Generator):
        condition, z = inputs
        images = torch.cat([model.sample(condition[row:row + 1], z=z[row:row + 1])
                            for row in range(condition.shape[0])])
        return [images.reshape(-1, *program.image_shape)]
    images, condition = inputs
    encoding = model.encode(images.flatten(1), condition)
    return [encoding.z_mu, encoding.z_log_var]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")
