"""`Duration`: what users may write for a span of time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_effect.effect import Duration


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("30 seconds", 30_000.0),
        ("5 minutes", 300_000.0),
        ("100 millis", 100.0),
        ("1 second", 1_000.0),
        ("1 minute", 60_000.0),
        ("2 hours", 7_200_000.0),
        ("1 day", 86_400_000.0),
        ("1 week", 604_800_000.0),
        ("1.5 seconds", 1_500.0),
        ("250ms", 250.0),
        ("10 s", 10_000.0),
        ("  3 Minutes ", 180_000.0),
        ("500 micros", 0.5),
        ("0 seconds", 0.0),
    ],
)
def test_decode_reads_a_number_and_a_unit(text: str, millis: float) -> None:
    assert Duration.decode(text).millis == pytest.approx(millis)


def test_decode_reads_a_timedelta() -> None:
    assert Duration.decode(timedelta(minutes=2, milliseconds=5)).millis == 120_005.0


def test_decode_reads_numbers_as_milliseconds() -> None:
    assert Duration.decode(250).millis == 250.0
    assert Duration.decode(0.5).millis == 0.5


def test_decode_passes_a_duration_through() -> None:
    d = Duration(10.0)

    assert Duration.decode(d) is d


@pytest.mark.parametrize(
    "bad",
    ["soon", "", "5", "seconds", "5 fortnights", "-5 seconds", "5 seconds ago", "1,5 seconds"],
)
def test_decode_rejects_invalid_strings(bad: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        Duration.decode(bad)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), timedelta(seconds=-1)])
def test_negative_or_nan_durations_are_rejected(bad: float | timedelta) -> None:
    with pytest.raises(ValueError, match="negative or NaN"):
        Duration.decode(bad)


def test_a_duration_cannot_be_built_negative() -> None:
    with pytest.raises(ValueError):
        Duration(-1.0)


def test_booleans_are_not_durations() -> None:
    with pytest.raises(ValueError):
        Duration.decode(True)


def test_constructors_conversions_and_arithmetic() -> None:
    assert Duration.seconds(2) == Duration(2_000.0)
    assert Duration.minutes(1.5) == Duration.decode("90 seconds")
    assert Duration.decode("1500 millis").to_seconds() == 1.5
    assert Duration.decode("2 minutes").to_timedelta() == timedelta(minutes=2)
    assert Duration.seconds(1) + Duration(500.0) == Duration(1_500.0)


def test_durations_are_ordered() -> None:
    assert Duration.decode("1 second") < Duration.decode("1 minute")
    assert Duration.decode("1 minute") >= Duration.decode("60 seconds")
    assert max(Duration(1.0), Duration(3.0), Duration(2.0)) == Duration(3.0)
    assert sorted([Duration(3.0), Duration(1.0)]) == [Duration(1.0), Duration(3.0)]


def test_repr_shows_milliseconds() -> None:
    assert repr(Duration.decode("1.5 seconds")) == "Duration(1500 ms)"
