"""Export a trained model's generator and encoder to ONNX, TorchScript or ``torch.export``.

Two programs are taken out of a model of the zoo (any model with the generation
interface, :class:`~pynet_cvae.plugins.cvae.GenerativeMixin`):

``generator``
    ``(condition, z) -> images``: the condition values of each image and standard
    normal draws ``z`` (times a temperature) to ``(batch, *image_shape)`` images. The
    model's prior p(z|c) is applied to the draws, as ``model.sample(labels, z=z)``
    does.
``encoder``
    ``(images, condition) -> (z_mu, z_log_var)``: q(z|x, c) of ``(batch,
    *image_shape)`` images.

The condition is given as the model takes it (:meth:`Condition.values
<pynet_cvae.conditions.Condition.values>`): ``(batch,)`` int64 class ids for a
class-only condition, else a ``(batch, covariates)`` float table of raw values (class
ids and unstandardised numbers) in the covariates' order. The batch size is free.
The checks that need the data (the class ids' range) cannot run inside a traced
program: the exported programs encode the condition without them (an id out of
range gives a zero one-hot row), and the caller checks the values, with the
condition's spec the files carry.

Every file carries its description (:func:`export_metadata`), one JSON document: the
inputs' and outputs' names, dtypes and shapes (``"batch"`` for the free size), the
condition's spec (:meth:`~pynet_cvae.conditions.Condition.to_spec`), the network
and the checkpoint. It is the ONNX model's ``metadata_props`` entry
:data:`METADATA_KEY`, the TorchScript archive's extra file of that name
(``torch.jit.load(path, _extra_files=...)``), and the ``torch.export`` archive's
(``torch.export.load(path, extra_files=...)``); :func:`read_export_metadata` reads
it back from any of the three.

ONNX needs the ``export`` extra (``pip install 'pynet-cvae[export]'``: ``onnx``,
``onnxscript`` for PyTorch's exporter, ``onnxruntime`` to run the files).
"""

from __future__ import annotations

import json
import os
from collections import namedtuple
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..generation import evaluating
from .files import FORMATS, METADATA_KEY, read_export_metadata, run_exported, save
from .programs import PROGRAMS, Generator, LatentEncoder, Program, reference_outputs

__all__ = ["FORMATS", "PARTS", "METADATA_KEY", "Generator", "LatentEncoder", "Program",
           "ExportedFile", "export_part", "export_trained", "export_metadata",
           "read_export_metadata", "run_exported", "compare_with_model",
           "reference_outputs", "check_exportable"]

#: The programs a model is exported as.
PARTS: Tuple[str, ...] = tuple(PROGRAMS)


def export_metadata(program: Program, part: str, fmt: str, **extra: Any) -> Dict[str, Any]:
    """The description an exported file carries (see the module documentation).

    Parameters
    ----------
    program : Generator or LatentEncoder
        The program.
    part : str
        ``"generator"`` or ``"encoder"``.
    fmt : str
        One of :data:`FORMATS`.
    **extra
        More entries (``network``, ``checkpoint``).

    Returns
    -------
    dict
        JSON values.
    """
    from .... import __version__

    inputs, outputs = program.signature()
    model = program.model
    return {"pynet_cvae": __version__, "part": part, "format": fmt,
            "inputs": inputs, "outputs": outputs,
            "condition": model.condition.to_spec(), "latent_dim": int(model.latent_dim),
            "image_shape": list(program.image_shape), **extra}


def export_part(model: nn.Module, part: str, fmt: str, path: str,
                image_shape: Optional[Sequence[int]] = None, **extra: Any) -> str:
    """Export one program of a model (in memory) to a file, atomically.

    Parameters
    ----------
    model : torch.nn.Module
        A model with the generation interface (traced in evaluation mode).
    part : {"generator", "encoder"}
        The program.
    fmt : {"onnx", "torchscript", "exported"}
        The format.
    path : str
        The file (its folder is created).
    image_shape : sequence of int, optional
        The images' shape (default: the model's, else a square image).
    **extra
        More metadata entries (JSON values).

    Returns
    -------
    str
        ``path``.
    """
    _check_choice("part", part, PARTS)
    _check_choice("format", fmt, FORMATS)
    check_exportable(model)
    with evaluating(model):  # traced in evaluation mode; the model's mode is restored
        program = PROGRAMS[part](model, image_shape).eval()
        metadata = json.dumps(export_metadata(program, part, fmt, **extra), sort_keys=True)
        save(program, fmt, path, metadata)
    return path


def check_exportable(model: Any) -> None:
    """Refuse a model without the generation interface, naming its class.

    Parameters
    ----------
    model : object
        The model.

    Raises
    ------
    ValueError
        If it is not a module with ``condition``, ``latent_dim``, ``encode_latent``,
        ``decode`` and ``prior_parameters``.
    """
    missing = [name for name in ("condition", "latent_dim", "encode_latent", "decode",
                                 "prior_parameters") if not hasattr(model, name)]
    if missing or not isinstance(model, nn.Module):
        raise ValueError(f"{type(model).__name__} has no generation interface (missing "
                         f"{missing or ['torch.nn.Module']}; see "
                         "pynet_cvae.plugins.cvae.GenerativeMixin): it cannot be exported")


ExportedFile = namedtuple("ExportedFile", ["path", "part", "format", "difference"])
ExportedFile.__doc__ = """A file :func:`export_trained` wrote.

Parameters
----------
path : str
    The file.
part, format : str
    The program and the format.
difference : float or None
    The largest absolute difference of its outputs to the PyTorch model's on the
    checked random inputs (None: not checked).
"""


def export_trained(checkpoint: str, formats: Sequence[str] = ("onnx",),
                   out: Optional[str] = None, parts: Sequence[str] = PARTS,
                   config: Optional[str] = None, check: int = 100,
                   seed: int = 0) -> List[ExportedFile]:
    """Export the generator and the encoder of a trained model.

    Parameters
    ----------
    checkpoint : str
        A checkpoint of ``pynet-cvae train``, or its run (or checkpoints) folder:
        its latest checkpoint.
    formats : sequence of str, default ("onnx",)
        Among :data:`FORMATS`.
    out : str, optional
        The folder of the files (default: ``export/`` in the run folder).
    parts : sequence of str, default ("generator", "encoder")
        The programs.
    config : str, optional
        The ``model_config.json`` (default: beside the checkpoint).
    check : int, default 100
        Run each file on this many random inputs and compare its outputs with the
        PyTorch model's (:func:`compare_with_model`); 0 skips it.
    seed : int, default 0
        The seed of those inputs.

    Returns
    -------
    list of ExportedFile
        The files, ``<part><extension>`` (``generator.onnx``, ``encoder.pt``,
        ``generator.pt2``...), and their differences to the model.
    """
    from ....trained import find_model_config, load_trained_model
    from ..commands.sample import resolve_checkpoint

    formats, parts = list(dict.fromkeys(formats)), list(dict.fromkeys(parts))
    for fmt in formats:
        _check_choice("format", fmt, FORMATS)
    for part in parts:
        _check_choice("part", part, PARTS)
    path = resolve_checkpoint(checkpoint)
    config_path = config or find_model_config(path)
    model, settings = load_trained_model(path, config_path)
    check_exportable(model)
    out = out or os.path.join(run_folder_of(config_path), "export")
    image_shape = settings.get("image_shape")
    written = []
    for fmt in formats:
        for part in parts:
            target = export_part(model, part, fmt, os.path.join(out, part + FORMATS[fmt]),
                                 image_shape=image_shape, network=settings["network"],
                                 checkpoint=os.path.abspath(path))
            difference = compare_with_model(target, model, check, seed, image_shape) \
                if check else None
            written.append(ExportedFile(target, part, fmt, difference))
    return written


def compare_with_model(path: str, model: nn.Module, batch: int = 100, seed: int = 0,
                       image_shape: Optional[Sequence[int]] = None) -> float:
    """The largest absolute difference between an exported file and its model.

    The file runs on ``batch`` random inputs (conditions drawn over the classes and
    within 2 standard deviations of the mean); the model answers the same through
    its generation interface (``model.sample(c, z=z)`` for each condition,
    ``model.encode(x, c)``).

    Parameters
    ----------
    path : str
        A file of :func:`export_part`.
    model : torch.nn.Module
        Its model.
    batch : int, default 100
        The random inputs.
    seed : int, default 0
        Their seed.
    image_shape : sequence of int, optional
        The images' shape (default: the model's, else a square image).

    Returns
    -------
    float
    """
    part = read_export_metadata(path)["part"]
    program = PROGRAMS[part](model, image_shape)
    inputs = program.example_inputs(batch, torch.Generator().manual_seed(seed))
    outputs = run_exported(path, *inputs)
    expected = [output.cpu().numpy() for output in reference_outputs(program, *inputs)]
    return max(float(np.max(np.abs(got - want))) if want.size else 0.0
               for got, want in zip(outputs, expected))


def run_folder_of(config_path: str) -> str:
    """The run folder of a ``model_config.json`` (the folder above ``checkpoints/``)."""
    directory = os.path.dirname(os.path.abspath(config_path))
    return os.path.dirname(directory) if os.path.basename(directory) == "checkpoints" \
        else directory



def _check_choice(what: str, value: str, choices: Any) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}: expected one of {list(choices)}")
