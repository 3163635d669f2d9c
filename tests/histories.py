"""Saved histories compared across runs."""


def without_times(history):
    """A saved history (its JSON dict) without its wall-clock times, which no two runs
    share: what "the same histories" compares."""
    return {key: value for key, value in history.items() if key != "times"}
