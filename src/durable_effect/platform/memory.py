"""In-memory storage for the instance core: what the in-memory runtimes of
rooms and tasks store each instance in, and their shared alarm loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping

from durable_effect.effect import TestClock
from durable_effect.platform.instance import ALARM_MAX_RETRIES, AlarmChange, alarm_backoff_ms

__all__ = ["START_MS", "MemoryStore", "fire_due_alarms"]

START_MS = 1_700_000_000_000.0
"""The test clock's start: a fixed, realistic epoch time."""


class MemoryStore:
    """Storage and alarm of one instance, in memory (a `StoreHost`)."""

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.storage: dict[str, str] = {}
        self.alarm: float | None = None
        self.retries = 0
        self.fail_commits = False  # make every commit raise (to test failed commits)

    async def load(self, key: str) -> str | None:
        return self.storage.get(key)

    async def commit(self, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None) -> None:
        if self.fail_commits:
            raise OSError("simulated commit failure")
        for key in deletes:
            self.storage.pop(key, None)
        self.storage.update(puts)
        if alarm is not None:
            self.alarm = alarm.at_ms

    async def delete_all(self) -> None:
        self.storage.clear()

    async def get_alarm(self) -> float | None:
        return self.alarm

    def now_ms(self) -> float:
        return self.clock.now_ms()


async def fire_due_alarms(
    clock: TestClock,
    target_ms: float,
    stores: Mapping[tuple[str, str], MemoryStore],
    fire: Callable[[tuple[str, str], int], Awaitable[bool]],
) -> int:
    """Move `clock` to `target_ms`, firing every alarm that comes due in time
    order (and waking every sleeper on the clock at its own deadline in
    between): `fire((name, id), retry_count)` runs it and says whether it
    succeeded. A failed alarm is retried with backoff (`alarm_backoff_ms`), at
    most `ALARM_MAX_RETRIES` times, as Cloudflare does. Gives the number of runs."""
    fired = 0
    while True:
        due = [
            (store.alarm, key) for key, store in stores.items() if store.alarm is not None and store.alarm <= target_ms
        ]
        if not due:
            break
        at, key = min(due)
        if await clock.wake_next(at):  # a sleeper came first: look at the alarms afresh
            continue
        store = stores[key]
        clock.set_time(at)
        # The alarm stays stored until its run commits (at-least-once).
        ok = await fire(key, store.retries)
        fired += 1
        if ok:
            store.retries = 0
        elif store.retries < ALARM_MAX_RETRIES:
            store.retries += 1
            store.alarm = clock.now_ms() + alarm_backoff_ms(store.retries)
        else:
            store.alarm = None
            store.retries = 0
    await clock.wake_until(target_ms)
    return fired
