"""Visdom: the :class:`~pynet_cvae.plotting.Board` behind the logger interface.

Each epoch reaches the board exactly as through
:func:`~pynet_cvae.plotting.update_board` (one window per metric with its training
and validation traces per fold, the learning rate, and the validation predictions
when the board has ``display_pred``), without setting ``interface.board``. Images
go to a window named after them (the sampling grid to ``sampling``, as the
tutorial's observer draws it), per-step scalars to a line plot ``<name> per
step``, texts to a text window and the hyper-parameters to the board's
configuration table.
"""

from __future__ import annotations

import html
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ..plotting import Board
from .base import Logger, is_main_process
from .params import Params


class VisdomLogger(Logger):
    """Send a run to a Visdom board.

    Parameters
    ----------
    board : Board
        The board; its ``display_pred`` and ``prepare_pred`` decide whether and how
        the validation predictions are shown. :meth:`close` closes it.
    hyperparameters : mapping, optional
        The run's configuration, shown as the board's configuration table (see
        :class:`Logger`).

    Examples
    --------
    ::

        from pynet_cvae.loggers import VisdomLogger
        from pynet_cvae.plotting import Board

        interface.add_logger(VisdomLogger(Board(env="cvae")))
    """

    def __init__(self, board: Board, hyperparameters: Optional[Mapping[str, Any]] = None
                 ) -> None:
        super().__init__(hyperparameters=hyperparameters)
        if not hasattr(board, "update_plots") or not hasattr(board, "viewer"):
            raise TypeError(f"expected a pynet_cvae.plotting.Board, got {board!r}")
        self.board = board
        self._step_windows: set = set()

    # ------------------------------------------------------------------ backend
    def _log_epoch(self, values: Dict[str, Any], epoch: int, fold: int) -> None:
        self.board.update_plots(values, epoch, fold)

    def _write_scalars(self, scalars: Dict[str, float], step: int, axis: str,
                       fold: int) -> None:
        for name, value in scalars.items():
            if axis == "epoch":
                self.board.add_point(name, step, value, fold)
            else:
                self._add_step_point(name, step, value, fold)

    def _add_step_point(self, name: str, step: int, value: float, fold: int) -> None:
        window = f"{name} per step"
        trace = f"{name}, fold {fold}"
        first = window not in self._step_windows
        self._step_windows.add(window)
        self.board.viewer.line(
            X=np.array([step]), Y=np.array([value]), win=window, env=self.board.env,
            name=html.escape(trace, quote=False), update=None if first else "append",
            opts={"title": html.escape(window, quote=False), "xlabel": "step",
                  "ylabel": html.escape(name, quote=False), "showlegend": True})

    def _write_images(self, name: str, images: np.ndarray, step: int, fold: int) -> None:
        self.board.viewer.images(
            images * 255.0, win=name, env=self.board.env,
            opts={"title": html.escape(f"{name} (epoch {step})", quote=False),
                  "caption": html.escape(f"fold {fold}, epoch {step}", quote=False)})

    def _write_text(self, name: str, text: str, step: int, fold: int) -> None:
        self.board.viewer.text(html.escape(text).replace("\n", "<br>"), win=name,
                               env=self.board.env,
                               opts={"title": html.escape(name, quote=False)})

    def _write_hyperparameters(self, params: Params, fold: int) -> None:
        self.board.show_config(params)

    def flush(self) -> None:
        """Wait until the board has sent every update (it sends in the background,
        so that a slow server never slows the training down)."""
        if is_main_process():
            self.board.flush()

    def _close(self) -> None:
        self.board.close()

    def __repr__(self) -> str:
        return f"VisdomLogger({self.board!r})"
