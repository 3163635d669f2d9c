"""The messages a board sends to Visdom, and the check of each one before a replay.

A board log is shared between colleagues, and replaying it puts its messages on a
page that runs in the viewer's browser with the viewer's access to their machine.
Visdom puts a text window's content into the page as HTML, loads an image
window's ``src`` as a URL, and Plotly reads a subset of HTML (links included) in
titles, axis titles and trace names. So a replayed message is sent only when it
has one of the shapes a :class:`~pynet_cvae.plotting.board.Board` writes, with
nothing in it that a board would not write:

``events``, a line plot
    ``data``: one trace (``x``, ``y``: numbers or null, ``name``, ``type``
    "scatter", ``mode``, ``marker.size``); ``layout``: ``title``, ``showlegend``,
    ``xaxis`` / ``yaxis`` (``title``, ``type`` "linear" or "log"), ``margin``.
``update``, a point appended to a plot
    ``data``: one trace as above, ``name``, ``append``: true, empty ``opts`` and
    ``layout``.
``events``, a text window
    ``content``: plain text, or the board's table of settings (``<table>``,
    ``<tr>``, ``<th>``, ``<td>`` and escaped text, nothing else).
``events``, an image window
    ``content.src``: a ``data:image/...;base64,`` URL (nothing fetched),
    ``content.caption``.

Every message names an environment that passes :func:`check_env` and a window
name of at most :data:`MAX_NAME` characters; text shown by Plotly (titles, trace
names) holds no ``<`` nor ``>`` (a board escapes them); ``opts`` hold only
``title``, ``caption``, ``width`` and ``height``. Anything else is refused with a
:class:`ValueError` that says what.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

MAX_NAME = 200
"""The longest window name, title or caption (characters)."""

MAX_TEXT = 1_000_000
"""The longest text window (characters)."""

_FORBIDDEN_IN_ENV = ("/", "\\", "<", ">", "&", "\"", "'")
_MARKUP = re.compile(r"[<>]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IMAGE_URL = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")
_TABLE_TAGS = re.compile(r'<table class="table table-condensed">|</table>|</?tr>|</?th>'
                         r"|</?td>")
_OPTS = {"title": "text", "caption": "text", "width": "size", "height": "size"}
_TRACE = {"x", "y", "name", "type", "mode", "marker"}
_LAYOUT = {"title", "showlegend", "xaxis", "yaxis", "margin"}
_MODES = ("lines", "markers", "lines+markers")


def check_env(env: Any) -> str:
    """Return ``env`` if it is a safe Visdom environment name.

    A name is refused when it is empty, hidden (starts with a dot), a path, or
    holds markup or quotes: Visdom saves an environment as ``<env_path>/<env>.json``
    and shows the name on the page.

    Parameters
    ----------
    env : str
        The name.

    Returns
    -------
    str
        ``env``.

    Raises
    ------
    ValueError
        Naming the refused value.
    """
    if not isinstance(env, str) or not env or env.startswith(".") or len(env) > MAX_NAME \
            or _CONTROL.search(env) or any(character in env
                                           for character in _FORBIDDEN_IN_ENV):
        raise ValueError(
            f"env must be a non-empty name without path separators, markup or quotes "
            f"(e.g. 'cvae' or 'cvae_fold0'); got {env!r}"[:400])
    return env


def check_message(endpoint: str, message: Mapping[str, Any]) -> None:
    """Check that a logged message is one a board writes (see the module documentation).

    Parameters
    ----------
    endpoint : str
        ``"events"`` or ``"update"``.
    message : dict
        The message.

    Raises
    ------
    ValueError
        Saying what in the message a board never writes.
    """
    if not isinstance(message, Mapping):
        raise ValueError(f"the message is a {type(message).__name__}, expected an object")
    check_env(message.get("eid"))
    _name(message.get("win"), "the window name 'win'")
    window = f"window {message['win']!r}"
    data = message.get("data")
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], Mapping):
        raise ValueError(f"{window}: 'data' must be a list of one object")
    _opts(message.get("opts", {}), window)
    item = data[0]
    if endpoint == "update":
        _keys(message, {"data", "win", "eid", "name", "append", "opts", "layout"}, window)
        if message.get("append") is not True or message.get("layout", {}) != {} \
                or message.get("opts", {}) != {}:
            raise ValueError(f"{window}: an update must append a point, with empty "
                             "'opts' and 'layout'")
        _plot_text(message.get("name"), f"{window}: the trace name")
        _trace(item, window)
        return
    if endpoint != "events":
        raise ValueError(f"endpoint {endpoint!r} is not one a board writes: expected "
                         "'events' or 'update'")
    kind = item.get("type")
    if kind == "text":
        _keys(message, {"data", "win", "eid", "opts"}, window)
        _keys(item, {"content", "type"}, window)
        _text_content(item.get("content"), window)
    elif kind == "image":
        _keys(message, {"data", "win", "eid", "opts"}, window)
        _keys(item, {"content", "type"}, window)
        _image_content(item.get("content"), window)
    else:
        _keys(message, {"data", "win", "eid", "layout", "opts"}, window)
        _trace(item, window)
        _layout(message.get("layout", {}), window)


def _keys(value: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(map(str, value)) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: {unknown} are not entries a board writes (expected "
                         f"some of {sorted(allowed)})")


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME \
            or _CONTROL.search(value):
        raise ValueError(f"{what} must be a string of 1 to {MAX_NAME} printable "
                         f"characters, got {str(value)[:80]!r}")
    return value


def _plot_text(value: Any, what: str) -> None:
    """Text that Plotly reads as HTML: plain, markup escaped as a board does."""
    _name(value, what)
    if _MARKUP.search(value):
        raise ValueError(f"{what} {value[:80]!r} holds markup ('<' or '>'), which a board "
                         "escapes")


def _number(value: Any, what: str, none: bool = False) -> None:
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {str(value)[:80]!r}")


def _opts(opts: Any, where: str) -> None:
    if not isinstance(opts, Mapping):
        raise ValueError(f"{where}: 'opts' must be an object")
    _keys(opts, _OPTS, f"{where}, opts")
    for key, value in opts.items():
        if _OPTS[key] == "text":
            _name(value, f"{where}: opts {key!r}")
        else:
            _number(value, f"{where}: opts {key!r}")


def _trace(trace: Mapping[str, Any], where: str) -> None:
    _keys(trace, _TRACE, f"{where}, trace")
    if trace.get("type", "scatter") != "scatter" or trace.get("mode", "lines") not in _MODES:
        raise ValueError(f"{where}: a board draws 'scatter' traces in modes {list(_MODES)}, "
                         f"got {trace.get('type')!r}, {trace.get('mode')!r}")
    _plot_text(trace.get("name"), f"{where}: the trace name")
    for axis in ("x", "y"):
        values = trace.get(axis)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: the trace's {axis!r} must be a list of numbers")
        for value in values:
            _number(value, f"{where}: a value of {axis!r}", none=True)
    marker = trace.get("marker", {})
    if not isinstance(marker, Mapping):
        raise ValueError(f"{where}: the trace's 'marker' must be an object")
    _keys(marker, {"size"}, f"{where}, marker")
    for value in marker.values():
        _number(value, f"{where}: the marker size")


def _layout(layout: Any, where: str) -> None:
    if not isinstance(layout, Mapping):
        raise ValueError(f"{where}: 'layout' must be an object")
    _keys(layout, _LAYOUT, f"{where}, layout")
    if "title" in layout:
        _plot_text(layout["title"], f"{where}: the plot title")
    if not isinstance(layout.get("showlegend", True), bool):
        raise ValueError(f"{where}: 'showlegend' must be true or false")
    for axis in ("xaxis", "yaxis"):
        settings = layout.get(axis, {})
        if not isinstance(settings, Mapping):
            raise ValueError(f"{where}: {axis!r} must be an object")
        _keys(settings, {"title", "type"}, f"{where}, {axis}")
        if "title" in settings:
            _plot_text(settings["title"], f"{where}: the {axis} title")
        if settings.get("type", "linear") not in ("linear", "log"):
            raise ValueError(f"{where}: the {axis} type must be 'linear' or 'log'")
    margin = layout.get("margin", {})
    if not isinstance(margin, Mapping):
        raise ValueError(f"{where}: 'margin' must be an object")
    _keys(margin, {"l", "r", "t", "b"}, f"{where}, margin")
    for value in margin.values():
        _number(value, f"{where}: a margin")


def _text_content(content: Any, where: str) -> None:
    """Plain text, or the board's table of escaped cells: no other markup."""
    if not isinstance(content, str) or len(content) > MAX_TEXT:
        raise ValueError(f"{where}: a text window's content must be a string of at most "
                         f"{MAX_TEXT} characters")
    rest = _TABLE_TAGS.sub("", content) if content.startswith("<table") else content
    markup = _MARKUP.search(rest)
    if markup:
        start = max(0, markup.start() - 20)
        raise ValueError(f"{where}: the text holds markup a board never writes "
                         f"({rest[start:markup.start() + 60]!r}): a board shows text "
                         "escaped, or its table of settings")


def _image_content(content: Any, where: str) -> None:
    if not isinstance(content, Mapping):
        raise ValueError(f"{where}: an image window's content must be an object")
    _keys(content, {"src", "caption"}, f"{where}, image")
    source = content.get("src")
    if not isinstance(source, str) or not _IMAGE_URL.fullmatch(source):
        raise ValueError(f"{where}: the image source {str(source)[:60]!r} is not a "
                         "data:image/...;base64 URL (a board embeds its images; a page "
                         "must fetch nothing)")
    if "caption" in content:
        _name(content["caption"], f"{where}: the caption")

