"""Follow a training on a Visdom board.

:class:`Board` draws the training and validation curves, the learning rate, the
validation predictions and the run's configuration; :func:`update_board` is the
``after_epoch`` observer that feeds ``interface.board``, and
``BoardObserver(board)`` the explicit one. :mod:`pynet_cvae.plotting.server`
finds, starts and stops a local Visdom server, :mod:`pynet_cvae.plotting.assets`
installs the page's JavaScript for offline use, and
:mod:`pynet_cvae.plotting.replay` replays a run's log into a server.
:func:`plot_history` and :func:`plot_data` (:mod:`pynet_cvae.plotting.figures`) draw
pynet's matplotlib figures; matplotlib is imported when they are first called.
"""

from pynet_cvae.plotting.assets import AssetsError, install_assets, missing_assets
from pynet_cvae.plotting.board import Board, BoardObserver, update_board
from pynet_cvae.plotting.client import BoardClient, VisdomLoginError
from pynet_cvae.plotting.figures import plot_data, plot_history
from pynet_cvae.plotting.probe import is_visdom_server
from pynet_cvae.plotting.replay import read_replay_log, replay_log
from pynet_cvae.plotting.server import VisdomServer, VisdomServerError, start_server

__all__ = [
    "AssetsError",
    "Board",
    "BoardObserver",
    "BoardClient",
    "VisdomLoginError",
    "VisdomServer",
    "VisdomServerError",
    "install_assets",
    "is_visdom_server",
    "missing_assets",
    "plot_data",
    "plot_history",
    "read_replay_log",
    "replay_log",
    "start_server",
    "update_board",
]
