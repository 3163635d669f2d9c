"""``pynet-cvae normative``: normative modelling of brain images.

- ``pynet-cvae normative cohort`` generates the synthetic cohort
  (:func:`~pynet_cvae.datasets.cohort.fetch_synthetic_cohort`) and prints its files;
- ``pynet-cvae normative baseline`` fits the mass-univariate baseline
  (:class:`~pynet_cvae.normative.baseline.MassUnivariateModel`);
- ``pynet-cvae normative cvae``, the CVAE plugin's, trains the conditional VAE of 3-D
  volumes (:class:`~pynet_cvae.plugins.cvae.CVAENormativeModel`), or takes a run of
  ``pynet-cvae train --recipe normative`` (``--checkpoint RUN``).

A plugin adds its models as sub-commands by declaring a module in the
``pynet_cvae.normative_commands`` entry-point group (see
:func:`~pynet_cvae.commands.normative_command_modules`): its ``add_parser(commands)``
adds a parser with :func:`add_study_arguments` whose ``run`` builds the model and
hands it to :func:`run_study`.

Every model then goes through the same study, on a participants table (``--table``) or
on the synthetic cohort (``--cohort``): calibrate and score
(:func:`~pynet_cvae.normative.evaluation.run_normative`), write the z-maps,
``scores.tsv`` and ``metrics.json`` in ``--output``, and, when asked, counterfactual
images at chosen covariates (``--counterfactual age=75``) and the subjects harmonised
to the reference site (``--harmonise``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from . import normative_command_modules
from .types import positive_float, positive_int

#: What every model's sub-command does, for the end of its description.
STUDY = ("on the 'train' subjects, calibrate z-scores on the 'calibration' subjects, "
         "score the 'calibration' and 'test' subjects, and write z-maps (NIfTI), "
         "scores.tsv and metrics.json (and, when asked, counterfactual and harmonised "
         "images).")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``normative`` command and its sub-commands."""
    normative = subparsers.add_parser(
        "normative", help="normative modelling of brain images",
        description="Normative modelling of brain images: deviation maps against the "
                    "healthy brain expected for each subject's covariates.")
    commands = normative.add_subparsers(dest="normative_command", required=True,
                                        metavar="COMMAND")
    cohort = commands.add_parser(
        "cohort", help="generate the synthetic brain cohort",
        description="Generate (once) the synthetic cohort made from the MNI152 template, "
                    "with known ageing laws, site effects and lesions, and print its files.")
    _add_cohort_arguments(cohort)
    cohort.add_argument("--quiet", action="store_true", help="print only the paths")
    cohort.set_defaults(run=run_cohort)
    baseline = commands.add_parser(
        "baseline", help="fit and score the mass-univariate baseline",
        description="Fit a per-voxel regression on the covariates (age splines, sex, "
                    "site) " + STUDY)
    add_study_arguments(baseline)
    baseline.add_argument("--knots", type=positive_int, default=5,
                          help="B-spline knots per continuous covariate (default 5)")
    baseline.set_defaults(run=run_baseline)
    for module in normative_command_modules():
        importlib.import_module(module).add_parser(commands)


def _add_cohort_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datasetdir", default=None,
                        help="where the cohort is made (default: the per-user data folder)")
    parser.add_argument("--subjects", type=positive_int, default=240,
                        help="the cohort's subjects (default 240)")
    parser.add_argument("--voxel-size", type=positive_float, default=None,
                        help="the voxel size in mm (cohort: default 4; a table: resample "
                             "to it, by default the images are kept as they are)")
    parser.add_argument("--sites", type=positive_int, default=3,
                        help="the cohort's sites (default 3)")
    parser.add_argument("--seed", type=int, default=0)


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the data, scoring and output arguments every model's study shares.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser of a ``pynet-cvae normative`` sub-command.
    """
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", help="a participants table (TSV): one row per subject")
    source.add_argument("--cohort", action="store_true",
                        help="use the synthetic cohort (see 'normative cohort')")
    _add_cohort_arguments(parser)
    parser.add_argument("--image-column", default="t1",
                        help="the column of NIfTI paths (default t1)")
    parser.add_argument("--continuous", nargs="+", default=["age"],
                        help="continuous covariates (default age)")
    parser.add_argument("--categorical", nargs="*", default=["sex", "site"],
                        help="categorical covariates (default sex site)")
    parser.add_argument("--split-column", default="split",
                        help="the column of train / calibration / test (default split)")
    parser.add_argument("--lesion-column", default=None,
                        help="a column of lesion mask paths (voxel AUROC)")
    parser.add_argument("--group-column", default=None,
                        help="a column telling patients from controls (subject AUROC)")
    parser.add_argument("--control", default="control",
                        help="the value of --group-column for controls (default control)")
    parser.add_argument("--site-column", default="site",
                        help="the site covariate (default site)")
    parser.add_argument("--reference-site", default=None,
                        help="harmonise to this site (default: the most frequent in "
                             "training)")
    parser.add_argument("--counterfactual", action="append", default=[],
                        metavar="COLUMN=VALUE",
                        help="also write each scored subject with this covariate value, "
                             "e.g. age=75 (repeat for several)")
    parser.add_argument("--harmonise", action="store_true",
                        help="also write each scored subject harmonised to the reference "
                             "site")
    parser.add_argument("--mask", default="auto",
                        help="'auto' (from the images) or a NIfTI brain mask")
    parser.add_argument("--space", choices=("data", "native"), default="data",
                        help="write images on the data's grid or each subject's own")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="subjects at a time (default 32 for the baseline, 16 for the "
                             "CVAE)")
    parser.add_argument("--output", required=True, help="the output folder")
    parser.add_argument("--quiet", action="store_true", help="print only the metrics")


def _cohort(arguments: argparse.Namespace):
    from ..datasets.cohort import fetch_synthetic_cohort

    return fetch_synthetic_cohort(arguments.datasetdir, n_subjects=arguments.subjects,
                                  voxel_size=arguments.voxel_size or 4.0,
                                  n_sites=arguments.sites, seed=arguments.seed)


def run_cohort(arguments: argparse.Namespace) -> int:
    """Generate the cohort and print its files."""
    item = _cohort(arguments)
    for name, path in item._asdict().items():
        if path is not None:
            print(f"{name}: {path}")
    return 0


def format_metrics(metrics: Dict[str, Any]) -> str:
    """The metrics as aligned ``name  value`` lines."""
    lines = []
    for name, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, dict):
            value = json.dumps(value)
        lines.append(f"{name:<28} {value}")
    return "\n".join(lines)


def parse_changes(values: List[str], covariates: List[str]) -> List[Tuple[str, Any]]:
    """``COLUMN=VALUE`` strings as ``(column, value)`` pairs (numbers as floats).

    Raises
    ------
    ValueError
        For a string without ``=`` or a column that is not a covariate.
    """
    changes = []
    for text in values:
        column, equal, value = text.partition("=")
        if not equal or not column or not value:
            raise ValueError(f"--counterfactual {text!r}: expected COLUMN=VALUE, e.g. age=75")
        if column not in covariates:
            raise ValueError(f"--counterfactual {text!r}: {column!r} is not a covariate "
                             f"(expected one of {covariates})")
        try:
            changes.append((column, float(value)))
        except ValueError:
            changes.append((column, value))
    return changes


def _data(arguments: argparse.Namespace, covariates: List[str]):
    """The study's data, and its lesion and group columns."""
    from ..datasets.participants import fetch_participants
    from ..normative import NormativeData

    if arguments.cohort:
        item = _cohort(arguments)
        lesion_column = arguments.lesion_column or "lesion_mask"
        group_column = arguments.group_column or "group"
    else:
        item = fetch_participants(arguments.table, arguments.image_column,
                                  covariates=covariates, categorical=arguments.categorical,
                                  voxel_size=arguments.voxel_size, mask=arguments.mask)
        lesion_column, group_column = arguments.lesion_column, arguments.group_column
    return NormativeData.from_item(item), lesion_column, group_column


def run_study(arguments: argparse.Namespace, model: Any, keep_residual: bool,
              batch_size: int) -> int:
    """Calibrate, score and write the outputs of a model; print the metrics.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments of :func:`add_study_arguments`.
    model : NormativeModel
        The model (see :class:`~pynet_cvae.normative.protocol.NormativeModel`), fitted
        on the 'train' subjects first when it is not trained.
    keep_residual : bool
        Whether counterfactual and harmonised images keep the subject's residual (a
        regression's), or are the model's images under the changed covariates (a
        generative model's).
    batch_size : int
        Subjects at a time.

    Returns
    -------
    int
        The exit status, 0.
    """
    from ..normative import run_normative, write_counterfactuals, write_outputs

    covariates = list(arguments.continuous) + list(arguments.categorical)
    changes = parse_changes(arguments.counterfactual, covariates)
    data, lesion_column, group_column = _data(arguments, covariates)
    result = run_normative(model, data, split_column=arguments.split_column,
                           lesion_column=lesion_column, group_column=group_column,
                           control=arguments.control, site_column=arguments.site_column,
                           age_column=arguments.continuous[0],
                           reference_site=arguments.reference_site,
                           keep_residual=keep_residual, batch_size=batch_size,
                           seed=arguments.seed)
    paths = write_outputs(result, data, arguments.output, space=arguments.space,
                          batch_size=batch_size)
    written = {}
    for column, value in changes:
        suffix = f"{column}-{value:g}" if isinstance(value, float) else f"{column}-{value}"
        written[suffix] = write_counterfactuals(
            model, data, result.rows, {column: value}, os.path.join(
                arguments.output, "counterfactuals"), suffix, keep_residual,
            arguments.space, batch_size)
    if arguments.harmonise:
        reference = result.metrics.get("reference_site") or arguments.reference_site
        written["harmonised"] = write_counterfactuals(
            model, data, result.rows, {arguments.site_column: reference},
            os.path.join(arguments.output, "harmonised"), "harmonised", keep_residual,
            arguments.space, batch_size)
    print(format_metrics(result.metrics))
    if not arguments.quiet:
        print(f"z-maps: {len(paths['zmaps'])} in {arguments.output}/zmaps")
        for suffix, files in written.items():
            print(f"{suffix}: {len(files)} in {os.path.dirname(files[0])}")
        print(f"scores: {paths['scores']}")
        print(f"metrics: {paths['metrics']}")
    return 0


def spread_column(arguments: argparse.Namespace) -> Optional[str]:
    """The covariate whose groups get their own residual spread: ``--site-column``
    when it is categorical, else None (one spread for every subject)."""
    return arguments.site_column if arguments.site_column in arguments.categorical \
        else None


def run_baseline(arguments: argparse.Namespace) -> int:
    """Fit, calibrate and score the baseline; write and print the results."""
    from ..normative import MassUnivariateModel

    batch_size = arguments.batch_size or 32
    model = MassUnivariateModel(arguments.continuous, arguments.categorical,
                                spline_knots=arguments.knots,
                                spread_by=spread_column(arguments),
                                batch_size=batch_size)
    return run_study(arguments, model, keep_residual=True, batch_size=batch_size)
