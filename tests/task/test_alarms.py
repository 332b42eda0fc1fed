"""Alarms: one per instance, on the test clock; failed alarm runs are retried with `system_failure`."""

from __future__ import annotations

import pytest

from durable_effect.effect import catch_tag, run_promise, succeed
from durable_effect.platform.instance import ALARM_MAX_RETRIES
from durable_effect.platform.memory import START_MS
from durable_effect.task import SystemFailure, TaskExecutionError

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, Job, JobState, Oops, Probe, Schedule, job_config

pytestmark = pytest.mark.anyio


async def test_schedule_next_alarm_cancel_and_advance(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=1)))
    await run_promise(job.send(JOB, Schedule(in_ms=5_000)))
    assert probe.next_alarms == [START_MS + 5_000]

    assert await run_promise(rt.advance("4 seconds")) == 0
    assert await run_promise(rt.advance("1 second")) == 1
    assert probe.alarm_runs == [None]
    assert probe.next_alarms[-1] is None  # the alarm is consumed by the run that it starts
    assert await run_promise(job.get_state(JOB)) == JobState(count=101)
    assert await run_promise(rt.advance("1 hour")) == 0

    now = rt.clock.now_ms()
    await run_promise(job.send(JOB, Schedule(at_ms=now + 10_000)))
    await run_promise(job.send(JOB, Schedule(cancel=True)))
    assert probe.next_alarms[-1] is None
    assert await run_promise(rt.advance("1 minute")) == 0


async def test_tick_fires_what_is_due_now(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    await run_promise(rt.task(Job).send(JOB, Schedule(at_ms=rt.clock.now_ms())))
    assert await run_promise(rt.tick()) == 1
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=101)


async def test_a_failing_alarm_is_retried_with_system_failure(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe(alarm_failures_left=2)
    rt = make_runtime(job_config(probe))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=1)))
    await run_promise(job.send(JOB, Schedule(in_ms=1_000)))

    assert await run_promise(rt.advance("1 second")) == 1  # fails: its +100 is not stored
    assert await run_promise(job.get_state(JOB)) == JobState(count=1)
    assert await run_promise(rt.advance("2 seconds")) == 1  # retry 1 fails
    assert await run_promise(rt.advance("4 seconds")) == 1  # retry 2 succeeds
    assert [f.retry_count if f else None for f in probe.alarm_runs] == [None, 1, 2]
    assert all(isinstance(f, SystemFailure) for f in probe.alarm_runs[1:])
    assert await run_promise(job.get_state(JOB)) == JobState(count=101)
    assert await run_promise(rt.advance("1 hour")) == 0


async def test_an_alarm_that_always_fails_gives_up_after_the_retries(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe(alarm_failures_left=1_000)
    rt = make_runtime(job_config(probe))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    await run_promise(rt.task(Job).send(JOB, Schedule(in_ms=1_000)))
    fired = await run_promise(rt.advance("1 day"))
    assert fired == 1 + ALARM_MAX_RETRIES
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=1)


async def test_fire_alarm_runs_on_alarm_now_and_raises_its_failure(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe(alarm_failures_left=1)
    rt = make_runtime(job_config(probe))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=1)))
    err = await run_promise(job.fire_alarm(JOB).pipe(catch_tag(TaskExecutionError, succeed)))
    assert isinstance(err, TaskExecutionError) and isinstance(err.cause, Oops)
    await run_promise(job.fire_alarm(JOB))
    assert await run_promise(job.get_state(JOB)) == JobState(count=101)


async def test_an_injected_system_failure_reaches_the_next_run_only(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe))
    failure = SystemFailure("the host restarted", 0)
    rt.inject_system_failure(Job, JOB, failure)
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    assert probe.failures_seen == [failure, None]
