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


NORMATIVE_SETUP = """
from setuptools import setup
setup(name="sitemean", version="0.1", py_modules=["site_mean"],
      entry_points={"pynet_cvae.normative_commands": ["site-mean = site_mean",
                                                      "baseline = site_mean"]})
"""

NORMATIVE_PLUGIN = '''
"""A third party's normative model: each site's mean training image."""

import numpy as np

from pynet_cvae.commands.normative import STUDY, add_study_arguments, run_study
from pynet_cvae.normative import Expectation


class SiteMean:
    """Expect each subject to look like the mean training image of its site."""

    def fit(self, images, covariates):
        sites = covariates["site"].astype(str).to_numpy()
        self.means = {site: np.asarray(images[0:len(images)])[sites == site].mean(axis=0)
                      for site in np.unique(sites)}
        return self

    def predict(self, covariates, images=None, observed=None):
        return Expectation(mean=np.stack([self.means[str(site)]
                                          for site in covariates["site"]]))


def add_parser(commands):
    parser = commands.add_parser("site-mean", help="each site's mean image",
                                 description="Expect each site's mean image " + STUDY)
    add_study_arguments(parser)
    parser.set_defaults(run=lambda arguments: run_study(arguments, SiteMean(), True, 8))
'''


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_plugin_adds_its_normative_model_as_a_sub_command(small_cohort, tmp_path):
    package, site = tmp_path / "src", tmp_path / "site"
    package.mkdir()
    (package / "setup.py").write_text(NORMATIVE_SETUP)
    (package / "site_mean.py").write_text(NORMATIVE_PLUGIN)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site),
                    str(package)], check=True, capture_output=True, text=True, timeout=300)
    environment = dict(os.environ, PYTHONPATH=str(site))

    def normative(*arguments):
        return subprocess.run([sys.executable, "-m", "pynet_cvae.cli", "normative",
                               *map(str, arguments)], env=environment, capture_output=True,
                              text=True, timeout=600)

    listed = normative("--help")
    assert listed.returncode == 0, listed.stderr
    for command in ("cohort", "baseline", "cvae", "site-mean"):
        assert command in listed.stdout
    # a plugin cannot take the core's name: its entry is skipped, with one warning line
    assert ("pynet-cvae: warning: pynet-cvae normative command 'baseline' of site_mean is "
            "already defined: skipped") in listed.stderr
    output = tmp_path / "site-mean"
    ran = normative("site-mean", "--table", small_cohort.table_path, "--lesion-column",
                    "lesion_mask", "--group-column", "group", "--output", output, "--quiet")
    assert ran.returncode == 0, ran.stderr[-3000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert 0.5 < metrics["voxel_auroc"] <= 1
    assert len(list((output / "zmaps").glob("*_zmap.nii.gz"))) == 30
