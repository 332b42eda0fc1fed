"""The `Clock` service: current time and sleeping, with a test clock.

`Clock` is a default service: every runtime has a live clock, so `sleep` and
`current_time_millis` need nothing in `R`. Provide `Layer.succeed(Clock,
TestClock())` to control time in tests.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from typing import cast

import anyio

from durable_effect.effect._core import SERVICES, Effect, _Async
from durable_effect.effect.duration import Duration, DurationInput
from durable_effect.effect.exit import Exit, Success
from durable_effect.effect.layer import Service

__all__ = ["Clock", "LiveClock", "TestClock", "current_time_millis", "sleep"]


class Clock(Service):
    """Tells the time and sleeps.

    The methods raise instead of being `@abstractmethod`: mypy rejects an
    abstract class given as `type[S]`, as in `Layer.succeed(Clock, TestClock())`.
    """

    __slots__ = ()

    def now_ms(self) -> float:
        """Milliseconds since the Unix epoch."""
        raise NotImplementedError

    async def sleep(self, millis: float) -> None:
        """Wait `millis` milliseconds of this clock's time."""
        raise NotImplementedError


class LiveClock(Clock):
    """Wall-clock time; sleeps with anyio."""

    __slots__ = ()

    def now_ms(self) -> float:
        return time.time() * 1_000.0

    async def sleep(self, millis: float) -> None:
        await anyio.sleep(millis / 1_000.0)


class TestClock(Clock):
    """A clock that only moves when told to (`adjust`, `set_time`, `wake_until`)."""

    __slots__ = ("_now", "_seq", "_sleepers")
    __test__ = False  # a name starting with "Test" is not a pytest test class

    def __init__(self, start_ms: float = 0.0) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = 0

    def now_ms(self) -> float:
        return self._now

    async def sleep(self, millis: float) -> None:
        if millis <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._seq += 1
        heapq.heappush(self._sleepers, (self._now + millis, self._seq, event))
        await event.wait()

    def set_time(self, now_ms: float) -> None:
        """Move the clock to `now_ms` and wake every sleeper that is due, all at once."""
        self._now = max(self._now, now_ms)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()

    def next_wake(self) -> float | None:
        """The earliest time a sleeper waits for, or None when none sleeps."""
        return self._sleepers[0][0] if self._sleepers else None

    async def wake_next(self, by_ms: float) -> bool:
        """If a sleeper's deadline comes by `by_ms`, move the clock to the earliest
        one and let the sleepers due there run until blocked, then say True; a
        runtime's `advance` calls this before each alarm, so that a handler waiting
        on the clock (a retry's pause) wakes in time order with the alarms."""
        wake = self.next_wake()
        if wake is None or wake > by_ms:
            return False
        await self.wake_until(wake)
        return True

    async def wake_until(self, now_ms: float) -> None:
        """Move the clock to `now_ms` one deadline at a time: the sleepers due at
        each deadline wake with the clock there and run until blocked (sleeping
        again counts) before time moves on, so they wake in order."""
        while self._sleepers and self._sleepers[0][0] <= now_ms:
            self.set_time(self._sleepers[0][0])
            await anyio.wait_all_tasks_blocked()
        self.set_time(now_ms)
        await anyio.wait_all_tasks_blocked()

    def adjust(self, duration: DurationInput) -> Effect[None]:
        """Move time forward one deadline at a time: the sleepers due at each
        deadline wake with the clock at that deadline and run until blocked
        (sleeping again counts) before time moves on, so they wake in order."""
        millis = Duration.decode(duration).millis

        async def run(_: Mapping[type, object]) -> Exit[None, object]:
            await self.wake_until(self._now + millis)
            return Success(None)

        return _Async(run)


def sleep(duration: DurationInput) -> Effect[None]:
    """Wait for `duration` on the `Clock` in scope."""
    millis = Duration.decode(duration).millis

    async def run(services: Mapping[type, object]) -> Exit[None, object]:
        clock = services.get(Clock)
        await (clock.sleep(millis) if isinstance(clock, Clock) else anyio.sleep(millis / 1_000.0))
        return Success(None)

    return _Async(run)


def current_time_millis() -> Effect[float]:
    """The current time of the `Clock` in scope, in epoch milliseconds."""
    return _CURRENT_TIME


def _now(services: Mapping[type, object]) -> float:
    clock = services.get(Clock)
    if clock is None:
        return time.time() * 1_000.0
    # Whatever is provided under Clock is a Clock (layers are typed); isinstance would cost an ABC check.
    return cast("Clock", clock).now_ms()


_CURRENT_TIME: Effect[float] = SERVICES.map(_now)  # an effect is a description: one serves every call
