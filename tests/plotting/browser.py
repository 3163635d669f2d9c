"""Headless Chromium on a board's page, and what the page shows.

The page is loaded by Debian's headless Chromium with a fresh profile and a
virtual-time budget (without it the DOM is dumped before the websocket delivers
the windows). The page's JavaScript comes from Visdom's static folder, where
``pynet-cvae board install-assets`` put it (the ``page_assets`` fixture installs it
if needed, which needs npm and the npm registry); nothing is fetched from the
internet.
"""

import html
import os
import re
import shutil
import subprocess
import time

import pytest

from ..servers import window_names

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]

needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="needs Debian's chromium (installed by .ci/run)")


def chromium(url, tmp_path, *flags, budget_ms=10000):
    """Run headless Chromium on ``url`` with a fresh profile; return its stdout."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}",
               f"--user-data-dir={profile}", *flags, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def keep_screenshot(path):
    """Copy a screenshot into ``$PYNET_CVAE_SCREENSHOTS`` when that variable is set."""
    folder = os.environ.get("PYNET_CVAE_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copy(path, os.path.join(folder, os.path.basename(path)))


def pane_titles(dom):
    """The window titles the page shows (the bar of each pane)."""
    return {html.unescape(title) for title in
            re.findall(r'class="bar">.*?<div class="pull-right">([^<]*)</div>', dom)}


def legend_names(dom):
    """The names in the Plotly legends of the page."""
    return {html.unescape(name) for name in
            re.findall(r'class="legendtext"[^>]*>([^<]*)</text>', dom)}


def rendered_dom(url, tmp_path, titles, attempts=4):
    """The page's DOM once it shows the panes ``titles`` and Plotly's curves: dumped
    again with a doubled virtual-time budget while it does not (a loaded machine may
    need more than one try; the last dump otherwise)."""
    for attempt in range(attempts):
        dom = chromium(url, tmp_path, "--dump-dom", budget_ms=10000 * 2 ** attempt)
        if set(titles) <= pane_titles(dom) and 'class="js-line"' in dom:
            break
    return dom


def wait_for_windows(viewer, env, names, attempts=600):
    """Wait (0.1 s a try, a minute at most) until the server holds the windows ``names``
    of ``env``; return the names it holds."""
    held = set()
    for _ in range(attempts):
        held = window_names(viewer, env)
        if names <= held:
            break
        time.sleep(0.1)
    return held
