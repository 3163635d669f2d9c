"""pynet_cvae.configure: pynet's installation report."""

from importlib import metadata

import pynet_cvae
import pynet_cvae.configure as configure


def test_info_reports_the_version_and_each_dependency():
    report = configure.info()
    assert f"Package version: {pynet_cvae.__version__}" in report
    versions = configure.dependency_versions()
    assert versions["torch"][1] == metadata.version("torch")
    assert "scikit-learn" in versions and "pytest" not in versions  # extras left out
    assert f"| {metadata.version('numpy')}" in report
