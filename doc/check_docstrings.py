"""List the public API's docstring problems that numpydoc finds.

Usage: ``python doc/check_docstrings.py [--strict]``

Validates, with :func:`numpydoc.validate.validate`, every object the API reference
documents (see ``doc/sphinxext/api_plan.py``) and the public methods their classes
define. Only the checks a reader notices are reported: a missing docstring, and
parameters, returns or yields left undocumented or documented but absent.
Prints one line per problem; with ``--strict`` the exit status is 1 when there is
any.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

from numpydoc.validate import validate

DOC_DIR = Path(__file__).resolve().parent
PACKAGE = "pynet_cvae"

CHECKS = {
    "GL08": "no docstring",
    "PR01": "parameters not documented",
    "PR02": "documented parameters that do not exist",
    "RT01": "no Returns section",
    "YD01": "no Yields section",
}


def documented_names() -> Iterator[str]:
    """The dotted names of the documented objects and of their classes' methods."""
    sys.path.insert(0, str(DOC_DIR / "sphinxext"))
    try:
        from api_plan import build_plan
    finally:
        sys.path.pop(0)
    for module, page in build_plan(PACKAGE).items():
        for name, kind, _ in page["documented"]:
            if kind == "data":
                continue
            yield f"{module}.{name}"
            if kind in ("class", "exception"):
                cls = getattr(sys.modules[module], name)
                for member, value in vars(cls).items():
                    if member.startswith("_") or not inspect.isfunction(value):
                        continue
                    yield f"{module}.{name}.{member}"


def problems() -> List[Tuple[str, str, str]]:
    """Return ``(object, code, message)`` for each problem found."""
    found = []
    for name in documented_names():
        for code, message in validate(name)["errors"]:
            if code in CHECKS:
                found.append((name, code, message))
    return found


def main(argv: List[str] = None) -> int:
    """Print the problems; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when any problem is found")
    strict = parser.parse_args(argv).strict
    found = problems()
    for name, code, message in found:
        print(f"{name}: {code} {message}")
    print(f"{len(found)} docstring problem(s) in the public API")
    return 1 if strict and found else 0


if __name__ == "__main__":
    sys.exit(main())
