"""What a user reads about an epoch: its name, 1-based, and its values within 100 columns.

Files and the Python API count epochs from 0, as pynet does (``model_0_epoch_0.pth``,
``History`` steps ``(fold, epoch)``); what ``pynet-cvae train`` shows counts them from
1 and names them: ``fold 0, epoch 3/20`` in the progress bar and the per-epoch lines::

    fold 0, epoch 3/20, train:      loss=52.95 reconstruction=31.13 kl=1.157
                                    cross_entropy=1.835 VAELoss=32.29
    fold 0, epoch 3/20, validation: loss=46.33 reconstruction=29.13 kl=1.07
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

__all__ = ["LINE_WIDTH", "epoch_label", "epoch_lines", "wrapped"]

#: The width the per-epoch lines fit in.
LINE_WIDTH = 100

#: The longest split name, to which the others are padded so that values line up.
_SPLIT_WIDTH = len("validation")


def epoch_label(fold: int, epoch: int, nb_epochs: Optional[int] = None) -> str:
    """``fold 0, epoch 3/20``: the 0-based ``epoch`` shown 1-based, out of ``nb_epochs``.

    Parameters
    ----------
    fold : int
        The fold.
    epoch : int
        The epoch, from 0.
    nb_epochs : int, optional
        The number of epochs of the run.

    Returns
    -------
    str
    """
    total = "" if nb_epochs is None else f"/{nb_epochs}"
    return f"fold {fold}, epoch {epoch + 1}{total}"


def epoch_lines(split: str, values: Mapping[str, float], fold: int, epoch: int,
                nb_epochs: Optional[int] = None, width: int = LINE_WIDTH) -> str:
    """The values of a split at the end of an epoch, wrapped to ``width`` columns.

    Parameters
    ----------
    split : str
        ``"train"`` or ``"validation"``.
    values : mapping
        Metric name -> value (shown with 4 significant digits).
    fold, epoch, nb_epochs
        As :func:`epoch_label`.
    width : int, default 100
        The columns each line fits in (a single value longer than a line has its own).

    Returns
    -------
    str
        One line or more; the continuation lines are indented under the first value.
    """
    head = f"{epoch_label(fold, epoch, nb_epochs)}, {split + ':':<{_SPLIT_WIDTH + 1}} "
    return wrapped(head, [f"{name}={value:.4g}" for name, value in values.items()], width)


def wrapped(head: str, items: Sequence[str], width: int = LINE_WIDTH,
            separator: str = " ") -> str:
    """``head`` then ``items`` joined by ``separator``, wrapped to ``width`` columns.

    Parameters
    ----------
    head : str
        The start of the first line; the continuation lines are indented as long.
    items : sequence of str
        Items never cut across lines (one longer than a line has its own).
    width : int, default 100
        The columns each line fits in.
    separator : str, default " "
        Between items; at a line's end, without its trailing spaces.

    Returns
    -------
    str
        One line or more.
    """
    lines: List[str] = []
    current, empty = head, True
    for item in items:
        if not empty and len(current) + len(separator) + len(item) > width:
            lines.append(current + separator.rstrip())
            current, empty = " " * len(head), True
        current, empty = current + ("" if empty else separator) + item, False
    lines.append(current)
    return "\n".join(line.rstrip() for line in lines)
