"""Installing the Visdom page's assets with the real npm, into temporary folders."""

import os
import re
import shutil

import pytest
import visdom

from pynet_cvae.cli import main
from pynet_cvae.plotting.assets import (
    ASSETS,
    BUILT_MARKER,
    AssetsError,
    install_assets,
    missing_assets,
    visdom_static_dir,
)

from ..servers import free_port

needs_npm = pytest.mark.skipif(shutil.which("npm") is None,
                               reason="needs npm (Debian: apt-get install npm)")


def build_py_targets():
    """The static paths that visdom/server/build.py downloads its files to."""
    build_py = os.path.join(os.path.dirname(visdom.__file__), "server", "build.py")
    with open(build_py, encoding="utf-8") as stream:
        source = stream.read()
    names = re.findall(r':\s*"([^"]+)",', source[:source.index("# make sure")])
    targets = set()
    for name in names:
        if name.endswith((".js", ".js.map")):
            targets.add(f"js/{name}")
        elif name.endswith(".css"):
            targets.add(f"css/{name}")
        else:
            targets.add(f"fonts/{name}")
    return targets


def index_html_assets():
    """The static files Visdom's page links, except its own and MathJax."""
    with open(os.path.join(visdom_static_dir(), "index.html"), encoding="utf-8") as page:
        linked = set(re.findall(r'static_url\(["\']([^"\']+)["\']\)', page.read()))
    own = {"js/main.js", "css/style.css", "css/network.css", "../user/style.css"}
    return {path for path in linked - own if "mathjax" not in path}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A static folder with the assets installed once (real npm, real registry)."""
    if shutil.which("npm") is None:
        pytest.skip("needs npm (Debian: apt-get install npm)")
    static_dir = str(tmp_path_factory.mktemp("static"))
    written = install_assets(static_dir)
    return static_dir, written


def test_the_asset_list_covers_build_py_and_the_page():
    targets = {asset.target for asset in ASSETS}
    assert build_py_targets() == targets - {"fonts/glyphicons-halflings-regular.svg"}
    assert index_html_assets() <= targets


@needs_npm
@pytest.mark.subprocess
@pytest.mark.slow
def test_install_writes_every_file_and_the_built_marker(installed):
    static_dir, written = installed
    assert set(written) == {asset.target for asset in ASSETS}
    for target in written:
        assert os.path.getsize(os.path.join(static_dir, target)) > 0, target
    with open(os.path.join(static_dir, BUILT_MARKER), encoding="utf-8") as marker:
        assert marker.read() == visdom.__version__
    with open(os.path.join(static_dir, "js", "jquery.min.js"), encoding="utf-8") as js:
        assert "jQuery v3.1.1" in js.read(200)
    assert missing_assets(static_dir) == []


@needs_npm
@pytest.mark.subprocess
@pytest.mark.slow
def test_a_complete_install_is_left_as_is_without_npm(installed):
    static_dir, _ = installed
    assert install_assets(static_dir, npm="no-such-npm-here") == []


@needs_npm
@pytest.mark.subprocess
@pytest.mark.slow
def test_a_damaged_file_is_detected_and_repaired(installed, tmp_path):
    static_dir = str(tmp_path / "static")
    shutil.copytree(installed[0], static_dir)
    with open(os.path.join(static_dir, "js", "react-dom.min.js"), "r+b") as damaged:
        damaged.truncate(100)
    assert missing_assets(static_dir) == ["js/react-dom.min.js"]
    assert len(install_assets(static_dir)) == len(ASSETS)
    assert missing_assets(static_dir) == []


def test_without_npm_the_error_says_so_and_nothing_changes(tmp_path):
    with pytest.raises(AssetsError, match="'no-such-npm-here' not found .* install"):
        install_assets(str(tmp_path), npm="no-such-npm-here")
    assert os.listdir(tmp_path) == []


@needs_npm
@pytest.mark.subprocess
def test_a_failed_pack_is_a_clear_error_and_nothing_changes(tmp_path, monkeypatch):
    static_dir = tmp_path / "static"
    static_dir.mkdir()
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{free_port()}/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(AssetsError, match=r"npm pack failed .*\n.*ECONNREFUSED"):
        install_assets(str(static_dir))
    assert os.listdir(static_dir) == []


@needs_npm
@pytest.mark.subprocess
@pytest.mark.slow
def test_the_command_installs_and_then_reports_a_complete_install(installed, tmp_path,
                                                                   capsys):
    static_dir = str(tmp_path / "static")
    shutil.copytree(installed[0], static_dir)
    assert main(["board", "install-assets", "--static-dir", static_dir]) == 0
    assert "already installed" in capsys.readouterr().out
    os.remove(os.path.join(static_dir, BUILT_MARKER))
    assert main(["board", "install-assets", "--static-dir", static_dir]) == 0
    assert f"Installed {len(ASSETS)} files" in capsys.readouterr().out
