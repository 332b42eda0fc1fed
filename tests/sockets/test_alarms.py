"""Alarms (one per instance, on the test clock) and purge."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import RoomExecutionError, SystemFailure
from durable_effect.sockets.engine import ALARM_MAX_RETRIES
from durable_effect.sockets.memory import START_MS

from .conftest import RuntimeFactory
from .rooms import ROOM, Do, Inc, Lab, LabState, Nope, Probe, Schedule, join, lab_config

pytestmark = pytest.mark.anyio


async def test_schedule_next_alarm_cancel_and_advance(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    assert rt.clock.now_ms() == START_MS == 1_700_000_000_000
    await run_promise(lab.send(ROOM, Inc(by=1)))

    # schedule_in is relative to the test clock; next_alarm is epoch ms.
    await run_promise(lab.send(ROOM, Schedule(in_ms=5_000)))
    assert probe.next_alarms == [START_MS + 5_000]

    assert await run_promise(rt.advance("4 seconds")) == 0
    assert probe.alarm_runs == []
    assert await run_promise(rt.advance("1 second")) == 1
    assert probe.alarm_runs == [None]
    assert probe.next_alarms[-1] is None  # the alarm is consumed before on_alarm runs
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=101)
    assert await run_promise(rt.advance("1 hour")) == 0  # it fired once

    # schedule_at takes epoch ms or a datetime; a later call replaces the alarm.
    now = rt.clock.now_ms()
    await run_promise(lab.send(ROOM, Schedule(at_ms=now + 10_000)))
    assert probe.next_alarms[-1] == now + 10_000
    at = datetime.fromtimestamp((now + 20_000) / 1_000, tz=UTC)
    await run_promise(lab.send(ROOM, Schedule(at_ms=at.timestamp() * 1_000)))
    assert probe.next_alarms[-1] == now + 20_000
    assert await run_promise(rt.advance("15 seconds")) == 0
    assert await run_promise(rt.advance("5 seconds")) == 1

    # cancel_schedule
    await run_promise(lab.send(ROOM, Schedule(in_ms=1_000)))
    await run_promise(lab.send(ROOM, Do(action="unschedule")))
    assert probe.next_alarms[-1] is None
    assert await run_promise(rt.advance("1 minute")) == 0
    assert len(probe.alarm_runs) == 2


async def test_alarms_of_instances_fire_in_time_order(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    for room_id, delay in [("late", 3_000), ("early", 1_000), ("middle", 2_000)]:
        await run_promise(lab.send(room_id, Inc(by=0)))
        await run_promise(lab.send(room_id, Schedule(in_ms=delay)))
    assert await run_promise(rt.advance("10 seconds")) == 3
    for room_id in ["late", "early", "middle"]:
        assert await run_promise(lab.get_state(room_id)) == LabState(count=100)
    assert rt.clock.now_ms() == START_MS + 10_000


async def test_failing_alarm_is_retried_with_system_failure(make_runtime: RuntimeFactory) -> None:
    probe = Probe(alarm_failures_left=2)
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Inc(by=1)))
    await run_promise(lab.send(ROOM, Schedule(in_ms=1_000)))

    assert await run_promise(rt.advance("1 second")) == 1  # fails
    assert probe.alarm_runs == [None]
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=1)

    # Retries back off (2 s, then 4 s) and see ctx.system_failure.
    assert await run_promise(rt.advance("1999 millis")) == 0
    assert await run_promise(rt.advance("1 millis")) == 1  # fails again
    assert await run_promise(rt.advance("4 seconds")) == 1  # succeeds
    first, second, third = probe.alarm_runs
    assert first is None
    assert isinstance(second, SystemFailure) and second.retry_count == 1
    assert isinstance(third, SystemFailure) and third.retry_count == 2
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=101)

    # After a success the failure is cleared: the next alarm runs clean.
    await run_promise(lab.send(ROOM, Schedule(in_ms=1_000)))
    assert await run_promise(rt.advance("1 second")) == 1
    assert probe.alarm_runs[-1] is None
    assert await run_promise(rt.advance("1 hour")) == 0


async def test_fire_alarm_directly(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Inc(by=1)))
    await run_promise(lab.fire_alarm(ROOM))
    assert probe.alarm_runs == [None]
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=101)

    # A direct fire_alarm surfaces the handler's failure to the caller.
    probe.alarm_failures_left = 1
    result = await run_promise(lab.fire_alarm(ROOM).either())
    err = result.failure()
    assert isinstance(err, RoomExecutionError) and err.cause == Nope("alarm failed")
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=101)


# -- 10. purge ---------------------------------------------------------------------------------


async def test_purge_deletes_storage_and_alarm_and_ends_the_handler(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe, on_error="record"))
    lab = rt.room(Lab)
    alice = await join(rt, "alice")
    await run_promise(alice.receive(Inc(by=5)))
    await run_promise(alice.receive(Schedule(in_ms=60_000)))

    await run_promise(alice.receive(Do(action="wipe")))
    assert "after-purge" not in probe.log  # the handler exited at purge
    assert "event:Do:alice:done" not in probe.log
    assert probe.errors == []  # PurgeSignal bypasses on_error
    assert await run_promise(lab.get_state(ROOM)) is None  # not even the save before purge
    assert await run_promise(rt.advance("2 minutes")) == 0  # the alarm is gone
    assert probe.alarm_runs == []

    # Sockets stay; the instance starts afresh.
    assert alice.is_open()
    await run_promise(alice.receive(Inc(by=2)))
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=2)
    await run_promise(alice.receive(Schedule(in_ms=1_000)))
    assert await run_promise(rt.advance("1 second")) == 1


async def test_purge_from_the_direct_api(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Inc(by=5)))
    await run_promise(lab.send(ROOM, Do(action="wipe")))  # not a failure for the caller
    assert await run_promise(lab.get_state(ROOM)) is None


async def test_alarm_retries_give_up_after_the_limit(make_runtime: RuntimeFactory) -> None:
    probe = Probe(alarm_failures_left=100)
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Inc(by=1)))
    await run_promise(lab.send(ROOM, Schedule(in_ms=1_000)))
    fired = await run_promise(rt.advance("1 day"))
    assert fired == 1 + ALARM_MAX_RETRIES == 7
    retries = [f.retry_count for f in probe.alarm_runs if f is not None]
    assert retries == [1, 2, 3, 4, 5, 6]
    assert await run_promise(rt.advance("1 day")) == 0
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=1)


async def test_advance_wakes_a_handler_that_sleeps_again_at_each_of_its_deadlines(make_runtime: RuntimeFactory) -> None:
    # A handler that waits on the clock (a retry's pause, a nap) more than once:
    # one advance past all its deadlines runs it to the end, each wait ending on time.
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Schedule(in_ms=4_500)))  # due after the naps (they hold the instance)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_promise, lab.send(ROOM, Do(action="nap")))
            await anyio.wait_all_tasks_blocked()
            assert await run_promise(rt.advance("5 seconds")) == 1
    naps = [entry for entry in probe.log if entry.startswith("nap:")]
    assert naps == [f"nap:{START_MS + 1_000 * n:.0f}" for n in (1, 2, 3)]
    assert probe.alarm_runs == [None]
    assert rt.clock.now_ms() == START_MS + 5_000
