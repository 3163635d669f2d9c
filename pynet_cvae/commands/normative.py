"""``pynet-cvae normative``: normative modelling of brain images.

- ``pynet-cvae normative cohort`` generates the synthetic cohort
  (:func:`~pynet_cvae.datasets.cohort.fetch_synthetic_cohort`) and prints its files;
- ``pynet-cvae normative baseline`` fits the mass-univariate baseline
  (:class:`~pynet_cvae.normative.baseline.MassUnivariateModel`) on a participants
  table (``--table``) or on the synthetic cohort (``--cohort``), calibrates and
  scores (:func:`~pynet_cvae.normative.evaluation.run_normative`), and writes the
  z-maps, ``scores.tsv`` and ``metrics.json`` in ``--output``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from .types import positive_float, positive_int


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
                    "site) on the 'train' subjects, calibrate z-scores on the "
                    "'calibration' subjects, score the 'calibration' and 'test' "
                    "subjects, and write z-maps (NIfTI), scores.tsv and metrics.json.")
    source = baseline.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", help="a participants table (TSV): one row per subject")
    source.add_argument("--cohort", action="store_true",
                        help="use the synthetic cohort (see 'normative cohort')")
    _add_cohort_arguments(baseline)
    baseline.add_argument("--image-column", default="t1",
                          help="the column of NIfTI paths (default t1)")
    baseline.add_argument("--continuous", nargs="+", default=["age"],
                          help="continuous covariates, on B-splines (default age)")
    baseline.add_argument("--categorical", nargs="*", default=["sex", "site"],
                          help="categorical covariates (default sex site)")
    baseline.add_argument("--split-column", default="split",
                          help="the column of train / calibration / test (default split)")
    baseline.add_argument("--lesion-column", default=None,
                          help="a column of lesion mask paths (voxel AUROC)")
    baseline.add_argument("--group-column", default=None,
                          help="a column telling patients from controls (subject AUROC)")
    baseline.add_argument("--control", default="control",
                          help="the value of --group-column for controls (default control)")
    baseline.add_argument("--site-column", default="site",
                          help="the site covariate (default site)")
    baseline.add_argument("--reference-site", default=None,
                          help="harmonise to this site (default: the most frequent in "
                               "training)")
    baseline.add_argument("--mask", default="auto",
                          help="'auto' (from the images) or a NIfTI brain mask")
    baseline.add_argument("--knots", type=positive_int, default=5,
                          help="B-spline knots per continuous covariate (default 5)")
    baseline.add_argument("--space", choices=("data", "native"), default="data",
                          help="write z-maps on the data's grid or each subject's own")
    baseline.add_argument("--batch-size", type=positive_int, default=32)
    baseline.add_argument("--output", required=True, help="the output folder")
    baseline.add_argument("--quiet", action="store_true", help="print only the metrics")
    baseline.set_defaults(run=run_baseline)


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


def run_baseline(arguments: argparse.Namespace) -> int:
    """Fit, calibrate and score the baseline; write and print the results."""
    from ..datasets.participants import fetch_participants
    from ..normative import MassUnivariateModel, NormativeData, run_normative, write_outputs

    covariates = list(arguments.continuous) + list(arguments.categorical)
    if arguments.cohort:
        item = _cohort(arguments)
        lesion_column = arguments.lesion_column or "lesion_mask"
        group_column = arguments.group_column or "group"
    else:
        item = fetch_participants(arguments.table, arguments.image_column,
                                  covariates=covariates, categorical=arguments.categorical,
                                  voxel_size=arguments.voxel_size, mask=arguments.mask)
        lesion_column, group_column = arguments.lesion_column, arguments.group_column
    data = NormativeData.from_item(item)
    spread_by = arguments.site_column if arguments.site_column in arguments.categorical \
        else None
    model = MassUnivariateModel(arguments.continuous, arguments.categorical,
                                spline_knots=arguments.knots, spread_by=spread_by,
                                batch_size=arguments.batch_size)
    result = run_normative(model, data, split_column=arguments.split_column,
                           lesion_column=lesion_column, group_column=group_column,
                           control=arguments.control, site_column=arguments.site_column,
                           age_column=arguments.continuous[0],
                           reference_site=arguments.reference_site,
                           batch_size=arguments.batch_size, seed=arguments.seed)
    paths = write_outputs(result, data, arguments.output, space=arguments.space,
                          batch_size=arguments.batch_size)
    print(format_metrics(result.metrics))
    if not arguments.quiet:
        print(f"z-maps: {len(paths['zmaps'])} in {arguments.output}/zmaps")
        print(f"scores: {paths['scores']}")
        print(f"metrics: {paths['metrics']}")
    return 0
