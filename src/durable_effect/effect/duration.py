"""Durations: `"30 seconds"`, `"5 minutes"`, `timedelta`, or a number of milliseconds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import total_ordering
from typing import TypeAlias

__all__ = ["Duration", "DurationInput"]

_UNITS_MS: dict[str, float] = {
    "nano": 1e-6,
    "nanos": 1e-6,
    "micro": 1e-3,
    "micros": 1e-3,
    "milli": 1.0,
    "millis": 1.0,
    "ms": 1.0,
    "second": 1_000.0,
    "seconds": 1_000.0,
    "s": 1_000.0,
    "minute": 60_000.0,
    "minutes": 60_000.0,
    "hour": 3_600_000.0,
    "hours": 3_600_000.0,
    "day": 86_400_000.0,
    "days": 86_400_000.0,
    "week": 604_800_000.0,
    "weeks": 604_800_000.0,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


@total_ordering
@dataclass(frozen=True, slots=True)
class Duration:
    """A non-negative span of time, stored in milliseconds."""

    millis: float

    def __post_init__(self) -> None:
        if not self.millis >= 0:
            raise ValueError(f"a duration cannot be negative or NaN: {self.millis!r} ms")

    @staticmethod
    def decode(value: DurationInput) -> Duration:
        """Read a duration from any accepted input; raises `ValueError` on a bad one."""
        if isinstance(value, Duration):
            return value
        if isinstance(value, timedelta):
            return Duration(value.total_seconds() * 1_000.0)
        if isinstance(value, bool):
            raise ValueError(f"not a duration: {value!r}")
        if isinstance(value, int | float):
            return Duration(float(value))
        if isinstance(value, str):
            match = _PATTERN.match(value.lower())
            if match is None or match.group(2) not in _UNITS_MS:
                raise ValueError(f'not a duration: {value!r} (try "30 seconds" or "5 minutes")')
            return Duration(float(match.group(1)) * _UNITS_MS[match.group(2)])
        raise ValueError(f"not a duration: {value!r}")

    @staticmethod
    def seconds(n: float) -> Duration:
        return Duration(n * 1_000.0)

    @staticmethod
    def minutes(n: float) -> Duration:
        return Duration(n * 60_000.0)

    def to_seconds(self) -> float:
        return self.millis / 1_000.0

    def to_timedelta(self) -> timedelta:
        return timedelta(milliseconds=self.millis)

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.millis + other.millis)

    def __lt__(self, other: Duration) -> bool:
        return self.millis < other.millis

    def __repr__(self) -> str:
        return f"Duration({self.millis:g} ms)"


DurationInput: TypeAlias = Duration | timedelta | int | float | str
