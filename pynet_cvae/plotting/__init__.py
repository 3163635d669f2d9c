"""Follow a training on a Visdom board.

:class:`Board` draws one line plot per value and the validation predictions;
:func:`update_board` is the ``after_epoch`` observer that feeds it. The helpers
of :mod:`pynet_cvae.plotting.server` find, start and stop a local Visdom server.
"""

from pynet_cvae.plotting.board import Board, update_board
from pynet_cvae.plotting.server import (
    VisdomServer,
    VisdomServerError,
    is_visdom_server,
    start_server,
)

__all__ = [
    "Board",
    "update_board",
    "VisdomServer",
    "VisdomServerError",
    "is_visdom_server",
    "start_server",
]
