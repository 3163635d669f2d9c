"""The documentation: its helpers, and the user guide's code run by Sphinx.

The full site, with every gallery example executed, is built by ``.ci/run``
(``make -C doc html``), which then runs ``doc/check_build.py``.
"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the doc extra is not installed")
pytest.importorskip("sphinx_gallery", reason="the doc extra is not installed")
pytest.importorskip("numpydoc", reason="the doc extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_commands = _load(DOC / "sphinxext" / "readme_commands.py")
api_plan = _load(DOC / "sphinxext" / "api_plan.py")
check_build = _load(DOC / "check_build.py")


def test_the_install_page_shows_the_readme_quick_start_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = readme_commands.section_code_blocks(readme, "Quick start")
    commands = "\n".join(code for _, code in blocks)
    assert "pip install -e ." in commands
    assert "pytest" in commands


def test_a_missing_readme_section_is_an_error_that_lists_the_sections():
    with pytest.raises(ValueError, match=r"no section 'Install' .*'Quick start'"):
        readme_commands.section_code_blocks("# T\n\n## Quick start\n\n```\nx\n```\n",
                                            "Install")


def test_the_api_reference_documents_each_public_object_on_one_page():
    plan = api_plan.build_plan("pynet_cvae")
    assert set(plan) == set(api_plan.public_modules("pynet_cvae"))
    pages, names = {}, set()
    for module, page in plan.items():
        for name, *_ in page["documented"]:
            value = getattr(sys.modules[module], name)
            # an alias (fetch_mnist = fetch_minst) is documented beside its original
            assert pages.setdefault(id(value), module) == module, (
                f"{module}.{name} is also documented on {pages[id(value)]}")
            names.add(f"{module}.{name}")
    for module, page in plan.items():
        for name, target in page["elsewhere"]:
            assert target in names, f"{module}.{name} links to {target}"
    assert "pynet_cvae.datasets.DataManager" in names
    assert "pynet_cvae.interfaces.DeepLearningInterface" in names


def test_the_site_check_fails_on_a_site_without_pages(tmp_path, capsys):
    assert check_build.main([str(tmp_path)]) == 1
    errors = capsys.readouterr().err
    assert "vae/plot_cvae_tutorial.py: no page" in errors
    assert "pynet_cvae.interfaces: no API page" in errors
    assert "no gallery index" in errors


def _copy_sources(destination: Path) -> Path:
    """Copy what the doc build reads, so that it writes nothing in the repository."""
    generated = shutil.ignore_patterns("_build", "generated", "auto_examples",
                                       "sg_execution_times.rst", "__pycache__")
    shutil.copytree(DOC, destination / "doc", ignore=generated)
    shutil.copytree(ROOT / "examples", destination / "examples", ignore=generated)
    shutil.copy(ROOT / "README.md", destination / "README.md")
    return destination / "doc"


@pytest.mark.sphinx
@pytest.mark.slow
def test_the_user_guide_code_runs(tmp_path):
    source = _copy_sources(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "doctest",
         "-D", "plot_gallery=0", str(source), str(tmp_path / "doctest")],
        capture_output=True, text=True, timeout=600)
    report = (tmp_path / "doctest" / "output.txt")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = report.read_text(encoding="utf-8")
    assert "0 failures in tests" in summary
    assert "user_guide/training" in summary and "user_guide/data" in summary
