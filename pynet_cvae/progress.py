"""The progress bar of an epoch: it watches the loop, it never touches the data.

:func:`progress_bar` yields the items of an iterable while a tqdm bar counts them. The
bar is given the number of items (``len``), never the iterable: tqdm's wrappers may call
``iter()`` on what they wrap, and a loader that starts a worker pool per iteration, or
any iterable with state, must be iterated exactly once by the loop itself. Showing the
bar or not therefore changes nothing in the training.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress_bar"]

Item = TypeVar("Item")


def progress_bar(iterable: Iterable[Item], description: str,
                 enabled: Optional[bool] = None) -> Iterator[Item]:
    """Yield the items of ``iterable`` (``iter()`` is called once), counting them on a bar.

    Parameters
    ----------
    iterable : iterable
        What the loop runs over, e.g. a loader; its ``len()`` is the bar's total when
        it has one.
    description : str
        The text in front of the bar.
    enabled : bool, optional
        True: always show the bar; False: never (nothing of tqdm runs); None: only when
        the output (standard error) is a terminal.

    Yields
    ------
    object
        The items of ``iterable``, in order.
    """
    iterator = iter(iterable)
    if enabled is False:
        yield from iterator
        return
    try:
        total: Optional[int] = len(iterable)  # type: ignore[arg-type]
    except TypeError:
        total = None
    bar = tqdm(total=total, desc=description, leave=False, disable=None if enabled is None
               else False)
    try:
        for item in iterator:
            yield item
            bar.update()
    finally:
        bar.close()
