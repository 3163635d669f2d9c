"""Check a built documentation site: examples executed, API reference complete.

Usage: ``python doc/check_build.py [doc/_build/html]``

- every gallery example (``examples/**/plot_*.py``) has a page showing at least one
  of its own figures, and a thumbnail made from its figures on the gallery index;
- every public module of ``pynet_cvae`` has an API page.

Prints one line per example (its number of figures) and exits with status 1 and
the list of problems when anything is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple

DOC_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = DOC_DIR.parent / "examples"
GALLERY_DIR = "auto_examples"
API_DIR = "generated"
PACKAGE = "pynet_cvae"

_IMAGE_SOURCE = re.compile(r"""<img\b[^>]*?\bsrc=["']([^"']+)["']""", re.IGNORECASE)


class ExampleReport(NamedTuple):
    """What the built site shows of one example."""

    name: str
    page: Path
    figures: List[str]
    problems: List[str]


def example_scripts(examples_dir: Path = EXAMPLES_DIR) -> List[Path]:
    """The gallery's example scripts, relative to ``examples_dir``, sorted."""
    return sorted(path.relative_to(examples_dir)
                  for path in examples_dir.rglob("plot_*.py"))


def image_sources(page: Path) -> List[str]:
    """The ``src`` of every ``<img>`` of an HTML page, resolved to paths."""
    html = page.read_text(encoding="utf-8")
    return [os.path.normpath(page.parent / source.split("#")[0].split("?")[0])
            for source in _IMAGE_SOURCE.findall(html)
            if not source.startswith(("http:", "https:", "data:"))]


def check_example(html_dir: Path, script: Path) -> ExampleReport:
    """Check the page of one example script (``vae/plot_x.py``)."""
    stem = script.stem
    page = html_dir / GALLERY_DIR / script.parent / f"{stem}.html"
    if not page.is_file():
        return ExampleReport(str(script), page, [], [f"{script}: no page {page}"])
    own = re.compile(rf"sphx_glr_{re.escape(stem)}_\d+\.png$")
    figures = [source for source in image_sources(page) if own.search(source)]
    problems = [f"{script}: figure {source} missing on disk"
                for source in figures if not os.path.isfile(source)]
    if not figures:
        problems.append(f"{script}: its page {page} shows no figure (did it run?)")
    return ExampleReport(str(script), page, figures, problems)


def check_thumbnails(html_dir: Path, scripts: List[Path]) -> List[str]:
    """Check that the gallery index shows a thumbnail drawn from each example."""
    index = html_dir / GALLERY_DIR / "index.html"
    if not index.is_file():
        return [f"no gallery index {index}"]
    sources = image_sources(index)
    problems, seen = [], {}
    for script in scripts:
        thumbnail = f"sphx_glr_{script.stem}_thumb.png"
        found = [source for source in sources if source.endswith(thumbnail)]
        if not found:
            problems.append(f"{script}: no thumbnail {thumbnail} on the gallery index")
        elif not os.path.isfile(found[0]):
            problems.append(f"{script}: thumbnail {found[0]} missing on disk")
        else:
            content = Path(found[0]).read_bytes()
            if content in seen:  # sphinx-gallery's placeholder, shared by examples
                problems.append(f"{script}: same thumbnail as {seen[content]}: a "
                                "placeholder, not one of its figures")
            seen.setdefault(content, script)
    return problems


def public_modules() -> List[str]:
    """The public modules of the package, as the API reference lists them."""
    sys.path.insert(0, str(DOC_DIR / "sphinxext"))
    try:
        from api_plan import public_modules as walk
    finally:
        sys.path.pop(0)
    return walk(PACKAGE)


def check_api(html_dir: Path, modules: List[str]) -> List[str]:
    """Check that each module has its API page."""
    return [f"{module}: no API page {html_dir / API_DIR / (module + '.html')}"
            for module in modules
            if not (html_dir / API_DIR / f"{module}.html").is_file()]


def check_site(html_dir: Path) -> Dict[str, object]:
    """Run every check on a built site.

    Parameters
    ----------
    html_dir : pathlib.Path
        The HTML output folder (``doc/_build/html``).

    Returns
    -------
    dict
        ``examples`` (list of :class:`ExampleReport`), ``modules`` (list of str) and
        ``problems`` (list of str, empty when the site is complete).
    """
    scripts = example_scripts()
    examples = [check_example(html_dir, script) for script in scripts]
    modules = public_modules()
    problems = [problem for report in examples for problem in report.problems]
    problems += check_thumbnails(html_dir, scripts)
    problems += check_api(html_dir, modules)
    if not scripts:
        problems.append(f"no example script under {EXAMPLES_DIR}")
    return {"examples": examples, "modules": modules, "problems": problems}


def main(argv: List[str] = None) -> int:
    """Check the site, print a summary; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", default=str(DOC_DIR / "_build" / "html"),
                        help="the HTML output folder (default: doc/_build/html)")
    html_dir = Path(parser.parse_args(argv).html_dir)
    result = check_site(html_dir)
    for report in result["examples"]:
        print(f"{len(report.figures):3d} figure(s)  {report.name}")
    figures = sum(len(report.figures) for report in result["examples"])
    print(f"{len(result['examples'])} examples, {figures} figures, "
          f"{len(result['modules'])} API module pages expected")
    if result["problems"]:
        print("\n".join(["documentation check FAILED:"] + result["problems"]),
              file=sys.stderr)
        return 1
    print("documentation check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
