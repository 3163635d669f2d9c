"""``pynet-cvae board``: the Visdom board's assets, server and replays.

- ``pynet-cvae board install-assets``: put the page's JavaScript and CSS (from
  pinned npm packages) into Visdom's static folder, once, so the page renders
  without internet;
- ``pynet-cvae board serve``: run a Visdom server on 127.0.0.1 until Ctrl-C;
- ``pynet-cvae board replay LOG``: send a run's replay log to a running server;
- ``pynet-cvae board check``: tell whether the assets are installed and a
  server answers.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import sys
from typing import Any, Tuple

from .types import port

DEFAULT_PORT = 8097
REPLAY_LOG_NAME = "board.jsonl"
"""The replay log of ``pynet-cvae train --board``, in ``--output``."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``board`` command and its actions."""
    board = subparsers.add_parser(
        "board", help="install the Visdom page's assets, serve, replay a run",
        description="Manage the Visdom board: its offline assets, a local server, "
                    "and replays of recorded runs.")
    actions = board.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_install_assets(actions)
    _add_serve(actions)
    _add_replay(actions)
    _add_check(actions)


def add_training_board_options(parser: argparse.ArgumentParser) -> None:
    """Add the board options of ``pynet-cvae train`` to its parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``train`` parser.
    """
    parser.add_argument("--board", action="store_true",
                        help="show the curves, reconstructions, samples and settings "
                             f"on a Visdom board (and record them in "
                             f"--output/{REPLAY_LOG_NAME})")
    parser.add_argument("--env", default="cvae", help="the Visdom environment")
    _add_server_options(parser)


def training_board(arguments: argparse.Namespace, image_shape: Tuple[int, int]) -> Any:
    """Create the board of ``pynet-cvae train --board``, showing its settings.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed ``train`` arguments.
    image_shape : tuple of int
        ``(height, width)`` of an image, to show the reconstructions.

    Returns
    -------
    Board
        Recording to ``<output>/board.jsonl`` (started afresh unless
        ``--resume``); closed at interpreter exit at the latest.
    """
    from ..plotting import Board
    from ..plotting.values import images_from_flat

    replay_log = os.path.join(arguments.output, REPLAY_LOG_NAME)
    os.makedirs(arguments.output, exist_ok=True)
    if not getattr(arguments, "resume", False) and os.path.exists(replay_log):
        os.remove(replay_log)
    board = Board(port=arguments.port, host=arguments.host, env=arguments.env,
                  display_pred=True,
                  prepare_pred=functools.partial(images_from_flat, image_shape=image_shape),
                  replay_log=replay_log, allow_remote=arguments.allow_remote,
                  login=arguments.login)
    atexit.register(board.close)
    board.show_config({name: value for name, value in sorted(vars(arguments).items())
                       if not callable(value)})
    if board.server is not None and not getattr(arguments, "quiet", False):
        print(f"Visdom board: http://localhost:{arguments.port}/env/{arguments.env} "
              "(this run started the server, which stops with it: run `pynet-cvae "
              f"board serve` first to keep it; {replay_log} replays the run)",
              file=sys.stderr)
    return board


def _add_server_options(parser: argparse.ArgumentParser, host: bool = True) -> None:
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help="the Visdom port")
    if host:
        parser.add_argument("--host", default="http://localhost",
                            help="the Visdom server URL (default: this machine)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a server that is not on this machine" if host else
                        "listen on every network interface (needs --login)")
    parser.add_argument("--login", action="store_true",
                        help="use Visdom's login, with the credentials of the "
                             "VISDOM_USERNAME and VISDOM_PASSWORD environment variables")


def _add_install_assets(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "install-assets", help="install the page's JavaScript and CSS (needs npm)",
        description="Fetch the Visdom page's JavaScript and CSS with `npm pack` "
                    "(pinned versions) into Visdom's static folder. Run it once, "
                    "while the npm registry is reachable; the page then renders "
                    "offline.")
    parser.add_argument("--static-dir", default=None,
                        help="install there instead of Visdom's static folder")
    parser.add_argument("--mathjax", action="store_true",
                        help="also install MathJax (LaTeX in text windows)")
    parser.add_argument("--force", action="store_true",
                        help="fetch and write again even when complete")
    parser.set_defaults(run=run_install_assets)


def _add_serve(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "serve", help="run a Visdom server until Ctrl-C",
        description="Run a Visdom server on 127.0.0.1 (every interface only with "
                    "--allow-remote --login) until Ctrl-C.")
    _add_server_options(parser, host=False)
    parser.add_argument("--env-path", default=None,
                        help="where the server keeps its environments "
                             "(default: ~/.visdom)")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    parser.set_defaults(run=run_serve)


def _add_replay(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "replay", help="send a run's replay log to a running server",
        description="Send the updates recorded in a replay log (e.g. "
                    "<output>/board.jsonl of `pynet-cvae train --board`) to a "
                    "running Visdom server, for a run that was offline or crashed.")
    parser.add_argument("log", help="the replay log")
    _add_server_options(parser)
    parser.add_argument("--env", default=None,
                        help="the environment to show it in (default: the logged one)")
    parser.set_defaults(run=run_replay)


def _add_check(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "check", help="tell whether the assets are installed and a server answers")
    _add_server_options(parser)
    parser.set_defaults(run=run_check)


def run_install_assets(arguments: argparse.Namespace) -> int:
    """Install the assets; print what was done."""
    from ..plotting.assets import install_assets, visdom_static_dir

    written = install_assets(arguments.static_dir, include_mathjax=arguments.mathjax,
                             force=arguments.force)
    where = arguments.static_dir or visdom_static_dir()
    if written:
        print(f"Installed {len(written)} files of Visdom's page in {where}")
    else:
        print(f"Visdom's page files are already installed in {where}")
    return 0


def run_serve(arguments: argparse.Namespace) -> int:
    """Start a server and wait until Ctrl-C or until it exits."""
    from ..plotting.assets import missing_assets
    from ..plotting.server import start_server

    if missing_assets():
        print("warning: Visdom's page files are not installed, the page will stay "
              "blank: run `pynet-cvae board install-assets` (once, with access to "
              "the npm registry)", file=sys.stderr)
    server = None
    try:
        server = start_server(arguments.port, env_path=arguments.env_path,
                              login=arguments.login, listen_all=arguments.allow_remote)
        if not arguments.quiet:
            print(f"Visdom server on http://localhost:{arguments.port} (Ctrl-C to stop)",
                  flush=True)
        code = server.process.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        if server is not None:
            server.stop()
    if code and server is not None:
        print(f"pynet-cvae: error: the Visdom server exited with code {code}:\n"
              f"{server.output_tail()}", file=sys.stderr)
    return 1 if code else 0


def run_replay(arguments: argparse.Namespace) -> int:
    """Replay a log into a running server."""
    from ..plotting.probe import server_url
    from ..plotting.replay import replay_log

    try:
        count = replay_log(arguments.log, port=arguments.port, host=arguments.host,
                           env=arguments.env, allow_remote=arguments.allow_remote,
                           login=arguments.login)
    except ConnectionError as error:
        print(f"pynet-cvae: error: {error}", file=sys.stderr)
        return 1
    print(f"Replayed {count} updates of {arguments.log} into "
          f"{server_url(arguments.host, arguments.port)}")
    return 0


def run_check(arguments: argparse.Namespace) -> int:
    """Print the state of the assets and of the server; 0 when both are ready."""
    from ..plotting.assets import missing_assets, visdom_static_dir
    from ..plotting.probe import (credentials_from_environment, is_visdom_server,
                                  server_url)

    missing = missing_assets()
    print(f"page files in {visdom_static_dir()}: "
          + ("complete" if not missing else f"missing {', '.join(missing)}"))
    credentials: Any = credentials_from_environment() if arguments.login else None
    answers = is_visdom_server(arguments.host, arguments.port, credentials=credentials)
    print(f"Visdom server at {server_url(arguments.host, arguments.port)}: "
          + ("answers" if answers else "does not answer"))
    return 0 if answers and not missing else 1
