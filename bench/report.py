"""What every benchmark prints: the machine, times, verdicts and markdown tables."""

from __future__ import annotations

import os
import platform

__all__ = ["fmt_time", "machine", "table", "verdict"]


def fmt_time(seconds: float, unit: str) -> str:
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs/{unit}"
    return f"{seconds * 1e9:.0f} ns/{unit}"


def machine() -> list[str]:
    return [
        f"platform: {platform.platform()} ({platform.machine()})",
        f"python: {platform.python_implementation()} {platform.python_version()}",
        f"cpus: {os.cpu_count()}",
    ]


def verdict(ratio: float, goal: float) -> str:
    return "met" if ratio <= goal else f"missed by {ratio / goal - 1:.1%}"


def table(header: tuple[str, ...], cells: list[tuple[str, ...]]) -> list[str]:
    """A markdown table with padded columns."""
    rows = [header, *cells]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines
