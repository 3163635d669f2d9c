"""``pynet-cvae export``: take a trained model's generator and encoder elsewhere.

``pynet-cvae export --checkpoint runs/cvae --format onnx`` writes
``runs/cvae/export/generator.onnx`` (condition + z -> images) and ``encoder.onnx``
(images + condition -> the latent Gaussian); ``--format torchscript`` writes ``.pt``
files, ``--format exported`` ``torch.export`` programs (``.pt2``). Each file carries
its inputs' and outputs' shapes and the condition's spec (see
:mod:`pynet_cvae.plugins.cvae.export`). Each written file is then run on 100 random
inputs and compared with the PyTorch model; the largest difference is printed.
"""

from __future__ import annotations

import argparse
from .sample import add_checkpoint_arguments

#: The random inputs each exported file is checked on.
CHECK_BATCH = 100


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The commands of ``pynet-cvae``.
    """
    from ..export import FORMATS, PARTS

    export = subparsers.add_parser(
        "export", help="export the generator and encoder (ONNX, TorchScript, torch.export)",
        description="Export a trained model's generator (condition + z -> images) and "
                    "encoder (images + condition -> z_mu, z_log_var) to files that run "
                    "without pynet-cvae: ONNX (onnxruntime), TorchScript or torch.export. "
                    "Each file carries its input and output shapes and the condition's "
                    "spec in its metadata.")
    add_checkpoint_arguments(export)
    export.add_argument("--format", action="append", choices=sorted(FORMATS), default=None,
                        dest="formats",
                        help="onnx (needs the 'export' extra), torchscript or exported "
                             "(torch.export); repeat it for several (default onnx)")
    export.add_argument("--part", action="append", choices=PARTS, default=None,
                        dest="parts",
                        help="generator or encoder; repeat it for both (default both)")
    export.add_argument("--out", default=None,
                        help="the folder of the files (default: export/ in the run folder)")
    export.add_argument("--no-check", action="store_true",
                        help="do not run each file against the PyTorch model on "
                             f"{CHECK_BATCH} random inputs")
    export.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Export; print each file and its difference to the PyTorch model.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        The exit status, 0.
    """
    from ..export import PARTS, export_trained

    written = export_trained(arguments.checkpoint, formats=arguments.formats or ["onnx"],
                             out=arguments.out, parts=arguments.parts or list(PARTS),
                             config=arguments.config,
                             check=0 if arguments.no_check else CHECK_BATCH)
    for exported in written:
        line = f"wrote {exported.path}"
        if exported.difference is not None:
            line += (f" (largest difference to the PyTorch model on {CHECK_BATCH} random "
                     f"inputs: {exported.difference:.2g})")
        print(line)
    return 0
