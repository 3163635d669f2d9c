"""The three file formats of an export: writing, reading the metadata back, running.

ONNX files are written by PyTorch's exporter (``onnxscript``) and run in
``onnxruntime``; TorchScript files are traced programs; ``torch.export`` files are
exported programs. Each carries the metadata JSON under :data:`METADATA_KEY`.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from typing import Any, Dict, Iterator, List

import torch

from ....fileio import atomic_open
from ....extras import import_extra, quiet_loggers
from .programs import Program

#: The formats and their files' extensions.
FORMATS: Dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt", "exported": ".pt2"}
#: The name of the metadata entry (ONNX property, archive extra file).
METADATA_KEY = "pynet_cvae.json"
#: The ONNX opset of the exported files.
ONNX_OPSET = 18
#: The exporter's loggers: notes on each graph pass, a warning for each optional library
#: (torchvision) missing. Only their errors are shown.
_ONNX_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


def save(program: Program, fmt: str, path: str, metadata: str) -> None:
    """Write ``program`` in format ``fmt`` to ``path`` atomically, with ``metadata``.

    Parameters
    ----------
    program : Program
        The program (in evaluation mode).
    fmt : str
        One of :data:`FORMATS`.
    path : str
        The file (its folder is created).
    metadata : str
        The JSON document the file carries.
    """
    writer = {"onnx": _save_onnx, "torchscript": _save_torchscript,
              "exported": _save_exported}[fmt]
    with torch.no_grad():
        writer(program, path, metadata)


def read_export_metadata(path: str) -> Dict[str, Any]:
    """The description an exported file carries.

    Parameters
    ----------
    path : str
        A ``.onnx``, TorchScript (``.pt``) or ``torch.export`` (``.pt2``) file.

    Returns
    -------
    dict
        See :func:`export_metadata`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no exported file at {path!r}")
    fmt = _format_of(path)
    if fmt == "onnx":
        onnx = import_extra("onnx", "export", "reading an ONNX file")
        properties = {entry.key: entry.value
                      for entry in onnx.load(path, load_external_data=False).metadata_props}
        text = properties.get(METADATA_KEY)
    else:
        files = {METADATA_KEY: ""}
        if fmt == "torchscript":
            with _torchscript():
                torch.jit.load(path, map_location="cpu", _extra_files=files)
        else:
            torch.export.load(path, extra_files=files)
        text = files[METADATA_KEY] or None
    if text is None:
        raise ValueError(f"{path!r} carries no {METADATA_KEY}: it was not written by "
                         "pynet-cvae export")
    return json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)


def run_exported(path: str, *inputs: Any) -> List[Any]:
    """Run an exported file on numpy arrays or tensors; return numpy arrays.

    ONNX files run in ``onnxruntime``, TorchScript and ``torch.export`` files in
    PyTorch.

    Parameters
    ----------
    path : str
        The file.
    *inputs
        Its inputs, in order (see its metadata).

    Returns
    -------
    list of numpy.ndarray
        Its outputs, in order.
    """
    fmt = _format_of(path)
    if fmt == "onnx":
        runtime = import_extra("onnxruntime", "export", "running an ONNX file")
        session = runtime.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [item.name for item in session.get_inputs()]
        return session.run(None, {name: _numpy(value) for name, value in zip(names, inputs)})
    tensors = [torch.as_tensor(value) for value in inputs]
    if fmt == "torchscript":
        with _torchscript():
            program = torch.jit.load(path, map_location="cpu")
    else:
        program = torch.export.load(path).module()
    with torch.no_grad():
        outputs = program(*tensors)
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    return [output.numpy() for output in outputs]


def _save_onnx(program: Program, path: str, metadata: str) -> None:
    import_extra("onnxscript", "export", "ONNX export")
    onnx = import_extra("onnx", "export", "ONNX export")
    names = program.argument_names()
    batch = {name: {0: "batch"} for name in names}
    with warnings.catch_warnings(), quiet_loggers(*_ONNX_LOGGERS):
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        exported = torch.onnx.export(program, program.example_inputs(), dynamo=True,
                                     input_names=names,
                                     output_names=[item["name"]
                                                   for item in program.signature()[1]],
                                     dynamic_shapes=batch, opset_version=ONNX_OPSET,
                                     verbose=False, optimize=True)
    proto = exported.model_proto
    onnx.helper.set_model_props(proto, {METADATA_KEY: metadata})
    with atomic_open(path) as stream:
        stream.write(proto.SerializeToString())


def _save_torchscript(program: Program, path: str, metadata: str) -> None:
    with _torchscript():
        traced = torch.jit.trace(program, program.example_inputs(), check_trace=False)
        with atomic_open(path) as stream:
            torch.jit.save(traced, stream, _extra_files={METADATA_KEY: metadata})


def _save_exported(program: Program, path: str, metadata: str) -> None:
    batch = torch.export.Dim("batch")
    exported = torch.export.export(
        program, program.example_inputs(),
        dynamic_shapes={name: {0: batch} for name in program.argument_names()})
    with atomic_open(path) as stream:
        torch.export.save(exported, stream, extra_files={METADATA_KEY: metadata})


@contextlib.contextmanager
def _torchscript() -> Iterator[None]:
    """Hide PyTorch's deprecation notes of TorchScript: it is the format asked for."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated",
                                category=DeprecationWarning)
        yield


def _format_of(path: str) -> str:
    extension = os.path.splitext(path)[1]
    for fmt, known in FORMATS.items():
        if extension == known:
            return fmt
    raise ValueError(f"{path!r}: unknown exported file extension {extension!r}, expected "
                     f"one of {sorted(FORMATS.values())}")


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
