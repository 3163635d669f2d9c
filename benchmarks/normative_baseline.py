"""The synthetic brain cohort and the mass-univariate baseline: time, memory, metrics.

Run on demand (not part of the test suite), on a quiet machine::

    python benchmarks/normative_baseline.py                 # 240 subjects at 4 mm
    python benchmarks/normative_baseline.py --subjects 600  # a larger cohort
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
  (:func:`~pynet_cvae.normative.ageing.check_counterfactual_ageing`, not timed).

It prints the volume size, each phase's wall time (of the phase), processor time (of
the child, imports included: the honest figure on a shared machine) and peak memory, the baseline's
metrics (the numbers the CVAE is compared with), and the ratio of generation time to
subjects.
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


def _baseline(folder: str, subjects: int, voxel_size: float, seed: int) -> dict:
    from pynet_cvae.datasets.cohort import fetch_synthetic_cohort
    from pynet_cvae.normative import MassUnivariateModel, NormativeData, \
        check_counterfactual_ageing, run_normative, write_outputs

    item = fetch_synthetic_cohort(folder, n_subjects=subjects, voxel_size=voxel_size,
                                  seed=seed)
    started = time.perf_counter()
    data = NormativeData.from_item(item)
    model = MassUnivariateModel()
    result = run_normative(model, data, lesion_column="lesion_mask", group_column="group")
    write_outputs(result, data, os.path.join(folder, "baseline"))
    seconds = time.perf_counter() - started
    table = data.table
    controls = (table["split"] == "test") & (table["group"] == "control")
    ageing = check_counterfactual_ageing(model, data, item.directory,
                                         table.index[controls].to_numpy())
    metrics = dict(result.metrics, ageing_correlation=ageing.correlation,
                   ageing_correlation_lowest=float(ageing.correlations.min()))
    return {"seconds": seconds, "metrics": metrics}


def _child(phase: str, arguments: argparse.Namespace) -> None:
    run = {"generate": _generate, "baseline": _baseline}[phase]
    report = run(arguments.folder, arguments.subjects, arguments.voxel_size, arguments.seed)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report["peak_mib"] = usage.ru_maxrss / 1024
    report["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # imports included
    print(json.dumps(report))


def _run_phase(phase: str, arguments: argparse.Namespace, folder: str) -> dict:
    command = [sys.executable, __file__, "--child", phase, "--folder", folder,
               "--subjects", str(arguments.subjects), "--voxel-size",
               str(arguments.voxel_size), "--seed", str(arguments.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=240)
    parser.add_argument("--voxel-size", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="24 subjects")
    parser.add_argument("--child", choices=("generate", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments)
        return
    if arguments.quick:
        arguments.subjects = 24
    with tempfile.TemporaryDirectory(prefix="pynet_cvae_normative_bench_") as folder:
        generated = _run_phase("generate", arguments, folder)
        baseline = _run_phase("baseline", arguments, folder)
    shape = generated["shape"]
    print(f"cohort: {shape[0]} subjects of {' x '.join(map(str, shape[2:]))} voxels "
          f"({arguments.voxel_size:g} mm), {generated['bytes'] / 2 ** 20:.1f} MiB of images")
    print(f"{'phase':<10} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
    for name, report in (("generate", generated), ("baseline", baseline)):
        print(f"{name:<10} {report['seconds']:>8.1f} {report['cpu_seconds']:>8.1f} "
              f"{report['peak_mib']:>9.0f}")
    print(f"generation: {generated['seconds'] / shape[0] * 1000:.0f} ms per subject")
    print("baseline metrics:")
    for name, value in baseline["metrics"].items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {name:<30} {shown}")


if __name__ == "__main__":
    main()
