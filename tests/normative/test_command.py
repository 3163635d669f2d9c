"""``pynet-cvae normative``: the baseline on a user's participants table, the cohort."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from pynet_cvae.cli import main


@pytest.mark.slow
def test_the_baseline_runs_on_a_participants_table(small_cohort, tmp_path, capsys):
    output = tmp_path / "baseline"
    status = main(["normative", "baseline", "--table", small_cohort.table_path,
                   "--lesion-column", "lesion_mask", "--group-column", "group",
                   "--output", str(output), "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "voxel_auroc" in printed and "calibration_fraction" in printed
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["voxel_auroc"] > 0.9
    assert len(list((output / "zmaps").glob("*_zmap.nii.gz"))) == 30
    assert (output / "scores.tsv").is_file()


def test_a_bad_table_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "participants.tsv").write_text("participant_id\tt1\tage\n")
    status = main(["normative", "baseline", "--table", str(tmp_path / "participants.tsv"),
                   "--output", str(tmp_path / "out")])
    assert status == 1
    assert "covariates column 'sex' not in metadata columns ['participant_id', 't1', " \
        "'age']" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_console_script_generates_the_cohort(tmp_path):
    executable = shutil.which("pynet-cvae", path=os.path.dirname(sys.executable))
    assert executable, "the pynet-cvae console script is not installed beside python"
    result = subprocess.run([executable, "normative", "cohort", "--datasetdir", str(tmp_path),
                             "--subjects", "12", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert os.path.isfile(lines["table_path"]) and os.path.isfile(lines["input_path"])
    assert lines["directory"].startswith(str(tmp_path))
