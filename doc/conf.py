"""Sphinx configuration of the pynet-cvae documentation.

Build with ``make -C doc html`` (or ``python -m sphinx -W -b html doc
doc/_build/html``). Every gallery example runs during the build; set
``PYNET_CVAE_EXAMPLE_EPOCHS`` to a small number for a quick build, or pass
``-D plot_gallery=0`` to skip running them.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sphinxext"))

import pynet_cvae  # noqa: E402
from api_plan import build_plan  # noqa: E402

# -- Project -----------------------------------------------------------------------
project = "pynet-cvae"
author = "the pynet-cvae developers"
copyright = "2024-2025, the pynet-cvae developers"
release = pynet_cvae.__version__
version = release

# -- General -----------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "readme_commands",  # doc/sphinxext: the README's commands, never copied
    "cli_help",  # doc/sphinxext: pynet-cvae --help, from the parser
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
language = "en"
nitpicky = False
default_role = "py:obj"
pygments_style = "sphinx"

# -- API reference -----------------------------------------------------------------
# autosummary walks the package recursively (doc/_templates/autosummary/module.rst);
# doc/sphinxext/api_plan.py decides which page documents each public object.
autosummary_generate = True
autosummary_ignore_module_all = True  # list every submodule, whatever __all__ says
autosummary_context = {"api_plan": build_plan("pynet_cvae")}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc Parameters sections give the types
numpydoc_show_class_members = False  # autodoc's :members: lists them instead
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- Doctests ------------------------------------------------------------------------
# ``make -C doc doctest`` runs the ``.. doctest::`` blocks of the user guide; the
# ``>>>`` examples of the docstrings run with ``pytest --doctest-modules pynet_cvae``.
doctest_test_doctest_blocks = ""

# -- Gallery ---------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "subsection_order": ["../examples/vae", "../examples/data",
                         "../examples/normative", "../examples/training",
                         "../examples/plugins"],
    "within_subsection_order": "gallery_order.ExampleOrder",
    "abort_on_example_error": True,  # a failing example fails the build
    "only_warn_on_example_error": False,
    "run_stale_examples": False,
    "remove_config_comments": True,
    "doc_module": ("pynet_cvae",),
    "backreferences_dir": "generated/backreferences",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "capture_repr": (),
    "show_memory": False,
    "min_reported_time": 1,
}

# -- HTML ----------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"pynet-cvae {release}"
html_theme_options = {
    "description": "A pynet-style PyTorch training framework with a CVAE plugin",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "240px",
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html",
                        "searchbox.html"]}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["pynet_cvae.css"]


# -- Setup -----------------------------------------------------------------------------
def _report_numpydoc_warnings() -> None:
    """Turn numpydoc's Python warnings (an unknown section, whose text it drops) into
    Sphinx warnings, so that ``-W`` fails the build on them too."""
    import warnings

    from sphinx.util import logging as sphinx_logging

    logger = sphinx_logging.getLogger("numpydoc")
    show = warnings.showwarning

    def show_as_sphinx_warning(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}numpydoc{os.sep}" in filename:
            logger.warning("numpydoc: %s", message)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = show_as_sphinx_warning


def setup(app) -> None:
    """Sphinx entry point of this configuration."""
    _report_numpydoc_warnings()
