"""A model's objective: the weighted sum of small terms, and the loss the interface calls.

A zoo model builds its :class:`Objective` from its config, so the objective reads as
the list of its terms::

    Objective([Reconstruction(Bernoulli()), KLDivergence(weight=4.0),
               Classification(weight=10.0), Consistency(weight=1.0, samples=64)])

``model.objective`` is the loss to train the model with
(``DeepLearningInterface(loss=model.objective, ...)``): like pynet's losses it reads
the model's ``layer_outputs`` attribute, and it returns ``(loss, values)``, the
values being each term's unweighted value under its name (reported beside the loss).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple, Type, TypeVar

import torch

from .likelihoods import (Bernoulli, Gaussian, bernoulli_nll, class_kl, gaussian_kl,
                          make_likelihood)
from .terms import (ClassPrior, Classification, Consistency, ForwardState, KLDivergence,
                    LatentIndependence, PseudoLabels, Reconstruction, Term)

__all__ = ["Objective", "Term", "ForwardState", "Reconstruction", "KLDivergence",
           "ClassPrior", "Classification", "Consistency", "PseudoLabels",
           "LatentIndependence", "Bernoulli",
           "Gaussian", "make_likelihood", "gaussian_kl", "class_kl", "bernoulli_nll"]

T = TypeVar("T", bound=Term)


class Objective:
    """The sum of ``weight * scale * value`` over terms (see the module documentation).

    Parameters
    ----------
    terms : iterable of Term
        The terms; their names must be unique.

    Attributes
    ----------
    layer_outputs : dict or None
        Set by the training loop before each call: the model's extra outputs.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms: Tuple[Term, ...] = tuple(terms)
        names = [term.name for term in self.terms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"an objective's term names must be unique, got {duplicates} "
                             "twice")
        self.layer_outputs: Optional[Dict[str, Any]] = None

    def add_outputs(self, model: Any, state: ForwardState,
                    outputs: Dict[str, Any]) -> Dict[str, Any]:
        """Add each term's extra outputs (the model's training forward calls it)."""
        for term in self.terms:
            outputs.update(term.outputs(model, state))
        return outputs

    def __call__(self, prediction: torch.Tensor, x: torch.Tensor,
                 labels: Optional[torch.Tensor] = None
                 ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The loss of a batch and each term's value.

        Parameters
        ----------
        prediction : torch.Tensor
            The model's reconstruction (checked against ``x``'s shape).
        x : torch.Tensor
            The images (the target: ``add_input=True``).
        labels : torch.Tensor, optional
            Not read: the model hands its condition over in ``layer_outputs``.
        """
        outputs = self.layer_outputs
        if outputs is None:
            raise ValueError("the objective needs the model's layer_outputs: train the "
                             "model whose objective this is (it returns (prediction, "
                             "layer_outputs))")
        if prediction.shape != x.shape:
            raise ValueError(
                f"reconstruction shape {tuple(prediction.shape)} differs from target shape "
                f"{tuple(x.shape)}; with add_input=True the target is the (transformed) input")
        total = x.new_zeros(())
        values: Dict[str, torch.Tensor] = {}
        for term in self.terms:
            try:
                value = term.value(outputs, x)
            except KeyError as error:
                raise ValueError(f"{term!r} needs {error} in the model's layer_outputs, "
                                 f"which holds {sorted(outputs)}") from None
            values[term.name] = value.detach()
            total = total + term.effective_weight * value
        return total, values

    def terms_of(self, kind: Type[T]) -> List[T]:
        """The terms that are instances of ``kind``."""
        return [term for term in self.terms if isinstance(term, kind)]

    def __getitem__(self, name: str) -> Term:
        for term in self.terms:
            if term.name == name:
                return term
        raise KeyError(f"no term {name!r} in the objective; it has "
                       f"{[term.name for term in self.terms]}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}([{', '.join(repr(term) for term in self.terms)}])"
