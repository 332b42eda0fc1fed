"""The `Clock` service: `sleep`, `current_time_millis`, and `TestClock`."""

from __future__ import annotations

import time

import anyio
import pytest

from durable_effect.effect import (
    Clock,
    Effect,
    EffectGen,
    Layer,
    LiveClock,
    TestClock,
    current_time_millis,
    gen,
    provide,
    run_promise,
    run_sync,
    sleep,
    sync,
)


def with_clock(clock: TestClock, eff: Effect[object, object, Clock]) -> Effect[object, object]:
    return eff.pipe(provide(Layer.succeed(Clock, clock)))


def test_current_time_millis_follows_the_live_clock_by_default() -> None:
    before = time.time() * 1000
    now = run_sync(current_time_millis())
    after = time.time() * 1000

    assert before <= now <= after


def test_current_time_millis_reads_the_test_clock_in_scope() -> None:
    clock = TestClock(start_ms=5_000.0)
    eff = current_time_millis().pipe(provide(Layer.succeed(Clock, clock)))

    assert run_sync(eff) == 5_000.0
    clock.set_time(7_500.0)
    assert run_sync(eff) == 7_500.0


def test_test_clock_set_time_never_moves_backwards() -> None:
    clock = TestClock(start_ms=1_000.0)

    clock.set_time(500.0)

    assert clock.now_ms() == 1_000.0


def test_yield_from_clock_gives_the_clock_in_scope() -> None:
    clock = TestClock(start_ms=42.0)

    @gen
    def read() -> EffectGen[float, object, Clock]:
        c = yield from Clock
        return c.now_ms()

    assert run_sync(with_clock(clock, read())) == 42.0
    assert isinstance(run_sync(read().pipe(provide(Layer.succeed(Clock, LiveClock())))), float)


@pytest.mark.anyio
async def test_sleep_on_the_live_clock_waits_real_time() -> None:
    start = time.monotonic()

    await run_promise(sleep("20 millis"))

    assert time.monotonic() - start >= 0.015


@pytest.mark.anyio
async def test_sleep_on_a_test_clock_waits_until_time_is_adjusted() -> None:
    clock = TestClock()
    woke: list[float] = []

    @gen
    def sleeper() -> EffectGen[None]:
        yield from sleep("5 minutes")
        now = yield from current_time_millis()
        woke.append(now)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, with_clock(clock, sleeper()))
        await anyio.wait_all_tasks_blocked()

        await run_promise(clock.adjust("4 minutes"))
        assert woke == []
        assert await run_promise(with_clock(clock, current_time_millis())) == 240_000.0

        await run_promise(clock.adjust("1 minute"))
        assert woke == [300_000.0]


@pytest.mark.anyio
async def test_test_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = TestClock()
    order: list[str] = []

    def nap(name: str, duration: str) -> Effect[object, object]:
        return with_clock(clock, sleep(duration).flat_map(lambda _: sync(lambda: order.append(name))))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, nap("late", "3 seconds"))
        tg.start_soon(run_promise, nap("early", "1 second"))
        tg.start_soon(run_promise, nap("middle", "2 seconds"))
        await anyio.wait_all_tasks_blocked()

        await run_promise(clock.adjust("1 second"))
        assert order == ["early"]
        await run_promise(clock.adjust("10 seconds"))
        assert order == ["early", "middle", "late"]


@pytest.mark.anyio
async def test_a_zero_sleep_on_a_test_clock_does_not_wait_for_adjust() -> None:
    clock = TestClock()

    assert await run_promise(with_clock(clock, sleep(0).as_("went on"))) == "went on"


def test_sleep_rejects_a_bad_duration_when_built() -> None:
    with pytest.raises(ValueError):
        sleep("a while")


@pytest.mark.anyio
async def test_adjust_wakes_a_repeating_sleeper_at_each_of_its_deadlines() -> None:
    clock = TestClock()
    ticks: list[float] = []

    @gen
    def ticker() -> EffectGen[None]:
        while True:
            yield from sleep("1 second")
            now = yield from current_time_millis()
            ticks.append(now)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, with_clock(clock, ticker()))
        await anyio.wait_all_tasks_blocked()

        await run_promise(clock.adjust("3.5 seconds"))
        assert ticks == [1_000.0, 2_000.0, 3_000.0]
        assert clock.now_ms() == 3_500.0
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_next_wake_and_wake_until_move_through_each_deadline() -> None:
    clock = TestClock(10_000.0)
    ticks: list[float] = []
    assert clock.next_wake() is None

    @gen
    def ticker() -> EffectGen[None]:
        while True:
            yield from sleep("1 second")
            ticks.append((yield from current_time_millis()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, with_clock(clock, ticker()))
        await anyio.wait_all_tasks_blocked()
        assert clock.next_wake() == 11_000.0
        await clock.wake_until(12_500.0)  # what a runtime's advance does between its alarms
        assert ticks == [11_000.0, 12_000.0]
        assert clock.now_ms() == 12_500.0 and clock.next_wake() == 13_000.0
        assert not await clock.wake_next(12_999.0)  # no deadline by then: nothing moves
        assert clock.now_ms() == 12_500.0 and ticks == [11_000.0, 12_000.0]
        assert await clock.wake_next(20_000.0)  # only the earliest deadline
        assert clock.now_ms() == 13_000.0 and ticks == [11_000.0, 12_000.0, 13_000.0]
        tg.cancel_scope.cancel()
