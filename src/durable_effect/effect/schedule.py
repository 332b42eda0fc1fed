"""Schedules: when to try again, and when to stop.

A `Schedule[Out, In]` is a pure recipe. Each time the effect it drives ends
(with a failure for `retry`, a value for `repeat`), the schedule is stepped
with the current time of the `Clock` in scope and that input; it answers with
an output and either the delay before the next run or "done". Nothing in a
schedule sleeps or reads the time itself, so a `TestClock` drives retries
without real waiting, and a `Random` in scope makes `jittered` reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Generic, TypeAlias, overload

from typing_extensions import TypeVar

from durable_effect.effect.duration import Duration, DurationInput

Out = TypeVar("Out", covariant=True)
In = TypeVar("In", contravariant=True, default=object)
Out2 = TypeVar("Out2")
In2 = TypeVar("In2")
B = TypeVar("B")

__all__ = ["Schedule"]

# step(now_ms, input, state, random) -> (next state, output, delay in ms or None when done)
_Rnd: TypeAlias = Callable[[], float]
_Stepped: TypeAlias = tuple[Any, Any, float | None]
_Step: TypeAlias = Callable[[float, Any, Any, _Rnd], _Stepped]


class Schedule(Generic[Out, In]):
    """A recipe of recurrences: outputs `Out`, reads inputs `In`.

    Build one with the constructors (`Schedule.recurs(3)`,
    `Schedule.exponential("100 millis")`, ...) and combine them with the
    methods (`.intersect`, `.union`, `.up_to`, `.jittered`, `.while_input`,
    ...). Immutable: each method returns a new schedule.
    """

    __slots__ = ("_initial", "_step")

    def __init__(self, initial: object, step: _Step) -> None:
        self._initial = initial
        self._step = step

    # -- constructors ---------------------------------------------------------------

    @staticmethod
    def forever() -> Schedule[int]:
        """Recur at once, for ever; outputs the number of recurrences so far."""
        return Schedule(0, _count_step(lambda _n: 0.0, None))

    @staticmethod
    def recurs(times: int) -> Schedule[int]:
        """Recur at once, `times` times; outputs the number of recurrences so far."""
        if times < 0:
            raise ValueError(f"recurs needs a count of at least 0, got {times}")
        return Schedule(0, _count_step(lambda _n: 0.0, times))

    @staticmethod
    def spaced(duration: DurationInput) -> Schedule[int]:
        """Recur for ever, `duration` apart; outputs the number of recurrences so far."""
        millis = Duration.decode(duration).millis
        return Schedule(0, _count_step(lambda _n: millis, None))

    @staticmethod
    def exponential(base: DurationInput, factor: float = 2.0) -> Schedule[Duration]:
        """Recur for ever, waiting `base`, `base * factor`, `base * factor**2`, ...;
        outputs each delay."""
        millis = Duration.decode(base).millis
        if not factor >= 1.0:
            raise ValueError(f"exponential needs a factor of at least 1, got {factor}")

        def step(_now: float, _inp: object, n: int, _rnd: Callable[[], float]) -> tuple[int, Duration, float]:
            delay = millis * factor**n if n < 1024 else math.inf
            return n + 1, Duration(delay), delay

        return Schedule(0, step)

    @staticmethod
    def fibonacci(one: DurationInput) -> Schedule[Duration]:
        """Recur for ever, waiting `one`, `one`, `2 * one`, `3 * one`, `5 * one`, ...;
        outputs each delay."""
        millis = Duration.decode(one).millis

        def step(
            _now: float, _inp: object, state: tuple[float, float], _rnd: Callable[[], float]
        ) -> tuple[tuple[float, float], Duration, float]:
            a, b = state
            return (b, a + b), Duration(a), a

        return Schedule((millis, millis), step)

    @staticmethod
    def elapsed() -> Schedule[Duration]:
        """Recur at once, for ever; outputs the time since the first step."""

        def step(
            now: float, _inp: object, start: float | None, _rnd: Callable[[], float]
        ) -> tuple[float, Duration, float]:
            first = now if start is None else start
            return first, Duration(max(0.0, now - first)), 0.0

        return Schedule(None, step)

    # -- combinators ------------------------------------------------------------------

    @overload
    def intersect(self: Schedule[Out, object], that: Schedule[Out2, In2]) -> Schedule[tuple[Out, Out2], In2]: ...
    @overload
    def intersect(self: Schedule[Out, In2], that: Schedule[Out2, In2]) -> Schedule[tuple[Out, Out2], In2]: ...
    def intersect(self, that: Schedule[Any, Any]) -> Schedule[Any, Any]:
        """Recur while both recur, after the longer of the two delays."""
        s1, s2 = self._step, that._step

        def step(now: float, inp: Any, state: tuple[Any, Any], rnd: _Rnd) -> _Stepped:
            st1, o1, d1 = s1(now, inp, state[0], rnd)
            st2, o2, d2 = s2(now, inp, state[1], rnd)
            delay = None if d1 is None or d2 is None else max(d1, d2)
            return (st1, st2), (o1, o2), delay

        return Schedule((self._initial, that._initial), step)

    @overload
    def union(self: Schedule[Out, object], that: Schedule[Out2, In2]) -> Schedule[tuple[Out, Out2], In2]: ...
    @overload
    def union(self: Schedule[Out, In2], that: Schedule[Out2, In2]) -> Schedule[tuple[Out, Out2], In2]: ...
    def union(self, that: Schedule[Any, Any]) -> Schedule[Any, Any]:
        """Recur while either recurs, after the shorter of the delays of those
        that still recur. A side that is done keeps its last output."""
        s1, s2 = self._step, that._step

        def side(
            s: _Step, now: float, inp: Any, st: tuple[bool, Any, Any], rnd: Callable[[], float]
        ) -> tuple[tuple[bool, Any, Any], float | None]:
            done, state, out = st
            if done:
                return st, None
            state, out, delay = s(now, inp, state, rnd)
            return (delay is None, state, out), delay

        def step(now: float, inp: Any, state: tuple[Any, Any], rnd: _Rnd) -> _Stepped:
            st1, d1 = side(s1, now, inp, state[0], rnd)
            st2, d2 = side(s2, now, inp, state[1], rnd)
            delays = [d for d in (d1, d2) if d is not None]
            return (st1, st2), (st1[2], st2[2]), min(delays) if delays else None

        return Schedule(((False, self._initial, None), (False, that._initial, None)), step)

    @overload
    def and_then(self: Schedule[Out, object], that: Schedule[Out2, In2]) -> Schedule[Out | Out2, In2]: ...
    @overload
    def and_then(self: Schedule[Out, In2], that: Schedule[Out2, In2]) -> Schedule[Out | Out2, In2]: ...
    def and_then(self, that: Schedule[Any, Any]) -> Schedule[Any, Any]:
        """Recur as this schedule does, then, once it is done, as `that` does."""
        s1, s2 = self._step, that._step

        def step(now: float, inp: Any, state: tuple[bool, Any], rnd: _Rnd) -> _Stepped:
            second, st = state
            if not second:
                st, out, delay = s1(now, inp, st, rnd)
                if delay is not None:
                    return (False, st), out, delay
                st = that._initial
            st, out, delay = s2(now, inp, st, rnd)
            return (True, st), out, delay

        return Schedule((False, self._initial), step)

    def map(self, f: Callable[[Out], B]) -> Schedule[B, In]:
        """Transform each output."""
        s = self._step

        def step(now: float, inp: Any, state: Any, rnd: _Rnd) -> _Stepped:
            st, out, delay = s(now, inp, state, rnd)
            return st, f(out), delay

        return Schedule(self._initial, step)

    def while_input(self, predicate: Callable[[In2], bool]) -> Schedule[Out, In2]:
        """Stop as soon as an input fails `predicate` (for `retry`: an error)."""
        return self._check(lambda inp, _out: predicate(inp))

    def until_input(self, predicate: Callable[[In2], bool]) -> Schedule[Out, In2]:
        """Stop as soon as an input passes `predicate`."""
        return self._check(lambda inp, _out: not predicate(inp))

    def while_output(self, predicate: Callable[[Out], bool]) -> Schedule[Out, In]:
        """Stop as soon as an output fails `predicate`."""
        return self._check(lambda _inp, out: predicate(out))

    def until_output(self, predicate: Callable[[Out], bool]) -> Schedule[Out, In]:
        """Stop as soon as an output passes `predicate`."""
        return self._check(lambda _inp, out: not predicate(out))

    def up_to(self, duration: DurationInput) -> Schedule[Out, In]:
        """Stop once more than `duration` has passed since the first step."""
        limit = Duration.decode(duration).millis
        return self.intersect(Schedule.elapsed().while_output(lambda d: d.millis <= limit)).map(_first)

    def jittered(self, min: float = 0.8, max: float = 1.2) -> Schedule[Out, In]:
        """Multiply each delay by a random factor between `min` and `max`, drawn
        from the `Random` service in scope."""
        if not 0 <= min <= max:
            raise ValueError(f"jittered needs 0 <= min <= max, got {min}, {max}")
        s = self._step

        def step(now: float, inp: Any, state: Any, rnd: _Rnd) -> _Stepped:
            st, out, delay = s(now, inp, state, rnd)
            if delay is None:
                return st, out, None
            return st, out, delay * (min + (max - min) * rnd())

        return Schedule(self._initial, step)

    def delays(self, now: float = 0.0, *, inputs: int = 10, random: Callable[[], float] = lambda: 0.5) -> list[float]:
        """The first delays (in milliseconds) the schedule gives, stepped with
        `None` inputs as if each run took no time: for reading a schedule."""
        out: list[float] = []
        state = self._initial
        for _ in range(inputs):
            state, _o, delay = self._step(now, None, state, random)
            if delay is None:
                break
            out.append(delay)
            now += delay
        return out

    def _check(self, keep: Callable[[Any, Any], bool]) -> Schedule[Any, Any]:
        s = self._step

        def step(now: float, inp: Any, state: Any, rnd: _Rnd) -> _Stepped:
            st, out, delay = s(now, inp, state, rnd)
            return st, out, delay if delay is not None and keep(inp, out) else None

        return Schedule(self._initial, step)

    def __repr__(self) -> str:
        return "Schedule(...)"


def _first(pair: tuple[B, object]) -> B:
    return pair[0]


def _count_step(delay: Callable[[int], float], limit: int | None) -> _Step:
    def step(_now: float, _inp: object, n: int, _rnd: Callable[[], float]) -> tuple[int, int, float | None]:
        if limit is not None and n >= limit:
            return n, n, None
        return n + 1, n, delay(n)

    return step

