"""The synthetic brain cohort, the mass-univariate baseline and the CVAE: time, memory,
metrics.

Run on demand (not part of the test suite), on a quiet machine::

    python benchmarks/normative_baseline.py                 # 240 subjects at 4 mm
    python benchmarks/normative_baseline.py --subjects 600  # a larger cohort
    python benchmarks/normative_baseline.py --models cvae --epochs 40 --seed 1
    python benchmarks/normative_baseline.py --models cvae --seed 1 \
        --model condition_map=false --model independence_weight=0 --pooled-spread
    python benchmarks/normative_baseline.py --quick         # 24 subjects: that it runs

Each phase runs in a fresh child process, so that its peak resident memory (the
child's ``ru_maxrss``) is its own:

- ``generate``: :func:`~pynet_cvae.datasets.cohort.fetch_synthetic_cohort` in a new
  folder (template from nilearn, subjects, NIfTI files, the memory-mapped data set and
  its mask);
- ``baseline``: :func:`~pynet_cvae.normative.evaluation.run_normative` with the
  :class:`~pynet_cvae.normative.baseline.MassUnivariateModel` (fit, calibration,
  scoring, site and age predictors) and :func:`~pynet_cvae.normative.evaluation.write_outputs`
  (timed), then the counterfactual ageing of the healthy test subjects
  (:func:`~pynet_cvae.normative.ageing.check_counterfactual_ageing`, not timed);
- ``cvae``: the same with :class:`~pynet_cvae.plugins.cvae.CVAENormativeModel`
  (``--epochs``, ``--learning-rate``, ``--threads``, ``--model FIELD=VALUE`` over the
  normative recipe's model fields, ``--pooled-spread`` for one residual spread
  instead of one per site), trained in the phase, its harmonised images its
  reconstructions at the reference site.

It prints the volume size, each phase's wall time (of the phase), processor time (of
the child, imports included: the honest figure on a shared machine) and peak memory, the baseline's
and the CVAE's metrics side by side, and the ratio of generation time to subjects.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from pynet_cvae.plugins.cvae.recipes import NORMATIVE_EPOCHS

#: The models measured, in the table's order.
MODELS = ("baseline", "cvae")


def _generate(folder: str, subjects: int, voxel_size: float, seed: int) -> dict:
    import numpy as np

    from pynet_cvae.datasets.cohort import fetch_synthetic_cohort

    started = time.perf_counter()
    item = fetch_synthetic_cohort(folder, n_subjects=subjects, voxel_size=voxel_size,
                                  seed=seed)
    seconds = time.perf_counter() - started
    images = np.load(item.input_path, mmap_mode="r")
    return {"seconds": seconds, "shape": list(images.shape),
            "bytes": int(images.nbytes)}


def _study(folder: str, subjects: int, voxel_size: float, seed: int, model: object,
           name: str, keep_residual: bool) -> dict:
    """Fit, calibrate, score, write and age one model on the cohort (timed but the
    ageing)."""
    from pynet_cvae.datasets.cohort import fetch_synthetic_cohort
    from pynet_cvae.normative import NormativeData, check_counterfactual_ageing, \
        run_normative, write_outputs

    item = fetch_synthetic_cohort(folder, n_subjects=subjects, voxel_size=voxel_size,
                                  seed=seed)
    started = time.perf_counter()
    data = NormativeData.from_item(item)
    result = run_normative(model, data, lesion_column="lesion_mask", group_column="group",
                           keep_residual=keep_residual)
    write_outputs(result, data, os.path.join(folder, name))
    seconds = time.perf_counter() - started
    table = data.table
    controls = table.index[(table["split"] == "test") & (table["group"] == "control")]
    metrics = dict(result.metrics)
    for residual in (True, False):
        ageing = check_counterfactual_ageing(model, data, item.directory,
                                             controls.to_numpy(), keep_residual=residual)
        suffix = "" if residual else "_reconstructed"
        metrics[f"ageing_correlation{suffix}"] = ageing.correlation
        metrics[f"ageing_correlation_lowest{suffix}"] = float(ageing.correlations.min())
    return {"seconds": seconds, "metrics": metrics}


def _baseline(folder: str, subjects: int, voxel_size: float, seed: int,
              arguments: argparse.Namespace) -> dict:
    from pynet_cvae.normative import MassUnivariateModel

    return _study(folder, subjects, voxel_size, seed, MassUnivariateModel(), "baseline",
                  keep_residual=True)


def _cvae(folder: str, subjects: int, voxel_size: float, seed: int,
          arguments: argparse.Namespace) -> dict:
    from pynet_cvae.plugins.cvae import CVAENormativeModel

    model = CVAENormativeModel(epochs=arguments.epochs, threads=arguments.threads,
                               learning_rate=arguments.learning_rate, seed=seed,
                               progress=False,
                               spread_by=None if arguments.pooled_spread else "site",
                               **dict(arguments.model))
    report = _study(folder, subjects, voxel_size, seed, model, "cvae", keep_residual=False)
    report["metrics"]["train_loss"] = model.history.last().get("loss") \
        if model.history is not None else None
    return report


def _child(phase: str, arguments: argparse.Namespace) -> None:
    if phase == "generate":
        report = _generate(arguments.folder, arguments.subjects, arguments.voxel_size,
                           arguments.seed)
    else:
        run = {"baseline": _baseline, "cvae": _cvae}[phase]
        report = run(arguments.folder, arguments.subjects, arguments.voxel_size,
                     arguments.seed, arguments)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report["peak_mib"] = usage.ru_maxrss / 1024
    report["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # imports included
    print(json.dumps(report))


def _run_phase(phase: str, arguments: argparse.Namespace, folder: str) -> dict:
    command = [sys.executable, __file__, "--child", phase, "--folder", folder,
               "--subjects", str(arguments.subjects), "--voxel-size",
               str(arguments.voxel_size), "--seed", str(arguments.seed),
               "--epochs", str(arguments.epochs), "--threads", str(arguments.threads),
               "--learning-rate", str(arguments.learning_rate)]
    command += [item for name, value in arguments.model
                for item in ("--model", f"{name}={json.dumps(value)}")]
    command += ["--pooled-spread"] if arguments.pooled_spread else []
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=240)
    parser.add_argument("--voxel-size", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="24 subjects, 2 epochs")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="the models to measure (default both)")
    parser.add_argument("--epochs", type=int, default=NORMATIVE_EPOCHS,
                        help=f"the CVAE's epochs (default {NORMATIVE_EPOCHS})")
    parser.add_argument("--learning-rate", type=float, default=2e-3,
                        help="the CVAE's learning rate")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--model", type=_model_field, action="append", default=[],
                        metavar="FIELD=VALUE",
                        help="a CVAE model field over the normative recipe's (VALUE in "
                             "JSON: condition_map=false, independence_weight=0)")
    parser.add_argument("--pooled-spread", action="store_true",
                        help="the CVAE's residuals share one spread (default: per site)")
    parser.add_argument("--child", choices=("generate",) + MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments)
        return
    if arguments.quick:
        arguments.subjects, arguments.epochs = 24, 2
    with tempfile.TemporaryDirectory(prefix="pynet_cvae_normative_bench_") as folder:
        generated = _run_phase("generate", arguments, folder)
        reports = {name: _run_phase(name, arguments, folder) for name in arguments.models}
    shape = generated["shape"]
    print(f"cohort: {shape[0]} subjects of {' x '.join(map(str, shape[2:]))} voxels "
          f"({arguments.voxel_size:g} mm), {generated['bytes'] / 2 ** 20:.1f} MiB of images")
    print(f"{'phase':<10} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
    for name, report in (("generate", generated), *reports.items()):
        print(f"{name:<10} {report['seconds']:>8.1f} {report['cpu_seconds']:>8.1f} "
              f"{report['peak_mib']:>9.0f}")
    print(f"generation: {generated['seconds'] / shape[0] * 1000:.0f} ms per subject")
    if "cvae" in reports:
        changed = "".join(f", {name}={json.dumps(value)}" for name, value in arguments.model)
        print(f"cvae: {arguments.epochs} epochs, learning rate {arguments.learning_rate:g}, "
              f"{arguments.threads} threads, spread "
              f"{'pooled' if arguments.pooled_spread else 'per site'}{changed}")
    names = [name for name in MODELS if name in reports]
    print(f"{'metric':<34}" + "".join(f"{name:>12}" for name in names))
    keys = list(dict.fromkeys(key for name in names for key in reports[name]["metrics"]))
    for key in keys:
        values = [reports[name]["metrics"].get(key) for name in names]
        print(f"  {key:<32}" + "".join(f"{_shown(value):>12}" for value in values))


def _model_field(text: str) -> tuple:
    """``FIELD=VALUE`` (VALUE in JSON) as ``(field, value)``."""
    from pynet_cvae.plugins.cvae.recipes import NORMATIVE_MODEL
    from pynet_cvae.plugins.cvae.zoo.conditional import ConditionalConfig

    name, equals, value = text.partition("=")
    fields = ConditionalConfig.__dataclass_fields__
    if not equals or name not in fields:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected FIELD=VALUE with FIELD a ConditionalConfig field "
            f"(the recipe sets {sorted(NORMATIVE_MODEL)})")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"{text!r}: VALUE {value!r} is not JSON "
                                         "(false, 0, 1.5, \"name\")") from None


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return "/".join(str(item) for item in value.values())
    return str(value)


if __name__ == "__main__":
    main()
