"""Install the Visdom page's third-party JavaScript and CSS from the npm registry.

Visdom 0.2.4's page loads jQuery, Bootstrap, React, Plotly and a few more from
its static folder, and ``python -m visdom.server`` downloads them from CDNs at
each start (which fails offline and leaves a blank page). :func:`install_assets`
fetches pinned versions of the same libraries with ``npm pack`` (the npm
registry is the only place they come from) and writes them under the file
names that ``visdom/server/build.py`` expects, with its ``version.built``
marker, so that the page renders without internet from then on.

The install is idempotent (a complete install is left as is, unless forced)
and atomic per file: the packages are all fetched and checked before anything
is written, each file is replaced atomically, and the ``version.built`` marker
is removed first and written last, so an interrupted install is never taken for
a complete one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from pynet_cvae.fileio import atomic_path, atomic_write_text

logger = logging.getLogger("pynet_cvae")

MANIFEST_NAME = "pynet-cvae-assets.json"
"""The file, in the static folder, that lists the installed assets and their SHA-256."""

BUILT_MARKER = "version.built"
"""Visdom's marker: the static folder holds the assets of this Visdom version."""


class AssetsError(RuntimeError):
    """The assets could not be fetched or installed."""


@dataclass(frozen=True)
class Asset:
    """One file of the page, taken from an npm package.

    Parameters
    ----------
    package : str
        The pinned npm package, ``name@version``.
    member : str
        The file's path inside the package (without the ``package/`` prefix).
    target : str
        The file's path under Visdom's static folder.
    """

    package: str
    member: str
    target: str


_BOOTSTRAP = "bootstrap@3.3.7"
_LAYOUT_BIN_PACKER = "layout-bin-packer@1.4.0"
_GLYPHICONS = "glyphicons-halflings-regular"

ASSETS: tuple = (
    Asset("jquery@3.1.1", "dist/jquery.min.js", "js/jquery.min.js"),
    Asset(_BOOTSTRAP, "dist/js/bootstrap.min.js", "js/bootstrap.min.js"),
    Asset("react@16.2.0", "umd/react.production.min.js", "js/react-react.min.js"),
    Asset("react-dom@16.2.0", "umd/react-dom.production.min.js", "js/react-dom.min.js"),
    Asset("react-modal@3.1.10", "dist/react-modal.min.js", "js/react-modal.min.js"),
    Asset("plotly.js-dist-min@2.11.1", "plotly.min.js", "js/plotly-plotly.min.js"),
    Asset("sjcl@1.0.7", "sjcl.js", "js/sjcl.js"),
    Asset(_LAYOUT_BIN_PACKER, "dist/layout-bin-packer.js.map",
          "js/layout-bin-packer.js.map"),
    Asset(_LAYOUT_BIN_PACKER, "dist/layout-bin-packer.js", "js/layout_bin_packer.js"),
    Asset("d3@3.5.17", "d3.min.js", "js/d3.v3.min.js"),
    Asset("d3-selection-multi@1.0.1", "build/d3-selection-multi.js",
          "js/d3-selection-multi.v1.js"),
    Asset("save-svg-as-png@1.4.17", "lib/saveSvgAsPng.js", "js/saveSvgAsPng.js"),
    Asset("react-resizable@1.4.6", "css/styles.css", "css/react-resizable-styles.css"),
    Asset("react-grid-layout@0.16.3", "css/styles.css",
          "css/react-grid-layout-styles.css"),
    Asset(_BOOTSTRAP, "dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
    Asset("classnames@2.2.5", "index.js", "fonts/classnames"),
    Asset(_BOOTSTRAP, f"dist/fonts/{_GLYPHICONS}.eot", f"fonts/{_GLYPHICONS}.eot"),
    Asset(_BOOTSTRAP, f"dist/fonts/{_GLYPHICONS}.woff2", f"fonts/{_GLYPHICONS}.woff2"),
    Asset(_BOOTSTRAP, f"dist/fonts/{_GLYPHICONS}.woff", f"fonts/{_GLYPHICONS}.woff"),
    Asset(_BOOTSTRAP, f"dist/fonts/{_GLYPHICONS}.ttf", f"fonts/{_GLYPHICONS}.ttf"),
    # The name build.py gives it, and the name the browser asks for.
    Asset(_BOOTSTRAP, f"dist/fonts/{_GLYPHICONS}.svg",
          f"fonts/{_GLYPHICONS}.svg#glyphicons_halflingsregular"),
    Asset(_BOOTSTRAP, f"dist/fonts/{_GLYPHICONS}.svg", f"fonts/{_GLYPHICONS}.svg"),
)
"""The page's files, as ``visdom/server/build.py`` (Visdom 0.2.4) names them."""

_MATHJAX = "mathjax@2.7.5"
MATHJAX_ASSETS: tuple = tuple(
    Asset(_MATHJAX, member, f"js/mathjax/2.7.5/{member}") for member in (
        "MathJax.js", "config/Safe.js", "config/TeX-AMS-MML_HTMLorMML.js",
        "extensions/Safe.js", "jax/output/SVG/fonts/TeX/fontdata.js",
        "jax/output/SVG/jax.js", "jax/output/SVG/fonts/TeX/Size1/Regular/Main.js",
        "jax/output/SVG/config.js"))
"""MathJax (optional: only text windows with LaTeX need it)."""


def visdom_static_dir() -> str:
    """Return the static folder of the installed Visdom (where its server looks).

    Returns
    -------
    str
        ``<site-packages>/visdom/static``.
    """
    from visdom.utils.shared_utils import get_visdom_path

    return get_visdom_path("static")


def _visdom_version() -> str:
    import visdom

    return str(visdom.__version__)


def _selected(include_mathjax: bool) -> tuple:
    return ASSETS + MATHJAX_ASSETS if include_mathjax else ASSETS


def _sha256(path: str) -> Optional[str]:
    """Return the SHA-256 of a file, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _read_manifest(static_dir: str) -> Dict[str, str]:
    try:
        with open(os.path.join(static_dir, MANIFEST_NAME), encoding="utf-8") as stream:
            manifest = json.load(stream)
    except (OSError, ValueError):
        return {}
    files = manifest.get("files") if isinstance(manifest, dict) else None
    return files if isinstance(files, dict) else {}


def missing_assets(static_dir: Optional[str] = None,
                   include_mathjax: bool = False) -> List[str]:
    """List what is missing or changed for a complete install.

    Parameters
    ----------
    static_dir : str, optional
        The folder to check; Visdom's static folder when None.
    include_mathjax : bool, default False
        Also require the MathJax files.

    Returns
    -------
    list of str
        The static paths absent, or whose content differs from the install
        record, plus ``version.built`` when the marker does not name the
        installed Visdom version; empty when the install is complete.
    """
    static_dir = static_dir or visdom_static_dir()
    recorded = _read_manifest(static_dir)
    missing = []
    for target in sorted({asset.target for asset in _selected(include_mathjax)}):
        digest = _sha256(os.path.join(static_dir, target))
        if digest is None or recorded.get(target) != digest:
            missing.append(target)
    try:
        with open(os.path.join(static_dir, BUILT_MARKER), encoding="utf-8") as stream:
            built = stream.read().strip()
    except OSError:
        built = None
    if built != _visdom_version():
        missing.append(BUILT_MARKER)
    return missing


def _npm_pack(packages: Sequence[str], destination: str, npm: str,
              timeout: float) -> Dict[str, str]:
    """Run ``npm pack`` for ``packages``; return ``{package: tarball path}``."""
    executable = shutil.which(npm)
    if executable is None:
        raise AssetsError(
            f"npm executable {npm!r} not found on PATH: install Node.js and npm "
            "(Debian: apt-get install npm) to fetch Visdom's JavaScript assets")
    command = [executable, "pack", "--json", "--ignore-scripts",
               "--pack-destination", destination, *packages]
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssetsError(f"npm pack did not finish within {timeout:g} s; "
                          f"command: {' '.join(command)}") from None
    if result.returncode != 0:
        raise AssetsError(
            f"npm pack failed with code {result.returncode} for "
            f"{', '.join(packages)}:\n{_npm_error(result)}")
    try:
        packed = json.loads(result.stdout)
    except ValueError:
        raise AssetsError(f"npm pack gave no JSON report: {result.stdout[-500:]!r}"
                          ) from None
    tarballs = {f"{entry['name']}@{entry['version']}":
                os.path.join(destination, entry["filename"]) for entry in packed}
    absent = [package for package in packages if package not in tarballs]
    if absent:
        raise AssetsError(f"npm pack did not return {', '.join(absent)}; "
                          f"it returned {', '.join(sorted(tarballs))}")
    return tarballs


def _npm_error(result: subprocess.CompletedProcess) -> str:
    """Return npm's error summary (``--json`` prints it on stdout) and its stderr."""
    try:
        error = json.loads(result.stdout).get("error", {})
        summary = f"{error.get('summary', '')}\n{error.get('detail', '')}".strip()
    except (ValueError, AttributeError):
        summary = result.stdout.strip()
    return f"{summary}\n{result.stderr.strip()}".strip()[-2000:]


def _read_members(tarballs: Dict[str, str], assets: Sequence[Asset]
                  ) -> Dict[str, bytes]:
    """Return ``{target: content}`` read from the packed tarballs."""
    contents = {}
    for asset in assets:
        path = tarballs[asset.package]
        try:
            with tarfile.open(path, "r:gz") as archive:
                stream = archive.extractfile(f"package/{asset.member}")
                if stream is None:
                    raise KeyError(asset.member)
                contents[asset.target] = stream.read()
        except KeyError:
            raise AssetsError(f"{asset.package} has no file {asset.member!r} "
                              f"(needed for static/{asset.target})") from None
        except (OSError, tarfile.TarError) as error:
            raise AssetsError(f"cannot read {path} ({asset.package}): {error}"
                              ) from None
        if not contents[asset.target]:
            raise AssetsError(f"{asset.package}: {asset.member!r} is empty")
    return contents


def _write_files(static_dir: str, contents: Dict[str, bytes]) -> Dict[str, str]:
    """Write each file atomically; return ``{target: sha256}``."""
    digests = {}
    for target, content in sorted(contents.items()):
        with atomic_path(os.path.join(static_dir, target)) as temporary:
            temporary.write_bytes(content)
        digests[target] = hashlib.sha256(content).hexdigest()
    return digests


def _check_writable(static_dir: str) -> None:
    os.makedirs(static_dir, exist_ok=True)
    if not os.access(static_dir, os.W_OK):
        raise AssetsError(f"cannot write to Visdom's static folder {static_dir!r}: "
                          "run the install as the owner of the Python environment")


def install_assets(static_dir: Optional[str] = None, include_mathjax: bool = False,
                   force: bool = False, npm: str = "npm", timeout: float = 300.0
                   ) -> List[str]:
    """Install the Visdom page's JavaScript and CSS from pinned npm packages.

    Parameters
    ----------
    static_dir : str, optional
        Where to install; Visdom's static folder when None (the folder its
        server serves, so installing there needs write access to the Python
        environment).
    include_mathjax : bool, default False
        Also install MathJax 2.7.5 (for LaTeX in text windows).
    force : bool, default False
        Fetch and write everything even when the install is complete.
    npm : str, default "npm"
        The npm executable.
    timeout : float, default 300.0
        Seconds that ``npm pack`` may take.

    Returns
    -------
    list of str
        The static paths written; empty when the install was already complete.

    Raises
    ------
    AssetsError
        When npm is missing, a package cannot be fetched, a file is not in
        its package, or the folder is not writable; nothing is changed then.
    """
    static_dir = static_dir or visdom_static_dir()
    if not force and not missing_assets(static_dir, include_mathjax):
        logger.info("Visdom's assets are already installed in %s", static_dir)
        return []
    _check_writable(static_dir)
    assets = _selected(include_mathjax)
    packages = list(dict.fromkeys(asset.package for asset in assets))
    with tempfile.TemporaryDirectory(prefix="pynet-cvae-npm-") as workdir:
        logger.info("Fetching %d npm packages for Visdom's page", len(packages))
        contents = _read_members(_npm_pack(packages, workdir, npm, timeout), assets)
    marker = os.path.join(static_dir, BUILT_MARKER)
    if os.path.exists(marker):
        os.remove(marker)
    digests = dict(_read_manifest(static_dir), **_write_files(static_dir, contents))
    manifest = {"visdom": _visdom_version(), "files": digests,
                "packages": sorted(packages)}
    atomic_write_text(os.path.join(static_dir, MANIFEST_NAME),
                      json.dumps(manifest, indent=1, sort_keys=True))
    atomic_write_text(marker, _visdom_version())
    logger.info("Installed %d files in %s", len(contents), static_dir)
    return sorted(contents)
