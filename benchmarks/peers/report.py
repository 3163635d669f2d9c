"""Summaries and the printed table of the peer benchmark."""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional


def summarize(name: str, result: Dict[str, Any], reference: Optional[Dict[str, Any]],
              floor: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """One contender's row: median samples/s, spread, ratios and memory.

    Parameters
    ----------
    name : str
        The contender.
    result : dict
        ``samples_per_epoch``, ``epoch_seconds`` (the measured rounds, warm-up
        excluded), ``peak_rss_mib``, ``ready_rss_mib``, ``peak_cuda_mib``, ``threads``.
    reference : dict, optional
        The reference contender's row (None when it did not run).
    floor : dict, optional
        The floor measurement.
    """
    rates = [result["samples_per_epoch"] / seconds for seconds in result["epoch_seconds"]]
    median = statistics.median(rates)
    row = {"name": name, "samples_per_s": median, "min": min(rates), "max": max(rates),
           "rates": rates, **{key: result.get(key) for key in (
               "samples_per_epoch", "peak_rss_mib", "ready_rss_mib", "peak_cuda_mib",
               "threads")}}
    row["vs_reference"] = median / reference["samples_per_s"] if reference else None
    row["floor_fraction"] = median / floor["floor_samples_per_s"] if floor else None
    return row


def _number(value: Optional[float], digits: int = 0, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def format_table(rows: List[Dict[str, Any]], failures: Dict[str, str],
                 reference: str, cuda: bool) -> str:
    """The table: one line per contender, failures last."""
    header = ["contender", "samples/s", "min-max", f"vs {reference}", "of floor",
              "peak RSS MiB", "RSS ready MiB", "samples/epoch", "threads"]
    if cuda:
        header.insert(7, "peak CUDA MiB")
    lines = [header]
    for row in rows:
        cells = [row["name"], _number(row["samples_per_s"]),
                 f"{row['min']:,.0f}-{row['max']:,.0f}",
                 _number(row["vs_reference"], 2, "x"),
                 _number(None if row["floor_fraction"] is None
                         else 100 * row["floor_fraction"], 1, "%"),
                 _number(row["peak_rss_mib"]), _number(row["ready_rss_mib"]),
                 _number(row["samples_per_epoch"]), str(row["threads"])]
        if cuda:
            cells.insert(7, _number(row["peak_cuda_mib"]))
        lines.append(cells)
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    text = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                      for column, (cell, width) in enumerate(zip(line, widths)))
            for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    for name, reason in failures.items():
        text.append(f"{name}: FAILED ({reason})")
    return "\n".join(text)


def format_floor(floor: Dict[str, Any]) -> str:
    """The arithmetic floor in three lines."""
    return (f"model: {floor['forward_macs']:,} multiply-adds per sample forward; "
            f"{floor['training_macs']:,} per training sample (forward + backward as "
            f"autograd runs it; 3 x forward = {floor['convention_macs']:,})\n"
            f"matmul rate: {floor['gflops']:.1f} GFLOP/s (torch.mm on the step's "
            f"{len(floor['shapes'])} shapes, {min(s['gflops'] for s in floor['shapes']):.1f}"
            f"-{max(s['gflops'] for s in floor['shapes']):.1f} GFLOP/s per shape)\n"
            f"arithmetic floor: {floor['floor_samples_per_s']:,.0f} samples/s")
