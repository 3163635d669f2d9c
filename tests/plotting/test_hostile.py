"""Hostile strings and hostile board logs: shown as text, refused, never run.

A board log is shared between colleagues, and replaying it puts its messages on a
page that runs in the viewer's browser. The browser tests load that page in a real
headless Chromium next to a real HTTP server on 127.0.0.1 that records every
request: a page that ran a logged script, or loaded a logged URL, leaves a trace
there. The first test shows that this harness sees an attack (a message sent
straight to Visdom, unchecked); the others, that nothing the board writes, live or
replayed, and nothing a replay lets through, makes the page request anything.
"""

import copy
import html
import json
import warnings

import numpy as np
import pytest
import visdom

from pynet_cvae.cli import main
from pynet_cvae.plotting import Board, read_replay_log, replay_log
from pynet_cvae.plotting.messages import check_message

from ..servers import RequestRecorder, free_port, window_names
from .browser import chromium, legend_names, needs_chromium, pane_titles


@pytest.fixture
def recorder():
    """A real HTTP server on 127.0.0.1 that records what a page requests from it."""
    server = RequestRecorder()
    yield server
    server.close()


def script(recorder, where):
    """Markup that makes a browser request ``<recorder>/<where>`` if it is ever parsed."""
    return f"<img src=x onerror=\"fetch('{recorder.url}{where}')\">"


def recorded_board_log(path, hostile, env="recorded"):
    """The log of a board whose every user-supplied string is ``hostile``."""
    with pytest.warns(RuntimeWarning, match="no Visdom server answers"):
        board = Board(port=free_port(), host="http://127.0.0.2", env=env, timeout=1.0,
                      replay_log=str(path), allow_remote=True, display_pred=True)
    fill_board(board, hostile)
    board.close()


def fill_board(board, hostile):
    """Every window type, with ``hostile`` wherever a user or a model names things:
    table cells, window names and titles, legends, captions."""
    images = np.linspace(0, 1, 4 * 64, dtype="float32").reshape(4, 1, 8, 8)
    board.show_config({hostile: hostile, "epochs": 2})
    for epoch in range(2):
        board.update_plots({hostile: 1.0 - epoch, f"val_{hostile}": 2.0 - epoch,
                            "val_pred": images}, epoch)
    board.viewer.images(images, win="sampling", opts={"title": hostile, "caption": hostile})
    board.flush()


# ------------------------------------------------------------------ the message check
def board_messages(tmp_path):
    log = tmp_path / "board.jsonl"
    recorded_board_log(log, "<b>name</b> & co")
    return read_replay_log(str(log))


def first(messages, endpoint, win):
    return next((logged, message) for logged, message in messages
                if logged == endpoint and message["win"] == win)


def text_window(messages):
    return first(messages, "events", "configuration")


def image_window(messages):
    return first(messages, "events", "sampling")


def line_plot(messages):
    return first(messages, "events", "<b>name</b> & co")


def appended_point(messages):
    return first(messages, "update", "<b>name</b> & co")


def set_in(path, value):
    """A change of a message: ``value`` at ``path`` (keys and indices)."""
    def change(message):
        target = message
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


ATTACK = "<img src=x onerror=\"fetch('http://127.0.0.1:9/x')\">"
HOSTILE_MESSAGES = [
    # (window, change, what the refusal says)
    (text_window, set_in(["data", 0, "content"], ATTACK), "the text holds markup"),
    (text_window, set_in(["data", 0, "content"], "<script>fetch('/x')</script>"),
     "the text holds markup"),
    (text_window, set_in(["data", 0, "content"],
                         '<table class="table table-condensed"><tr><td>' + ATTACK
                         + "</td></tr></table>"), "the text holds markup"),
    (image_window, set_in(["data", 0, "content", "src"], "http://127.0.0.1:9/x.png"),
     "is not a data:image/...;base64 URL"),
    (image_window, set_in(["data", 0, "content", "src"], "javascript:fetch('/x')"),
     "is not a data:image/...;base64 URL"),
    (line_plot, set_in(["layout", "title"], "<a href='http://127.0.0.1:9'>x</a>"),
     "the plot title .* holds markup"),
    (line_plot, set_in(["layout", "yaxis", "title"], ATTACK), "the yaxis title .* markup"),
    (line_plot, set_in(["data", 0, "name"], ATTACK), "the trace name .* holds markup"),
    (line_plot, set_in(["layout", "images"], [{"source": "http://127.0.0.1:9/x.png"}]),
     r"\['images'\] are not entries a board writes"),
    (line_plot, set_in(["data", 0, "type"], "heatmap"), "a board draws 'scatter' traces"),
    (line_plot, set_in(["opts", "legend"], [ATTACK]), r"\['legend'\] are not entries"),
    (appended_point, set_in(["name"], ATTACK), "the trace name .* holds markup"),
    (appended_point, set_in(["layout"], {"title": "x"}), "an update must append a point"),
    (appended_point, set_in(["data", 0, "y"], ["Infinity"]), "must be a finite number"),
    (text_window, set_in(["eid"], "../../outside"), "env must be a non-empty name"),
    (text_window, set_in(["eid"], "<b>env</b>"), "env must be a non-empty name"),
    (text_window, set_in(["win"], "a\nb"), "the window name 'win' must be a string"),
    (text_window, set_in(["data"], []), "'data' must be a list of one object"),
]


@pytest.mark.parametrize("window, change, refusal", HOSTILE_MESSAGES)
def test_a_message_a_board_never_writes_is_refused(tmp_path, window, change, refusal):
    endpoint, message = copy.deepcopy(window(board_messages(tmp_path)))
    check_message(endpoint, message)  # as the board wrote it
    change(message)
    with pytest.raises(ValueError, match=refusal):
        check_message(endpoint, message)


def test_an_endpoint_a_board_never_uses_is_refused(tmp_path):
    endpoint, message = text_window(board_messages(tmp_path))
    with pytest.raises(ValueError, match="endpoint 'close' is not one a board writes"):
        check_message("close", message)


def test_everything_a_board_writes_passes_with_its_names_escaped(tmp_path):
    log = tmp_path / "board.jsonl"
    hostile = "<img src=x onerror=\"fetch('http://127.0.0.1:9/x')\">"
    recorded_board_log(log, hostile)
    messages = read_replay_log(str(log))
    for endpoint, message in messages:
        check_message(endpoint, message)
    text = json.dumps(messages)
    assert "&lt;img src=x" in text  # the table cells, the Plotly titles and legends
    assert {message["win"] for _, message in messages} == {
        "configuration", hostile, "val_pred", "sampling"}


# ------------------------------------------------------------------ replaying a hostile log
def hostile_log(tmp_path, line, env):
    """A board's own log (to ``env``) with one hostile line after its first one."""
    log = tmp_path / "hostile.jsonl"
    recorded_board_log(log, "loss", env)
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], json.dumps(line), *lines[1:]]) + "\n")
    return log


@pytest.mark.visdom
@pytest.mark.parametrize("line, refusal", [
    (["events", {"data": [{"content": ATTACK, "type": "text"}], "win": "note",
                 "eid": "{env}", "opts": {}}], "the text holds markup"),
    (["events", {"data": [{"content": "fine", "type": "text"}], "win": "note",
                 "eid": "../../outside", "opts": {}}], "env must be a non-empty name"),
])
def test_the_replay_command_refuses_a_hostile_log_and_sends_nothing(
        tmp_path, visdom_server, env_name, capsys, line, refusal):
    line[1]["eid"] = line[1]["eid"].format(env=env_name)
    log = hostile_log(tmp_path, line, env_name)
    code = main(["board", "replay", str(log), "--port", str(visdom_server.port)])
    error = capsys.readouterr().err.strip()
    assert code == 1 and len(error.splitlines()) == 1
    assert f"{log}, line 2: refused, nothing was replayed" in error
    assert refusal in error
    viewer = visdom.Visdom(port=visdom_server.port, server="http://127.0.0.1",
                           raise_exceptions=True)
    assert window_names(viewer, env_name) == set()


@pytest.mark.parametrize("env", ["../outside", "<img src=x>", ".hidden", "a/b"])
def test_the_env_given_to_replay_is_checked_too(tmp_path, capsys, env):
    log = tmp_path / "board.jsonl"
    recorded_board_log(log, "loss")
    code = main(["board", "replay", str(log), "--port", str(free_port()), "--env", env])
    error = capsys.readouterr().err.strip()
    assert code == 1 and len(error.splitlines()) == 1
    assert "env must be a non-empty name without path separators, markup or quotes" in error
    with pytest.raises(ValueError, match="env must be a non-empty name"):
        replay_log(str(log), port=free_port(), env=env)


# ------------------------------------------------------------------ in a real browser
def page(server, env):
    return f"http://127.0.0.1:{server.port}/env/{env}"


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.http
@needs_chromium
def test_the_harness_sees_a_page_run_an_unchecked_message(tmp_path, page_assets, server,
                                                          recorder):
    # What the replay used to do: the logged text sent to Visdom unchanged.
    viewer = visdom.Visdom(port=server.port, server="http://127.0.0.1",
                           raise_exceptions=True)
    viewer.text(script(recorder, "unchecked"), win="note", env="unchecked")
    chromium(page(server, "unchecked"), tmp_path, "--dump-dom")
    assert "/unchecked" in recorder.paths
    with pytest.raises(ValueError, match="the text holds markup"):
        check_message("events", {"data": [{"content": script(recorder, "unchecked"),
                                           "type": "text"}],
                                 "win": "note", "eid": "unchecked", "opts": {}})


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.http
@needs_chromium
def test_hostile_names_on_a_board_and_its_replay_are_shown_as_text_and_fetch_nothing(
        tmp_path, page_assets, server, recorder):
    hostile = script(recorder, "board")
    log = tmp_path / "board.jsonl"
    with Board(port=server.port, env="live", display_pred=True, replay_log=str(log)) as live:
        fill_board(live, hostile)
    assert replay_log(str(log), port=server.port, env="replayed") == len(
        read_replay_log(str(log)))

    for env in ("live", "replayed"):
        dom = chromium(page(server, env), tmp_path, "--dump-dom")
        assert {hostile, "configuration", "validation predictions"} <= pane_titles(dom)
        assert {hostile, f"val_{hostile}"} <= legend_names(dom)  # Plotly's legend
        assert dom.count(html.escape(hostile, quote=False)) >= 3  # cells, caption, title
        assert 'class="js-line"' in dom  # the curves were drawn
    assert recorder.paths == []


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.http
@needs_chromium
def test_what_a_replay_lets_through_fetches_nothing(tmp_path, page_assets, server,
                                                    recorder):
    # Markup where a board never writes it, but where a replay allows text: captions
    # and window titles, which the page shows as text.
    hostile = script(recorder, "caption")
    log = tmp_path / "board.jsonl"
    recorded_board_log(log, "loss")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for endpoint, message in lines:
        if endpoint == "events":
            message["opts"]["title"] = hostile
        if message["data"][0].get("type") == "image":
            message["data"][0]["content"]["caption"] = hostile
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        replay_log(str(log), port=server.port, env="captions")
    dom = chromium(page(server, "captions"), tmp_path, "--dump-dom")
    assert hostile in pane_titles(dom)
    assert recorder.paths == []
