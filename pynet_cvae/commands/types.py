"""Argument types shared by the commands: each names the bad value it refuses.

argparse prefixes the message with the option (``argument --seed: expected an
integer in [0, 4294967295], got -1``). Each type is also a plain function that
raises :class:`argparse.ArgumentTypeError` (a ``ValueError``'s sibling), so a
configuration read from a file can be checked with the same rules.
"""

import argparse
import math

#: The largest seed: NumPy's legacy ``np.random.seed`` takes 32-bit seeds.
MAX_SEED = 2 ** 32 - 1


def _number(text: str) -> float:
    """``text`` as a finite float (``inf`` and ``nan`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None

#: The largest seed: NumPy's legacy ``np.random.seed`` takes 32-bit seeds.
MAX_SEED = 2 ** 32 - 1


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def seed(text: str) -> int:
    """An argparse type: a random seed, an integer in [0, :data:`MAX_SEED`]."""
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, {MAX_SEED}], got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def fraction(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


def decay(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def port(text: str) -> int:
    """An argparse type: a TCP port, an integer in [1, 65535]."""
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in [1, 65535], got {text}")
    return value
